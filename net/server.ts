import { call, type Coroutine, shield, until } from "../scheduler/mod.ts";
import { checkServingOptions } from "./_checks.ts";
import { logError, serveOn } from "./_serve.ts";
import { whenFailed } from "./_when_failed.ts";
import type { Connection } from "./connection.ts";
import { acceptInFlight, Listener, type ListenerOptions } from "./listener.ts";
import type { MemoryListener } from "./memory_listener.ts";

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
   * accepting (new clients wait in the listen backlog). Whatever this says, all servers
   * of the process together also stay a margin below the file descriptor limit, where it
   * can be read (see {@linkcode server}).
   *
   * @default {Infinity}
   */
  maxConnections?: number;
  /**
   * Closes a connection that moved no byte, in or out, for this many milliseconds, and
   * kills its handler (its `finally` blocks run; I/O there throws `SocketClosedError`).
   * It is checked four times per period, so a connection goes between 1 and 1.25
   * periods after its last byte. The timer follows the run's clock.
   *
   * @default {Infinity}
   */
  idleTimeout?: number;
  /**
   * Aborting it shuts the server down gracefully: it stops accepting at once, waits up
   * to `gracePeriod` ms for the open handlers to end, then kills the rest at once (their
   * `finally` blocks run side by side), and the server returns. Handlers may watch the same signal to
   * wind down (say, not to keep a connection alive for another request). Already aborted,
   * the server returns at once: it does not listen, nor call `onListen` (a listener made
   * beforehand is closed).
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * How long a graceful shutdown (see `signal`) waits for handlers, in milliseconds;
   * `Infinity` waits for them however long they take.
   *
   * @default {10000}
   */
  gracePeriod?: number;
  /**
   * Receives what a handler threw, with its connection, and errors accepting
   * connections (with no connection). The client resetting the connection, a broken
   * pipe, a connection timed out by the system or a client that does not speak TLS to a TLS
   * server (or closes before its handshake is done, as health checks do) is not an error
   * here: that handler just ends. (The same on a connection the handler made itself, to a
   * backend, is: it is reported.)
   * Nor is a client that reset before it was accepted: it is skipped.
   *
   * @default {undefined} (logged to stderr with `console.error`)
   */
  onError?: (error: unknown, conn?: Connection) => void;
}

/**
 * A server: listens at `host`:`port`, accepts until it is killed or shut down, and runs
 * `handler(conn)` in a thread of its own per connection, closing the connection when the
 * handler ends.
 *
 * One connection never takes the server down: what a handler throws goes to
 * `options.onError` (by default logged to stderr), and a handler ended by a peer reset or
 * broken pipe ends quietly. Each handler runs in a scope (`spawn(op, { scope: true })`):
 * a thread it spawns with plain `spawn` (and any thread that one spawns) belongs to its
 * connection. An error escaping such a helper that nobody joins ends that handler (it is
 * killed where it waits; its `finally` blocks run). When the handler ends, its helpers
 * still running are killed and waited for, and their `finally` blocks run while the
 * connection is still open (a helper may say goodbye there); only then is the connection
 * closed. Whatever the handler and its helpers threw, their cleanup included, reaches
 * `onError` once, chained as `SuppressedError`s (newest outermost), never the server.
 * Work that must outlive its connection belongs to a thread started outside the handler,
 * fed through a `Channel`.
 *
 * A client that resets before it is accepted is skipped at once.
 * Accept errors about the process (say, out of memory) are reported in one line, and the
 * server retries after a pause that doubles from 5 ms up to one second.
 *
 * The server never accepts past the file descriptor limit: Deno aborts the whole process
 * when it runs out of descriptors, so all servers of a process together hold at most the
 * soft limit (read from `/proc/self/limits`) less the descriptors open at the first start
 * and a reserve of a tenth of the limit (at least 16). Past that, new clients wait in the
 * listen backlog. Connections made with `connect` count too (past the budget, it throws a
 * `ConnectError`). (Connections from a `MemoryListener` hold no descriptor and do not
 * count.) Deno 2.9.6 lets only a program run with `--allow-all` read `/proc/self`;
 * otherwise (or off Linux) the limit is unknown until an accept fails for want of
 * descriptors: the connections servers hold then, less the reserve, become the budget, and
 * the newest past it are closed. Setting `maxConnections` below `ulimit -n` spares them.
 *
 * Killing the server thread closes the listener and kills every handler at once (their
 * `finally` blocks run side by side) before the kill completes. Aborting
 * `options.signal` shuts it down gracefully instead (see {@linkcode ServerOptions}).
 *
 * @param host The address to listen on, e.g. `"127.0.0.1"` or `"::1"`.
 * @param port The port; 0 picks a free one (`options.onListen` tells which).
 * @param handler Makes the coroutine that serves one connection.
 * @param options Where and how to serve.
 * @returns A coroutine that serves until it is killed, or returns once shut down.
 * @throws {AddressInUseError} If the address is in use.
 * @throws {RangeError} If `options.maxConnections`, `options.idleTimeout` or
 * `options.gracePeriod` is out of range.
 * @throws {TypeError} If `handler` is not a function or is an async one, or an option is
 * not a number.
 *
 * @example An echo server, shut down gracefully
 * ```ts
 * import assert from "node:assert/strict";
 * import { connect, type Connection, type Coroutine, run, server, spawn, yieldNow } from "@bluelet/bluelet";
 *
 * function* echoer(conn: Connection): Coroutine<void> {
 *   while (true) {
 *     const data = yield conn.recv(1024);
 *     if (data.length === 0) break;
 *     yield conn.sendall(data);
 *   }
 * }
 *
 * const shutdown = new AbortController();
 * let port = 0;
 * await run(function* () {
 *   yield* spawn(server("127.0.0.1", 0, echoer, {
 *     onListen: (addr) => port = (addr as Deno.NetAddr).port,
 *     idleTimeout: 30_000,
 *     signal: shutdown.signal,
 *   }));
 *   yield* yieldNow(); // the server thread starts listening
 *   using conn = yield* connect("127.0.0.1", port);
 *   yield* conn.sendall("hello");
 *   assert.equal(new TextDecoder().decode(yield* conn.recvExactly(5)), "hello");
 *   shutdown.abort(); // the server stops accepting and waits for the echoer...
 *   yield* conn.closeWrite(); // ...which ends when this client is done
 *   assert.equal((yield* conn.recv(1)).length, 0);
 * }()); // the run ends once the server has returned
 * ```
 */
export function server(
  host: string,
  port: number,
  handler: (conn: Connection) => Coroutine<unknown>,
  options?: ServerOptions,
): Coroutine<void>;
/**
 * Serves on a listener made beforehand, as {@linkcode server} does on the one it makes:
 * most often a `MemoryListener` (from `@bluelet/bluelet/testing`), so that a server and
 * its clients run in one run, in virtual time under a `VirtualClock`. The server owns the
 * listener from then on, and closes it when it ends. The listener options in `options`
 * are ignored; `onListen` is called with the listener's address.
 *
 * @param listener Where connections come from: a `MemoryListener` or a {@linkcode Listener}.
 * @param handler Makes the coroutine that serves one connection.
 * @param options How to serve.
 * @returns A coroutine that serves until it is killed, or returns once shut down.
 * @throws {RangeError} If `options.maxConnections`, `options.idleTimeout` or
 * `options.gracePeriod` is out of range.
 * @throws {TypeError} If `handler` is not a function.
 *
 * @example A server and a client in memory, in virtual time
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Connection, kill, run, server, spawn, VirtualClock } from "@bluelet/bluelet";
 * import { MemoryListener } from "@bluelet/bluelet/testing";
 *
 * function* greeter(conn: Connection) {
 *   yield* conn.sendall("hello\n");
 * }
 *
 * const clock = new VirtualClock();
 * const listener = new MemoryListener({ latency: 10 });
 * await run(function* () {
 *   const serving = yield* spawn(server(listener, greeter));
 *   using conn = yield* listener.connect();
 *   assert.equal(new TextDecoder().decode(yield* conn.readline()), "hello\n");
 *   yield* kill(serving); // closes the listener
 * }(), { clock });
 * assert.equal(clock.now(), 10);
 * assert.equal(listener.closed, true);
 * ```
 */
export function server(
  listener: Listener | MemoryListener,
  handler: (conn: Connection) => Coroutine<unknown>,
  options?: ServerOptions,
): Coroutine<void>;
export function* server(
  where: string | Listener | MemoryListener,
  ...rest:
    | [number, (conn: Connection) => Coroutine<unknown>, ServerOptions?]
    | [(conn: Connection) => Coroutine<unknown>, ServerOptions?]
): Coroutine<void> {
  // The serving loop's `finally` yields (it kills the handlers), so it runs in a kernel
  // frame of its own: reached through a caller's `yield*`, a kill would be lost there.
  if (typeof where === "string") {
    const [port, handler, options = {}] = rest as [
      number,
      (conn: Connection) => Coroutine<unknown>,
      ServerOptions?,
    ];
    yield call(serveForever(() => new Listener(where, port, options), handler, options));
  } else {
    const [handler, options = {}] = rest as [
      (conn: Connection) => Coroutine<unknown>,
      ServerOptions?,
    ];
    yield call(serveForever(() => where, handler, options, true));
  }
}

const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
const AsyncGeneratorFunction = Object.getPrototypeOf(async function* () {}).constructor;

/** "an async function" or "an async generator function" if `fn` is one; null if not. */
function asyncFunctionKind(fn: unknown): string | null {
  try {
    if (fn instanceof AsyncFunction) return "an async function";
    if (fn instanceof AsyncGeneratorFunction) return "an async generator function";
  } catch {
    // A revoked Proxy: no async function, and calling it throws where it is called.
  }
  return null;
}

function* serveForever(
  listen: () => Listener | MemoryListener,
  handler: (conn: Connection) => Coroutine<unknown>,
  options: ServerOptions,
  madeBeforehand = false,
): Coroutine<void> {
  if (typeof handler !== "function") {
    throw new TypeError(
      `Cannot start server: the handler must be a function, got ${typeof handler}`,
    );
  }
  const asyncKind = asyncFunctionKind(handler);
  if (asyncKind !== null) {
    // Its promise would fail with nobody to catch it, and Deno ends the process then.
    throw new TypeError(
      `Cannot start server: the handler must be a generator function (function*), got ${asyncKind}`,
    );
  }
  checkServingOptions(options, "Cannot start server");
  const maxConnections = options.maxConnections ?? Infinity;
  const idleTimeout = options.idleTimeout ?? Infinity;
  const gracePeriod = options.gracePeriod ?? 10_000;
  // Shut down before it started: it never listens (one made beforehand is closed, as the
  // server would have at its end), and `onListen` is not called.
  if (options.signal?.aborted) {
    if (madeBeforehand) listen().close();
    return;
  }
  const listener = listen();
  try {
    // An async one that fails has failed too late to stop the start: it is logged.
    whenFailed(options.onListen?.(listener.addr), (failure) => {
      console.error("server: onListen threw", failure);
    });
  } catch (error) {
    listener.close();
    throw error;
  }
  try {
    yield* serveOn(listener, {
      handler,
      onError: options.onError ?? logError,
      maxConnections,
      idleTimeout,
      gracePeriod,
      signal: options.signal,
      descriptors: listener instanceof Listener,
    });
  } finally {
    // The listener is closed; its port is free once Deno's accept in flight has settled.
    const accepting = listener instanceof Listener ? acceptInFlight(listener) : null;
    if (accepting !== null) yield shield(until(accepting));
  }
}
