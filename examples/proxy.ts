// deno run --allow-net examples/proxy.ts --port 4917 --upstream 127.0.0.1:4915 [--idle-timeout MS]
//   [--max-connections N]
//
// A TCP proxy: every client that connects gets a connection of its own to the upstream
// server, and `relay` copies bytes both ways until both sides are done. A client that
// half-closes (sends, then shuts down its sending side) is seen half-closed by the
// upstream server, and can still read the reply. If the upstream refuses, the client's
// connection is closed at once. A pair of connections that moves no byte either way for ten
// minutes (`--idle-timeout`) is closed, so idle clients cannot hold every place for good.
// Try it with `deno task echo` in another terminal, then
// `nc 127.0.0.1 4917`. `--port 0` picks a free port; the `listening on` line says which.
//
// A limit: if the upstream resets its connection mid-transfer, the proxy logs it when the
// system says so (Linux reads a reset that comes while the proxy sends that side nothing
// as a plain end), but the client sees a plain end of stream either way, as if the
// transfer were complete; a client's reset reaches the upstream the same way. Passing a reset on would take SO_LINGER, which
// `Deno.Conn` does not offer. Another: bytes count for the idle
// limit as the proxy moves them, on either leg. A peer reading slowly drains the OS's send
// buffer, and Linux takes more of a waiting write only once much of that buffer is free: an
// upstream reading 40 KB/s behind an upload saw no move for over 1.5 s here.
//
// Outside this repository, import from "jsr:@bluelet/bluelet" instead of "../mod.ts".
import * as bluelet from "../mod.ts";
import {
  idleTimeoutArg,
  numberArg,
  portArg,
  printListening,
  runCommand,
  textArg,
  UsageError,
} from "./_command.ts";

/** How long a client and its upstream may move no byte before both are closed. */
export const DEFAULT_IDLE_TIMEOUT = 10 * 60_000;

/**
 * Makes the handler that proxies one client to `host`:`port`.
 *
 * @param host The upstream host.
 * @param port The upstream port.
 * @param log Where log lines go.
 */
export function forwardTo(
  host: string,
  port: number,
  log: (line: string) => void = console.log,
): (client: bluelet.Connection) => bluelet.Coroutine<void> {
  return function* proxy(client) {
    let upstream: bluelet.Connection;
    try {
      upstream = yield* bluelet.connect(host, port, { timeout: 10_000 });
    } catch (error) {
      if (!(error instanceof bluelet.ConnectError)) throw error;
      log(error.message); // the server closes the client's connection
      return;
    }
    using _ = upstream;
    try {
      const { aToB, bToA } = yield* bluelet.relay(client, upstream);
      log(`${aToB} bytes up, ${bToA} bytes down`);
    } catch (error) {
      const cut = error instanceof bluelet.ConnectionResetError ||
        error instanceof bluelet.BrokenPipeError;
      if (!cut) throw error;
      log(error.message); // names the side that went away; the other just sees the end
    }
  };
}

/**
 * Runs the proxy until SIGINT or SIGTERM.
 *
 * @param args `--port N` (default 4917), `--upstream HOST:PORT` (default 127.0.0.1:4915),
 * `--idle-timeout MS` (default ten minutes), `--max-connections N` (default 400; each pair
 * holds two descriptors, so keep it under half of `ulimit -n`).
 */
export async function main(args: readonly string[]): Promise<void> {
  let port = 4917;
  let upstream = "127.0.0.1:4915";
  let idleTimeout = DEFAULT_IDLE_TIMEOUT;
  let maxConnections = 400;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--port") port = portArg(args[i], args[++i]);
    else if (args[i] === "--idle-timeout") idleTimeout = idleTimeoutArg(args[i], args[++i]);
    else if (args[i] === "--upstream") upstream = textArg(args[i], args[++i]);
    else if (args[i] === "--max-connections") maxConnections = numberArg(args[i], args[++i]);
    else throw new UsageError(`Unknown argument: ${args[i]}`);
  }
  const [, host, digits] = /^(.+):(\d+)$/.exec(upstream) ?? [];
  const upstreamPort = Number(digits);
  if (host === undefined || upstreamPort < 1 || upstreamPort > 65535) {
    throw new UsageError(`Cannot start the proxy: --upstream must be HOST:PORT, got "${upstream}"`);
  }
  if (!(Number.isInteger(maxConnections) && maxConnections > 0)) {
    throw new UsageError(
      `Cannot start the proxy: --max-connections must be a positive integer, got ${maxConnections}`,
    );
  }
  // Found at the first client, a missing permission would be a stack trace per client.
  const reach = await Deno.permissions.query({ name: "net", host: `${host}:${upstreamPort}` });
  if (reach.state !== "granted") {
    throw new Deno.errors.NotCapable(
      `Cannot start the proxy: no permission to connect to ${host}:${upstreamPort} (run it with --allow-net)`,
    );
  }
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    // A signal ends the run: the server is killed, and every open relay with it.
    await bluelet.run(
      bluelet.server("127.0.0.1", port, forwardTo(host, upstreamPort), {
        // Two sockets each: 400 is well below the usual `ulimit -n` of 1024. Deno aborts
        // when it runs out of descriptors, so a lower limit needs a lower value.
        maxConnections,
        idleTimeout, // bytes either way count: the server's connection carries both
        onListen: printListening,
      }),
      { signal: stop.signal },
    );
  } catch (error) {
    if (!stop.signal.aborted) throw error;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
}

if (import.meta.main) {
  await runCommand(
    main,
    "deno task proxy [--port N] [--upstream HOST:PORT] [--idle-timeout MS] [--max-connections N]",
  );
}
