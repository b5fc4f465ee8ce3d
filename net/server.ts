import { call, type Coroutine, kill, sleep, spawn, type Task } from "../scheduler/mod.ts";
import { formatAddr } from "./_addr.ts";
import type { Connection } from "./connection.ts";
import { BrokenPipeError, ConnectionResetError } from "./errors.ts";
import { Listener, type ListenerOptions } from "./listener.ts";

/** Options for {@linkcode server}: where to listen, plus how to serve. */
export interface ServerOptions extends ListenerOptions {
  /**
   * Called once the server listens, with the address (the real port when 0 was asked
   * for), as `Deno.serve` does.
   *
   * @default {undefined}
   */
  onListen?: (addr: Deno.NetAddr | Deno.UnixAddr) => void;
  /**
   * The most connections handled at once; while that many are open, the server stops
   * accepting (new clients wait in the listen backlog).
   *
   * @default {Infinity}
   */
  maxConnections?: number;
  /**
   * Receives what a handler threw, with its connection, and errors accepting
   * connections (with no connection). A peer resetting the connection or a broken pipe
   * is not an error here: that handler just ends.
   *
   * @default {undefined} (logged to stderr with `console.error`)
   */
  onError?: (error: unknown, conn?: Connection) => void;
}

/**
 * A server: listens at `host`:`port`, accepts forever, and runs `handler(conn)` in a
 * thread of its own per connection, closing the connection when the handler ends.
 *
 * One connection never takes the server down: what a handler throws goes to
 * `options.onError` (by default logged to stderr), and a handler ended by a peer reset or
 * broken pipe ends quietly. Killing the server thread closes the listener and kills every
 * handler (their `finally` blocks run, one handler after the other) before the kill
 * completes. Errors accepting a connection (say, too many open files) are reported too,
 * and the server retries after a pause of up to one second.
 *
 * @param host The address to listen on, e.g. `"127.0.0.1"` or `"::1"`.
 * @param port The port; 0 picks a free one (`options.onListen` tells which).
 * @param handler Makes the coroutine that serves one connection.
 * @param options Where and how to serve.
 * @returns A coroutine that serves until it is killed.
 * @throws {AddressInUseError} If the address is in use.
 * @throws {RangeError} If `options.maxConnections` is not a positive integer.
 * @throws {TypeError} If `handler` is not a function.
 *
 * @example An echo server
 * ```ts ignore
 * import { type Connection, type Coroutine, run, server } from "@bluelet/bluelet";
 *
 * function* echoer(conn: Connection): Coroutine<void> {
 *   while (true) {
 *     const data = yield conn.recv(1024);
 *     if (data.length === 0) break;
 *     yield conn.sendall(data);
 *   }
 * }
 *
 * await run(server("127.0.0.1", 0, echoer, {
 *   onListen: (addr) => console.log("listening on", addr),
 * }));
 * ```
 */
export function* server(
  host: string,
  port: number,
  handler: (conn: Connection) => Coroutine<unknown>,
  options: ServerOptions = {},
): Coroutine<void> {
  // The serving loop's `finally` yields (it kills the handlers), so it runs in a kernel
  // frame of its own: reached through a caller's `yield*`, a kill would be lost there.
  yield call(serveForever(host, port, handler, options));
}

function* serveForever(
  host: string,
  port: number,
  handler: (conn: Connection) => Coroutine<unknown>,
  options: ServerOptions,
): Coroutine<void> {
  if (typeof handler !== "function") {
    throw new TypeError(
      `Cannot start server: the handler must be a function, got ${typeof handler}`,
    );
  }
  const maxConnections = options.maxConnections ?? Infinity;
  if (
    !(maxConnections >= 1) ||
    (!Number.isInteger(maxConnections) && maxConnections !== Infinity)
  ) {
    throw new RangeError(
      `Cannot start server: maxConnections must be a positive integer, got ${maxConnections}`,
    );
  }
  const onError = options.onError ?? logError;
  const listener = new Listener(host, port, options);
  const serving: Serving = { live: new Map(), wake: null };
  try {
    options.onListen?.(listener.addr);
    let pause = 0;
    for (;;) {
      while (serving.live.size >= maxConnections) {
        const { promise, resolve } = Promise.withResolvers<void>();
        serving.wake = resolve;
        yield promise;
      }
      let conn: Connection;
      try {
        conn = yield* listener.accept();
        pause = 0;
      } catch (error) {
        if (listener.closed) throw error;
        report(onError, error, undefined);
        pause = Math.min(pause * 2 || 5, 1000);
        yield sleep(pause);
        continue;
      }
      // The handler's thread first runs once we wait again, so it is registered in time.
      serving.live.set(
        conn,
        yield* spawn(serve(conn, handler, onError, serving)),
      );
    }
  } finally {
    listener.close();
    serving.wake = null;
    for (const [conn, task] of [...serving.live]) {
      try {
        yield kill(task);
      } catch (error) {
        report(onError, error, conn); // a handler's finally block threw
      }
    }
  }
}

/** What the server and its handler threads share. */
interface Serving {
  /** The open connections and the threads serving them. */
  live: Map<Connection, Task<void>>;
  /** Wakes the server when it waits for a connection to end (`maxConnections`). */
  wake: (() => void) | null;
}

function* serve(
  conn: Connection,
  handler: (conn: Connection) => Coroutine<unknown>,
  onError: (error: unknown, conn?: Connection) => void,
  serving: Serving,
): Coroutine<void> {
  try {
    yield call(handler(conn));
  } catch (error) {
    // A peer that went away is the network's normal weather, not a handler bug.
    if (
      !(error instanceof ConnectionResetError ||
        error instanceof BrokenPipeError)
    ) {
      report(onError, error, conn);
    }
  } finally {
    conn.close();
    serving.live.delete(conn);
    const wake = serving.wake;
    serving.wake = null;
    wake?.();
  }
}

/** Calls `onError`; if that throws too, logs both rather than end the whole run. */
function report(
  onError: (error: unknown, conn?: Connection) => void,
  error: unknown,
  conn: Connection | undefined,
): void {
  try {
    onError(error, conn);
  } catch (failure) {
    console.error("server: onError threw", failure, "while reporting", error);
  }
}

function logError(error: unknown, conn?: Connection): void {
  if (conn === undefined) {
    console.error("server: accept failed:", error);
  } else {
    console.error(`server: handler for ${formatAddr(conn.addr)} failed:`, error);
  }
}
