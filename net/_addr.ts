// How addresses appear in messages: `127.0.0.1:80`, `[::1]:80`, `/tmp/app.sock`.

/** Formats a host and port the way a URL would (brackets around IPv6). */
export function formatHostPort(host: string, port: number): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * A connection's address as a `Deno.NetAddr` or `Deno.UnixAddr`. Deno gives the addresses
 * of a TLS connection (`Deno.connectTls`, `Deno.startTls`) no `transport`; a TLS stream
 * runs over TCP, so that is what it gets.
 */
export function connAddr(addr: Deno.Addr): Deno.NetAddr | Deno.UnixAddr {
  if (addr.transport !== undefined) return addr as Deno.NetAddr | Deno.UnixAddr;
  const { hostname, port } = addr as Deno.NetAddr;
  return { transport: "tcp", hostname, port };
}

/** Formats a socket address for messages. */
export function formatAddr(addr: Deno.Addr): string {
  switch (addr.transport) {
    case "tcp":
    case "udp":
      return formatHostPort(addr.hostname, addr.port);
    case "unix":
    case "unixpacket":
      return addr.path ?? "(unnamed unix socket)";
    default:
      return addr.transport;
  }
}

/**
 * Checks a port argument. `lowest` is 0 where 0 asks the system for a free port (to
 * listen), 1 where a port names a peer (to connect).
 */
export function checkPort(port: number, action: string, lowest: 0 | 1 = 0): void {
  if (!Number.isInteger(port) || port < lowest || port > 65535) {
    throw new RangeError(
      `${action}: port must be an integer from ${lowest} to 65535, got ${port}`,
    );
  }
}
