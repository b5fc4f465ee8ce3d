import { type Coroutine, TimeoutError, withTimeout } from "../scheduler/mod.ts";
import { Primitive, SUSPEND } from "../scheduler/lowlevel.ts";
import { checkPort, formatAddr } from "./_addr.ts";
import { checkNumberOption, checkOptionsObject, named } from "./_checks.ts";
import { type EndSettings, MemoryEnd } from "./_memory_transport.ts";
import { closedError } from "./_map_error.ts";
import { ConnectionRefusedError, ConnectTimeoutError } from "./errors.ts";
import { memoryPort, memorySettings } from "./_memory_settings.ts";
import { type MemoryConnection, newMemoryConnection } from "./memory_connection.ts";
import type { MemoryPairOptions } from "./memory_connection.ts";

/** Options for {@linkcode MemoryListener}: its address, backlog, and its connections. */
export interface MemoryListenerOptions extends MemoryPairOptions {
  /**
   * The host name in the listener's address (and its connections' addresses).
   *
   * @default {"memory"}
   */
  hostname?: string;
  /**
   * The port in the listener's address; 0 picks one.
   *
   * @default {0}
   */
  port?: number;
  /**
   * How many connections wait to be accepted before `connect` waits too, as the listen
   * backlog of a real socket.
   *
   * @default {511}
   */
  backlog?: number;
}

/** Options for {@linkcode MemoryListener.connect}. */
export interface MemoryConnectOptions {
  /**
   * Give up after this many milliseconds of the run's clock (virtual under a
   * `VirtualClock`) with a `ConnectTimeoutError`, if the backlog stays full that long.
   *
   * @default {undefined} (no limit)
   */
  timeout?: number;
}

/**
 * A listener held in memory: {@linkcode MemoryListener.connect} makes a connection to it
 * from the same run, and {@linkcode MemoryListener.accept} takes it, as with a
 * `Listener` on loopback, but with no socket and no port used. `server` serves on it when
 * given it in place of a host and port, so a server and its clients run in one process, in
 * virtual time under a `VirtualClock`.
 *
 * The connections are {@linkcode MemoryConnection}s, made with the listener's
 * {@linkcode MemoryPairOptions}. Closing the listener refuses later connects, resets the
 * connections still waiting to be accepted, and makes a waiting `accept` throw
 * `SocketClosedError`; connections already accepted stay open.
 *
 * @example A client and a server thread in one run
 * ```ts
 * import assert from "node:assert/strict";
 * import { run, spawn } from "@bluelet/bluelet";
 * import { MemoryListener } from "@bluelet/bluelet/testing";
 *
 * using listener = new MemoryListener();
 * await run(function* () {
 *   yield* spawn(function* () {
 *     using conn = yield* listener.accept();
 *     yield* conn.sendall("hello\n");
 *   }());
 *   using client = yield* listener.connect();
 *   assert.equal(new TextDecoder().decode(yield* client.readline()), "hello\n");
 * }());
 * ```
 */
export class MemoryListener implements Disposable {
  /** The address listened on, as a TCP address (host `"memory"` unless told otherwise). */
  readonly addr: Deno.NetAddr;
  readonly #backlogLimit: number;
  readonly #settings: () => EndSettings;
  readonly #latency: number;
  /** Server ends that wait to be accepted. */
  readonly #backlog: MemoryConnection[] = [];
  /** Connects that wait for room in the backlog, in order. */
  readonly #connecting: Connecting[] = [];
  #acceptor: Accepting | null = null;
  #closed = false;
  /** The listener's state as the accept and connect events see it. */
  readonly #side: ListenerSide = {
    isClosed: () => this.#closed,
    where: "",
    backlog: this.#backlog,
    connecting: this.#connecting,
    getAcceptor: () => this.#acceptor,
    setAcceptor: (acceptor) => this.#acceptor = acceptor,
    room: () => this.#backlog.length < this.#backlogLimit,
    open: () => this.#open(),
  };

  /**
   * Listens in memory.
   *
   * @param options The address, the backlog, and how its connections behave.
   * @throws {RangeError} If an option is out of range.
   *
   * @example An address of one's choosing
   * ```ts
   * import assert from "node:assert/strict";
   * import { MemoryListener } from "@bluelet/bluelet/testing";
   *
   * using listener = new MemoryListener({ hostname: "db.test", port: 5432 });
   * assert.deepEqual(listener.addr, { transport: "tcp", hostname: "db.test", port: 5432 });
   * ```
   */
  constructor(options: MemoryListenerOptions = {}) {
    checkOptionsObject(options, "Cannot listen in memory");
    const hostname = options?.hostname ?? "memory";
    if (typeof hostname !== "string") {
      throw new TypeError(
        `Cannot listen in memory: hostname must be a string, got ${named(hostname)}`,
      );
    }
    if (hostname.length > 253) {
      throw new RangeError(
        `Cannot listen in memory: hostname must be at most 253 characters, got ${hostname.length}`,
      );
    }
    const port = options?.port ?? 0;
    checkNumberOption(port, `Cannot listen in memory on ${hostname}`, "port");
    const action = `Cannot listen in memory on ${hostname}:${port}`;
    checkPort(port, action);
    const backlog = options?.backlog ?? 511;
    checkNumberOption(backlog, action, "backlog");
    if (!Number.isInteger(backlog) || backlog < 1) {
      throw new RangeError(
        `${action}: backlog must be a positive integer, got ${backlog}`,
      );
    }
    const { settings, latency } = memorySettings(options, action);
    this.addr = { transport: "tcp", hostname, port: port === 0 ? memoryPort() : port };
    this.#backlogLimit = backlog;
    this.#settings = settings;
    this.#latency = latency;
    this.#side.where = formatAddr(this.addr);
  }

  /** Whether {@linkcode MemoryListener.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Waits for a connection, as {@linkcode Listener.accept} does.
   *
   * @returns An event that resumes with the server's end of the new connection.
   * @throws {SocketClosedError} If the listener is closed, or gets closed meanwhile.
   * @throws {TypeError} If another thread is already waiting in `accept`, even one that a
   * connect woke and that has not resumed with its connection yet.
   *
   * @example Accepting two clients in turn
   * ```ts
   * import assert from "node:assert/strict";
   * import { run } from "@bluelet/bluelet";
   * import { MemoryListener } from "@bluelet/bluelet/testing";
   *
   * using listener = new MemoryListener();
   * await run(function* () {
   *   using first = yield* listener.connect();
   *   using second = yield* listener.connect(); // both wait in the backlog
   *   using a = yield* listener.accept();
   *   using b = yield* listener.accept();
   *   assert.deepEqual(a.addr, first.localAddr);
   *   assert.deepEqual(b.addr, second.localAddr);
   * }());
   * ```
   */
  *accept(): Coroutine<MemoryConnection> {
    return yield new Accepting(this.#side);
  }

  /**
   * Connects to this listener from the same run, as {@linkcode connect} does over a
   * network: the connection waits in the backlog until accepted, and `connect` resumes at
   * once unless the backlog is full.
   *
   * @param options The time limit.
   * @returns An event that resumes with the client's end of the new connection.
   * @throws {ConnectionRefusedError} If the listener is closed.
   * @throws {ConnectTimeoutError} If `options.timeout` passed with the backlog full.
   * @throws {RangeError} If `options.timeout` is out of range.
   *
   * @example A connect that times out in virtual time
   * ```ts
   * import assert from "node:assert/strict";
   * import { ConnectTimeoutError, run, VirtualClock } from "@bluelet/bluelet";
   * import { MemoryListener } from "@bluelet/bluelet/testing";
   *
   * const clock = new VirtualClock();
   * using listener = new MemoryListener({ backlog: 1 }); // and nobody accepts
   * await run(function* () {
   *   using _first = yield* listener.connect(); // waits in the backlog
   *   try {
   *     yield* listener.connect({ timeout: 5_000 });
   *     assert.fail("expected a timeout");
   *   } catch (error) {
   *     assert.ok(error instanceof ConnectTimeoutError);
   *   }
   * }(), { clock });
   * assert.equal(clock.now(), 5_000);
   * ```
   */
  *connect(options: MemoryConnectOptions = {}): Coroutine<MemoryConnection> {
    const where = formatAddr(this.addr);
    const timeout = options.timeout;
    if (timeout === undefined) return yield new Connecting(this.#side, where);
    if (!(timeout > 0) || !Number.isFinite(timeout)) {
      throw new RangeError(
        `Cannot connect to ${where}: timeout must be a positive finite number of milliseconds, got ${timeout}`,
      );
    }
    try {
      return yield* withTimeout(timeout, new Connecting(this.#side, where));
    } catch (error) {
      if (!(error instanceof TimeoutError)) throw error;
      throw new ConnectTimeoutError(
        `Cannot connect to ${where}: timed out after ${timeout} ms`,
        { cause: error },
      );
    }
  }

  /**
   * Stops listening, as {@linkcode Listener.close} does. Closing again does nothing.
   *
   * @example Connecting to a closed listener
   * ```ts
   * import assert from "node:assert/strict";
   * import { ConnectionRefusedError, run } from "@bluelet/bluelet";
   * import { MemoryListener } from "@bluelet/bluelet/testing";
   *
   * const listener = new MemoryListener({ port: 80 });
   * listener.close();
   * await assert.rejects(run(listener.connect()), ConnectionRefusedError);
   * ```
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const acceptor = this.#acceptor;
    this.#acceptor = null;
    acceptor?.wake();
    for (const conn of this.#backlog.splice(0)) conn.reset();
    for (const connecting of this.#connecting.splice(0)) connecting.wake();
  }

  /**
   * Closes the listener, for `using`.
   *
   * @example Closing with `using`
   * ```ts
   * import assert from "node:assert/strict";
   * import { MemoryListener } from "@bluelet/bluelet/testing";
   *
   * let listener: MemoryListener;
   * {
   *   using scoped = new MemoryListener();
   *   listener = scoped;
   * } // closed here
   * assert.equal(listener.closed, true);
   * ```
   */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Makes a connection: the server's end goes into the backlog, the client's is given. */
  #open(): MemoryConnection {
    const [client, server] = MemoryEnd.pair(
      { transport: "tcp", hostname: this.addr.hostname, port: memoryPort() },
      this.addr,
      this.#settings(),
      this.#settings(),
    );
    this.#backlog.push(newMemoryConnection(server, this.#latency));
    // The waiting accept stays the listener's acceptor until it resumes and takes this
    // connection: another accept meanwhile is rejected, as on a `Listener`, rather than
    // taking it. If it is killed first, the connection stays for the next accept. (A
    // second wake of an accept already woken does nothing.)
    this.#acceptor?.wake();
    return newMemoryConnection(client, this.#latency);
  }
}

interface ListenerSide {
  isClosed(): boolean;
  where: string;
  readonly backlog: MemoryConnection[];
  readonly connecting: Connecting[];
  getAcceptor(): Accepting | null;
  setAcceptor(acceptor: Accepting | null): void;
  room(): boolean;
  open(): MemoryConnection;
}

/** `accept()`: takes the first connection of the backlog, or waits for one. */
class Accepting extends Primitive<MemoryConnection> {
  readonly description: string;
  readonly #side: ListenerSide;

  constructor(side: ListenerSide) {
    super();
    this.#side = side;
    this.description = `accept on ${side.where}`;
  }

  start(): typeof SUSPEND | null {
    const side = this.#side;
    if (side.isClosed()) throw closedError(`Cannot accept on ${side.where}`);
    if (side.getAcceptor() !== null) {
      throw new TypeError(
        `Cannot accept on ${side.where}: another thread is already accepting on this listener`,
      );
    }
    if (side.backlog.length > 0) return null;
    side.setAcceptor(this);
    return SUSPEND;
  }

  finish(): MemoryConnection {
    const side = this.#side;
    if (side.getAcceptor() === this) side.setAcceptor(null);
    if (side.isClosed()) throw closedError(`Cannot accept on ${side.where}`);
    // Not empty: it was when this accept began waiting, and the connection that woke it
    // was kept for it (no other accept could start while this one was the acceptor).
    const conn = side.backlog.shift()!;
    // Room in the backlog: the first waiting connect goes in.
    const next = side.connecting.shift();
    if (next !== undefined) next.admit(side.open());
    return conn;
  }

  cancel(): void {
    // Nothing was taken: a connection that came meanwhile, even the one that woke this
    // accept, waits in the backlog for the next accept.
    if (this.#side.getAcceptor() === this) this.#side.setAcceptor(null);
  }
}

/** `connect()`: puts a new connection into the backlog, or waits for room. */
class Connecting extends Primitive<MemoryConnection> {
  readonly description: string;
  readonly #side: ListenerSide;
  #conn: MemoryConnection | null = null;

  constructor(side: ListenerSide, where: string) {
    super();
    this.#side = side;
    this.description = `connect to ${where}`;
  }

  start(): typeof SUSPEND | null {
    const side = this.#side;
    this.#conn = null;
    this.#refuseIfClosed();
    if (side.connecting.length === 0 && side.room()) {
      this.#conn = side.open();
      return null;
    }
    side.connecting.push(this);
    return SUSPEND;
  }

  /** Called by an accept that made room: the connection is made, and this resumes. */
  admit(conn: MemoryConnection): void {
    this.#conn = conn;
    this.wake();
  }

  finish(): MemoryConnection {
    const conn = this.#conn;
    this.#conn = null;
    if (conn === null) this.#refuseIfClosed();
    return conn!;
  }

  cancel(): void {
    const waiting = this.#side.connecting;
    const at = waiting.indexOf(this);
    if (at >= 0) waiting.splice(at, 1);
    // Admitted, but killed before it resumed: the server's end reads the end of the stream.
    this.#conn?.close();
    this.#conn = null;
  }

  #refuseIfClosed(): void {
    const side = this.#side;
    if (side.isClosed()) {
      throw new ConnectionRefusedError(
        `Cannot connect to ${side.where}: connection refused`,
      );
    }
  }
}
