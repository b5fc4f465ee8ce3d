import {
  call,
  type Coroutine,
  type Effect,
  TimeoutError,
  useAbortSignal,
  withTimeout,
} from "../scheduler/mod.ts";
import { checkPort, formatHostPort } from "./_addr.ts";
import { awaitOwned } from "./_await_owned.ts";
import { mapConnectError, withAction } from "./_map_error.ts";
import { descriptorGuard } from "./_fd_guard.ts";
import { Connection, socketOf } from "./connection.ts";
import { ConnectError, ConnectTimeoutError } from "./errors.ts";

/** Options for {@linkcode connect}. */
export interface ConnectOptions {
  /**
   * The transport: TCP (IPv4 or IPv6, after `host`) or a Unix socket at `path`, in which
   * case `host` and `port` are ignored.
   *
   * @default {"tcp"}
   */
  transport?: "tcp" | "unix";
  /**
   * The Unix socket's file path; required with `transport: "unix"`.
   *
   * @default {undefined}
   */
  path?: string;
  /**
   * Speak TLS, trusting these CA certificates (PEM) besides the system's. The
   * certificate must be valid for `host`. TCP only.
   *
   * @default {undefined} (plain TCP)
   */
  tls?: { caCerts?: string[] };
  /**
   * Give up after this many milliseconds (the TLS handshake included) with a
   * {@linkcode ConnectTimeoutError}. The time is the run's clock: under a
   * `VirtualClock` it is virtual, and passes only while the clock may jump (so not while
   * the connect itself is pending, unless the clock autojumps).
   *
   * @default {undefined} (no limit of this module's own)
   */
  timeout?: number;
}

/**
 * Connects to `host`:`port` without blocking other threads (Bluelet's connect blocked the
 * whole process), and gives the {@linkcode Connection}. With TLS, the handshake is done
 * before it resumes, so a bad certificate fails here.
 *
 * Killing the connecting thread (or a timeout) cancels the attempt and closes what it
 * opened. One thing outlives it: a TLS socket cancelled mid-handshake. Deno 2.9.6 goes on
 * with that handshake on its own and keeps the socket open until the server answers it or
 * closes the connection; a server that never answers holds one descriptor of this process
 * per such attempt until then.
 *
 * @param host The host name or address, e.g. `"localhost"`, `"127.0.0.1"` or `"::1"`.
 * @param port The port, from 1 to 65535.
 * @param options The transport, TLS trust, and time limit.
 * @returns An event that resumes with the connection.
 * @throws {ConnectionRefusedError} If nothing listens there.
 * @throws {ConnectTimeoutError} If `options.timeout` passed first.
 * @throws {ConnectError} If connecting fails otherwise (name lookup, TLS handshake), or
 * if the process holds as many connections as its file descriptor limit allows (see
 * `server`'s descriptor guard).
 * @throws {RangeError} If `port` or `options.timeout` is out of range.
 * @throws {TypeError} If the options do not fit together.
 *
 * @example A client
 * ```ts
 * import { connect, Listener, run } from "@bluelet/bluelet";
 * import assert from "node:assert/strict";
 *
 * await run(function* () {
 *   using listener = new Listener("127.0.0.1", 0);
 *   const { port } = listener.addr as Deno.NetAddr;
 *   using conn = yield* connect("127.0.0.1", port, { timeout: 5_000 });
 *   using peer = yield* listener.accept();
 *   yield* conn.sendall("hello\n");
 *   yield* peer.sendall(yield* peer.readline()); // the peer echoes the line
 *   assert.equal(new TextDecoder().decode(yield* conn.readline()), "hello\n");
 * }());
 * ```
 */
export function* connect(
  host: string,
  port: number,
  options: ConnectOptions = {},
): Coroutine<Connection> {
  const transport = options.transport ?? "tcp";
  let where: string;
  if (transport === "unix") {
    if (typeof options.path !== "string" || options.path === "") {
      throw new TypeError(
        "Cannot connect to a Unix socket: options.path must be a non-empty string",
      );
    }
    where = options.path;
    if (options.tls !== undefined) {
      throw new TypeError(
        `Cannot connect to ${where}: TLS is only supported over TCP`,
      );
    }
  } else if (transport === "tcp") {
    where = formatHostPort(host, port);
    checkPort(port, `Cannot connect to ${where}`, 1);
  } else {
    throw new TypeError(
      `Cannot connect: unknown transport ${JSON.stringify(transport)}`,
    );
  }
  const timeout = options.timeout;
  if (
    timeout !== undefined && (!(timeout > 0) || !Number.isFinite(timeout))
  ) {
    throw new RangeError(
      `Cannot connect to ${where}: timeout must be a positive finite number of milliseconds, got ${timeout}`,
    );
  }

  // The time limit is a timer of the run (virtual under a VirtualClock), not a real
  // `setTimeout`: `withTimeout` kills the attempt, whose thread's abort signal cancels the
  // op, and waits until the attempt's `finally` has closed whatever it had opened.
  const attempt = attemptConnect(host, port, options, transport, where);
  if (timeout === undefined) return yield* attempt;
  try {
    return yield* withTimeout(timeout, attempt);
  } catch (error) {
    if (!(error instanceof TimeoutError)) throw error;
    throw new ConnectTimeoutError(
      `Cannot connect to ${where}: timed out after ${timeout} ms`,
      { cause: error },
    );
  }
}

/** The connect itself: cancelled (the op aborted, nothing left open) if its thread is killed. */
function* attemptConnect(
  host: string,
  port: number,
  options: ConnectOptions,
  transport: "tcp" | "unix",
  where: string,
): Coroutine<Connection> {
  // A connection holds a descriptor as one a server accepted does, so it counts against
  // the same budget (net/_fd_guard.ts): a proxy's upstream connects, say, must not take
  // the process past its limit, where Deno aborts it.
  const guard = descriptorGuard();
  if (guard.full) {
    throw new ConnectError(
      `Cannot connect to ${where}: this process holds ${guard.held} connections, as many as its descriptor limit allows`,
    );
  }
  guard.take();
  let counted = true;
  const threadSignal = yield* useAbortSignal();
  const controller = new AbortController();
  const signal = controller.signal;
  const onKill = (): void => controller.abort(threadSignal.reason);
  threadSignal.addEventListener("abort", onKill);
  let conn: Deno.Conn | undefined;
  // A connection in its TLS handshake is cancelled by closing it.
  const onAbort = (): void => {
    if (conn !== undefined) close(conn);
  };
  signal.addEventListener("abort", onAbort);
  try {
    if (transport === "unix") {
      // Unix connects cannot be cancelled, but they do not hang either.
      conn = yield* owned(
        Deno.connect({ transport: "unix", path: options.path! }),
      );
    } else {
      const tcp = yield* owned(Deno.connect({ hostname: host, port, signal }));
      conn = tcp;
      tcp.setNoDelay(true);
      if (options.tls !== undefined) {
        signal.throwIfAborted();
        const tls = yield* owned(
          // The name the certificate must carry: an IPv6 address without its brackets.
          Deno.startTls(tcp, { hostname: unbracketed(host), caCerts: options.tls.caCerts }),
        );
        conn = tls;
        signal.throwIfAborted();
        yield* call(awaitOwned(tls.handshake(), () => {}));
      }
    }
    signal.throwIfAborted();
    const connection = new Connection(conn);
    conn = undefined;
    socketOf(connection).whenReleased(() => guard.give());
    counted = false;
    return connection;
  } catch (error) {
    const action = `Cannot connect to ${where}`;
    throw withAction(mapConnectError(error, action), action);
  } finally {
    threadSignal.removeEventListener("abort", onKill);
    signal.removeEventListener("abort", onAbort);
    if (conn !== undefined) close(conn);
    if (counted) guard.give();
  }
}

/**
 * Waits for an op that gives a connection, in a kernel frame of its own: its `finally`
 * yields, which is only safe in a frame the kernel unwinds by itself (not through
 * `yield*`).
 */
function owned<T extends Deno.Conn>(promise: Promise<T>): Effect<T> {
  return call(awaitOwned(promise, close));
}

/** `host` without the brackets an IPv6 address may be written in: `[::1]` -> `::1`. */
function unbracketed(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

function close(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed: what we wanted.
  }
}
