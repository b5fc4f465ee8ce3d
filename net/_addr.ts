// How addresses appear in messages: `127.0.0.1:80`, `[::1]:80`, `/tmp/app.sock`.

/** Formats a host and port the way a URL would (brackets around IPv6). */
export function formatHostPort(host: string, port: number): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]:${port}` : `${host}:${port}`;
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

/** Checks a port argument. */
export function checkPort(port: number, action: string): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(
      `${action}: port must be an integer from 0 to 65535, got ${port}`,
    );
  }
}
