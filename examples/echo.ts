// deno run --allow-net examples/echo.ts --port 4915 [--host 127.0.0.1] [--idle-timeout MS]
//
// Bluelet's echo server: `bluelet.server` accepts connections forever and runs one
// `echoer` coroutine per client, which sends back whatever it reads and logs connects and
// disconnects. Try it with `nc 127.0.0.1 4915`. `--port 0` picks a free port; the
// `listening on HOST:PORT` line says which. Ctrl-C (or SIGTERM) stops it gracefully: it
// accepts no more clients, gives those connected two seconds to leave, then ends the rest;
// every echoer's `finally` runs before "Exiting.". A client that sends nothing for five
// minutes (`--idle-timeout`) is let go, so idle connections cannot hold every place for
// good. `kill -USR2 <pid>` prints every live
// thread and what it waits on. (Not SIGUSR1: Deno answers that by opening its inspector,
// an unauthenticated debugger, on 127.0.0.1:9229.)
//
// Outside this repository, import from "jsr:@bluelet/bluelet" instead of "../mod.ts".
import * as bluelet from "../mod.ts";
import {
  address,
  idleTimeoutArg,
  portArg,
  printListening,
  runCommand,
  textArg,
  UsageError,
} from "./_command.ts";

/** Bluelet's port for its echo demo. */
export const DEFAULT_PORT = 4915;

/** How long a client may move no byte before the server lets it go: five minutes. */
export const DEFAULT_IDLE_TIMEOUT = 5 * 60_000;

/**
 * A client's bytes as a log can show them: JSON escapes C0 controls, and the rest that a
 * terminal acts on (DEL, C1 controls, bidi overrides, line separators) are escaped too.
 */
function preview(data: Uint8Array): string {
  const text = JSON.stringify(new TextDecoder().decode(data.subarray(0, 60))).replace(
    /[\u007f-\u009f\p{Cf}\u2028\u2029]/gu,
    (c) =>
      c.split("").map((unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, "0")}`).join(""),
  );
  return data.length > 60 ? `${text}... (${data.length} bytes)` : text;
}

/**
 * Echoes everything a client sends until it closes its side, logging as it goes.
 *
 * @param conn The client's connection.
 * @param log Where log lines go.
 */
export function* echoer(
  conn: bluelet.Connection,
  log: (line: string) => void = console.log,
): bluelet.Coroutine<void> {
  const peer = address(conn.addr);
  log(`Connected: ${peer}`);
  try {
    while (true) {
      const data = yield conn.recv(1024);
      if (data.length === 0) break;
      log(`Read from ${peer}: ${preview(data)}`);
      yield conn.sendall(data);
    }
  } finally {
    log(`Disconnected: ${peer}`);
    conn.close();
  }
}

/** Prints a snapshot of every live thread each time the process gets SIGUSR2. */
function* printThreadsOnSignal(): bluelet.Coroutine<void> {
  let wake = () => {};
  const onSignal = () => wake();
  Deno.addSignalListener("SIGUSR2", onSignal);
  try {
    while (true) {
      yield* bluelet.until(new Promise<void>((resolve) => wake = resolve));
      for (const thread of yield* bluelet.snapshot()) {
        console.log(thread.summary);
      }
    }
  } finally {
    Deno.removeSignalListener("SIGUSR2", onSignal);
  }
}

/** The echo server, and a thread that shows what the others are doing. */
function* serve(
  host: string,
  port: number,
  idleTimeout: number,
  stop: AbortSignal,
): bluelet.Coroutine<void> {
  const inspector = yield* bluelet.spawn(printThreadsOnSignal(), {
    name: "inspector",
  });
  try {
    yield* bluelet.server(host, port, echoer, {
      maxConnections: 800, // a socket each: below the usual `ulimit -n` of 1024
      idleTimeout,
      onListen: printListening,
      // A graceful stop: no new clients, two seconds for the connected ones to leave.
      signal: stop,
      gracePeriod: 2000,
    });
  } finally {
    yield* bluelet.kill(inspector);
  }
}

/**
 * Runs the echo server until SIGINT or SIGTERM.
 *
 * @param args `--port N` (default 4915), `--host H` (default 127.0.0.1) and
 * `--idle-timeout MS` (default five minutes).
 */
export async function main(args: readonly string[]): Promise<void> {
  let port = DEFAULT_PORT;
  let host = "127.0.0.1";
  let idleTimeout = DEFAULT_IDLE_TIMEOUT;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--port") port = portArg(args[i], args[++i]);
    else if (args[i] === "--host") host = textArg(args[i], args[++i]);
    else if (args[i] === "--idle-timeout") idleTimeout = idleTimeoutArg(args[i], args[++i]);
    else throw new UsageError(`Unknown argument: ${args[i]}`);
  }
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    await bluelet.run(serve(host, port, idleTimeout, stop.signal), { name: "main" });
  } catch (error) {
    if (!stop.signal.aborted) throw error;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
  // Only once it served: a server that could not start says why, and nothing else.
  console.log("Exiting.");
}

if (import.meta.main) {
  await runCommand(main, "deno task echo [--port N] [--host H] [--idle-timeout MS]");
}
