import type { Coroutine } from "../scheduler/mod.ts";
import { checkPort, formatAddr, formatHostPort } from "./_addr.ts";
import { failedForOneClient } from "./_accept_failure.ts";
import { closedError, mapError, withAction } from "./_map_error.ts";
import { Connection } from "./connection.ts";

/** Options for {@linkcode Listener} (and {@linkcode server}). */
export interface ListenerOptions {
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
   * Serve TLS with this certificate chain and private key (PEM). TCP only.
   *
   * @default {undefined} (plain TCP)
   */
  tls?: { cert: string; key: string };
  /**
   * Let several listeners (in several processes or Workers) listen on the same TCP port,
   * the system spreading connections among them (`SO_REUSEPORT`; Linux). Deno needs the
   * `--unstable-net` flag for it. TCP only, plain or TLS.
   *
   * @default {false}
   */
  reusePort?: boolean;
}

/**
 * The OS accept a listener has in flight, if any. Deno frees a closed listener's socket only
 * once that settles (in a later turn of the event loop), so `server` waits for it: a server
 * killed and started again at once on its port (a restart) finds the port free.
 */
export let acceptInFlight: (listener: Listener) => Promise<unknown> | null;

/**
 * A listening socket. It listens as soon as it is constructed (this is not an event);
 * {@linkcode Listener.accept} is the event that waits for a connection.
 *
 * Only one thread may wait in `accept` at a time; a second one throws a `TypeError`. An
 * accept whose thread was killed loses no connection: it goes to the next `accept`, or is
 * closed with the listener.
 *
 * @example Accepting one connection
 * ```ts
 * import { connect, Listener, run } from "@bluelet/bluelet";
 * import assert from "node:assert/strict";
 *
 * await run(function* () {
 *   using listener = new Listener("127.0.0.1", 0);
 *   using client = yield* connect("127.0.0.1", (listener.addr as Deno.NetAddr).port);
 *   using conn = yield* listener.accept();
 *   yield* conn.sendall("hello\n");
 *   assert.equal(new TextDecoder().decode(yield* client.readline()), "hello\n");
 * }());
 * ```
 */
export class Listener implements Disposable {
  /** The address listened on, with the real port when port 0 was asked for. */
  readonly addr: Deno.NetAddr | Deno.UnixAddr;
  readonly #listener: Deno.Listener;
  /** The OS accept in flight, if any. It belongs to the listener, not to a thread. */
  #accepting: Promise<unknown> | null = null;
  /** A connection accepted for a thread that was killed meanwhile. */
  #ready: Deno.Conn | null = null;
  #acceptor = false;
  #closed = false;

  /**
   * Listens at `host`:`port`.
   *
   * @param host The address to listen on, e.g. `"127.0.0.1"`, `"::1"` or `"0.0.0.0"`.
   * @param port The port; 0 picks a free one (see {@linkcode Listener.addr}).
   * @param options The transport, Unix socket path, or TLS certificate.
   * @throws {AddressInUseError} If the address is already in use.
   * @throws {RangeError} If `port` is not an integer from 0 to 65535.
   * @throws {TypeError} If the options do not fit together.
   * @throws {NetError} If listening fails otherwise.
   *
   * @example Listening on a free port
   * ```ts
   * import { Listener } from "@bluelet/bluelet";
   * import assert from "node:assert/strict";
   *
   * using listener = new Listener("127.0.0.1", 0);
   * const addr = listener.addr as Deno.NetAddr;
   * assert.equal(addr.hostname, "127.0.0.1");
   * assert.ok(addr.port > 0); // the port the system picked
   * ```
   */
  constructor(host: string, port: number, options: ListenerOptions = {}) {
    const transport = options.transport ?? "tcp";
    if (transport === "unix") {
      const path = options.path;
      if (typeof path !== "string" || path === "") {
        throw new TypeError(
          "Cannot listen on a Unix socket: options.path must be a non-empty string",
        );
      }
      if (options.tls !== undefined) {
        throw new TypeError(
          `Cannot listen on ${path}: TLS is only supported over TCP`,
        );
      }
      if (options.reusePort) {
        throw new TypeError(`Cannot listen on ${path}: reusePort is only supported over TCP`);
      }
      try {
        this.#listener = Deno.listen({ transport: "unix", path });
      } catch (error) {
        const action = `Cannot listen on ${path}`;
        throw withAction(mapError(error, action), action);
      }
    } else if (transport === "tcp") {
      const where = formatHostPort(host, port);
      checkPort(port, `Cannot listen on ${where}`);
      // Only where asked for: Deno refuses `reusePort` without --unstable-net.
      const tcp: Deno.TcpListenOptions = options.reusePort
        ? { hostname: host, port, reusePort: true }
        : { hostname: host, port };
      try {
        this.#listener = options.tls === undefined
          ? Deno.listen(tcp)
          : Deno.listenTls({ ...tcp, cert: options.tls.cert, key: options.tls.key });
      } catch (error) {
        throw mapError(error, `Cannot listen on ${where}`);
      }
    } else {
      throw new TypeError(
        `Cannot listen: unknown transport ${JSON.stringify(transport)}`,
      );
    }
    this.addr = this.#listener.addr as Deno.NetAddr | Deno.UnixAddr;
  }

  /** Whether {@linkcode Listener.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Waits for a connection. A client that failed while it waited to be accepted (it reset,
   * or its route went away: what Linux's accept(2) reports as that connection's own error)
   * is skipped, and the wait goes on for the next.
   *
   * @returns An event that resumes with the new {@linkcode Connection}.
   * @throws {SocketClosedError} If the listener is closed, or gets closed meanwhile.
   * @throws {TypeError} If another thread is already waiting in `accept`.
   * @throws {NetError} If accepting fails otherwise (say, too many open files).
   *
   * @example Serving connections one at a time
   * ```ts
   * import { connect, kill, Listener, run, spawn } from "@bluelet/bluelet";
   * import assert from "node:assert/strict";
   *
   * await run(function* () {
   *   using listener = new Listener("127.0.0.1", 0);
   *   const greeter = yield* spawn(function* () {
   *     while (true) {
   *       using conn = yield* listener.accept();
   *       yield* conn.sendall("hello\n");
   *     }
   *   }());
   *   for (let i = 0; i < 2; i++) {
   *     using client = yield* connect("127.0.0.1", (listener.addr as Deno.NetAddr).port);
   *     assert.equal(new TextDecoder().decode(yield* client.readline()), "hello\n");
   *   }
   *   yield* kill(greeter);
   * }());
   * ```
   */
  *accept(): Coroutine<Connection> {
    if (this.#closed) throw closedError(`Cannot accept on ${this.#where()}`);
    if (this.#acceptor) {
      throw new TypeError(
        `Cannot accept on ${this.#where()}: another thread is already accepting on this listener`,
      );
    }
    this.#acceptor = true;
    try {
      for (;;) {
        const ready = this.#ready;
        if (ready !== null) {
          this.#ready = null;
          return new Connection(ready);
        }
        const error = yield this.#accepting ?? this.#accept();
        // A client that failed while it waited in the backlog: the next one is taken.
        if (!this.#closed && failedForOneClient(error)) continue;
        if (this.#closed || error !== undefined) {
          throw mapError(
            error,
            `Cannot accept on ${this.#where()}`,
            this.#closed,
          );
        }
      }
    } finally {
      this.#acceptor = false;
    }
  }

  /**
   * Stops listening. A thread waiting in `accept` throws {@linkcode SocketClosedError}.
   * Connections already accepted stay open. Closing again does nothing. With an accept in
   * flight, Deno frees the port once that has settled, in a later turn of the event loop:
   * listening on it again at once can fail with {@linkcode AddressInUseError}. (A `server`
   * waits for that before it ends.)
   *
   * @example Closing a listener
   * ```ts
   * import { Listener, run, SocketClosedError } from "@bluelet/bluelet";
   * import assert from "node:assert/strict";
   *
   * const listener = new Listener("127.0.0.1", 0);
   * listener.close();
   * assert.equal(listener.closed, true);
   * await assert.rejects(run(listener.accept()), SocketClosedError);
   * ```
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#listener.close();
    } catch (error) {
      if (!(error instanceof Deno.errors.BadResource)) throw error;
    }
    this.#ready?.close();
    this.#ready = null;
  }

  /**
   * Closes the listener, for `using`.
   *
   * @example Closing with `using`
   * ```ts
   * import { Listener } from "@bluelet/bluelet";
   * import assert from "node:assert/strict";
   *
   * let listener: Listener;
   * {
   *   using scoped = new Listener("127.0.0.1", 0);
   *   listener = scoped;
   * } // closed here
   * assert.equal(listener.closed, true);
   * ```
   */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Starts an OS accept; the promise gives an error or `undefined`. */
  #accept(): Promise<unknown> {
    const accepting = this.#listener.accept().then(
      (conn) => {
        this.#accepting = null;
        if (this.#closed) conn.close();
        else this.#ready = conn;
        return undefined;
      },
      (error) => {
        this.#accepting = null;
        return error;
      },
    );
    this.#accepting = accepting;
    return accepting;
  }

  #where(): string {
    return formatAddr(this.addr);
  }

  static {
    acceptInFlight = (listener) => listener.#accepting;
  }
}
