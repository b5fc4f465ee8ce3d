import type { Effect } from "../scheduler/mod.ts";
import { connAddr } from "./_addr.ts";
import { named } from "./_checks.ts";
import { ReadLine, Recv, RecvExactly } from "./_reads.ts";
import { Socket } from "./_socket.ts";
import { CloseWrite, Send } from "./_writes.ts";

/** Options for {@linkcode Connection.readline}. */
export interface ReadlineOptions {
  /**
   * The longest line accepted, in bytes, delimiter included. A longer line throws a
   * {@linkcode LineTooLongError} instead of being buffered without bound.
   *
   * @default {65536}
   */
  maxLength?: number;
}

const DEFAULT_MAX_LINE = 64 * 1024;

/** The state behind a connection, for the `server` helper's idle limit; not public. */
export let socketOf: (conn: Connection) => Socket;

/**
 * Checks that `value` is a {@linkcode Connection} (a `Deno.Conn` is not); `action` begins
 * the message, and `what` names the argument.
 */
export function checkConnection(
  value: unknown,
  action: string,
  what: string,
): asserts value is Connection {
  if (!(value instanceof Connection)) {
    throw new TypeError(`${action}: ${what} must be a Connection, got ${named(value)}`);
  }
}

/**
 * One end of a stream connection (TCP, TLS or Unix socket), with Bluelet's socket methods
 * as events: yield them (`const data = yield conn.recv(1024)`) or delegate to them for a
 * typed result (`const data = yield* conn.recv(1024)`). Get one from
 * {@linkcode Listener.accept} or {@linkcode connect}, or wrap a `Deno.Conn`.
 *
 * Reads and writes are independent: one thread may `recv` while another `sendall`s. Two
 * reads at once (or two writes at once) on one connection are a mistake and are rejected:
 * the second throws a `TypeError` at once, and the first goes on unharmed. Reads are
 * buffered per connection, so an operation that was killed or timed out loses no bytes:
 * whatever arrives is kept for the next read.
 *
 * The arrays reads give are never written to again, but they are views of where the bytes
 * landed: of a block of memory shared with the same connection's other results, as Node's
 * socket chunks and pooled `Buffer`s are. A fresh typed array costs most of a microsecond
 * in Deno, more than the rest of a `recv`, and a copy costs as much again. Use
 * `byteOffset` and `byteLength` along with `.buffer`, and `slice()` a result before
 * transferring its buffer (which would take the block, and the bytes buffered in it: the
 * next read then throws a `TypeError` that says how many), or to keep a few bytes of it
 * for long.
 *
 * Failures throw typed errors at the yield point: {@linkcode ConnectionResetError},
 * {@linkcode BrokenPipeError}, and {@linkcode SocketClosedError} for any operation on a
 * closed connection (including one that was waiting when another thread closed it).
 *
 * @example An echo handler
 * ```ts
 * import { connect, type Connection, type Coroutine, Listener, run } from "@bluelet/bluelet";
 * import assert from "node:assert/strict";
 *
 * function* echoer(conn: Connection): Coroutine<void> {
 *   while (true) {
 *     const data = yield conn.recv(1024);
 *     if (data.length === 0) break;
 *     yield conn.sendall(data);
 *   }
 * }
 *
 * await run(function* () {
 *   using listener = new Listener("127.0.0.1", 0);
 *   using client = yield* connect("127.0.0.1", (listener.addr as Deno.NetAddr).port);
 *   using conn = yield* listener.accept();
 *   yield* client.sendall("hello");
 *   yield* client.closeWrite();
 *   yield* echoer(conn); // until the end of the stream
 *   assert.equal(new TextDecoder().decode(yield* client.recvExactly(5)), "hello");
 * }());
 * ```
 */
export class Connection implements Disposable {
  /** The peer's address. */
  readonly addr: Deno.NetAddr | Deno.UnixAddr;
  /** This end's address. */
  readonly localAddr: Deno.NetAddr | Deno.UnixAddr;
  readonly #socket: Socket;

  /**
   * Wraps a Deno connection. Turns Nagle's algorithm off on TCP connections, since
   * coroutine code often writes a reply in more than one call. On TLS, where Deno 2.9.6
   * cannot turn it off, sends of up to 16 KiB are coalesced instead: such a send is done
   * at once, and its bytes go out in one write with those sent right after it, once the
   * thread waits for something (or at `closeWrite`/`close`); a write that fails is thrown
   * by the next send.
   *
   * @param conn The connection to own; {@linkcode Connection.close} closes it.
   *
   * @example Wrapping a connection made by Deno
   * ```ts
   * import { Connection } from "@bluelet/bluelet";
   * import assert from "node:assert/strict";
   *
   * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
   * const conn = new Connection(await Deno.connect({ port: listener.addr.port }));
   * using _peer = await listener.accept();
   * conn.close();
   * assert.equal(conn.closed, true);
   * ```
   */
  constructor(conn: Deno.Conn) {
    this.#socket = new Socket(conn);
    this.addr = this.#socket.addr;
    this.localAddr = connAddr(conn.localAddr); // a TLS connection's lacks its transport
    const tcp = conn as Partial<Deno.TcpConn>;
    if (typeof tcp.setNoDelay === "function") tcp.setNoDelay(true);
    else if ("handshake" in conn) this.#socket.coalesce = true; // TLS: see Socket.coalesce
  }

  /** Whether {@linkcode Connection.close} was called. */
  get closed(): boolean {
    return this.#socket.closed;
  }

  /**
   * Receives up to `bufsize` bytes: what is buffered, or else what the next packet brings.
   * Gives an empty array at the end of the stream (Bluelet's `b''`).
   *
   * @param bufsize The most bytes to give, a positive integer.
   * @returns An event that resumes with the bytes received (empty at end of stream).
   * @throws {RangeError} If `bufsize` is not a positive integer.
   * @throws {TypeError} If another read on this connection is in progress.
   * @throws {SocketClosedError} If the connection is closed.
   * @throws {ConnectionResetError} If the peer reset the connection.
   *
   * @example Reading until the end of the stream
   * ```ts
   * import { connect, type Connection, type Coroutine, Listener, run } from "@bluelet/bluelet";
   * import assert from "node:assert/strict";
   *
   * function* drain(conn: Connection): Coroutine<number> {
   *   let total = 0;
   *   while (true) {
   *     const data = yield* conn.recv(4096);
   *     if (data.length === 0) return total;
   *     total += data.length;
   *   }
   * }
   *
   * await run(function* () {
   *   using listener = new Listener("127.0.0.1", 0);
   *   using client = yield* connect("127.0.0.1", (listener.addr as Deno.NetAddr).port);
   *   using conn = yield* listener.accept();
   *   yield* client.sendall("hello, world");
   *   yield* client.closeWrite();
   *   assert.equal(yield* drain(conn), 12);
   * }());
   * ```
   */
  recv(bufsize: number): Effect<Uint8Array<ArrayBuffer>> {
    return new Recv(this.#socket, bufsize);
  }

  /**
   * Receives exactly `n` bytes, waiting for as many packets as that takes.
   *
   * @param n How many bytes to receive, a non-negative integer.
   * @returns An event that resumes with `n` bytes.
   * @throws {RangeError} If `n` is not a non-negative integer.
   * @throws {TypeError} If another read on this connection is in progress.
   * @throws {UnexpectedEofError} If the stream ends first; the bytes that came stay
   * buffered for `recv`.
   * @throws {SocketClosedError} If the connection is closed.
   * @throws {ConnectionResetError} If the peer reset the connection.
   *
   * @example Reading a length-prefixed message
   * ```ts
   * import { connect, type Connection, type Coroutine, Listener, run } from "@bluelet/bluelet";
   * import assert from "node:assert/strict";
   *
   * function* readMessage(conn: Connection): Coroutine<Uint8Array> {
   *   const header = yield* conn.recvExactly(4);
   *   const length = new DataView(header.buffer, header.byteOffset).getUint32(0);
   *   return yield* conn.recvExactly(length);
   * }
   *
   * await run(function* () {
   *   using listener = new Listener("127.0.0.1", 0);
   *   using client = yield* connect("127.0.0.1", (listener.addr as Deno.NetAddr).port);
   *   using conn = yield* listener.accept();
   *   yield* client.sendall(new Uint8Array([0, 0, 0, 2, 104, 105])); // length 2, then "hi"
   *   assert.equal(new TextDecoder().decode(yield* readMessage(conn)), "hi");
   * }());
   * ```
   */
  recvExactly(n: number): Effect<Uint8Array<ArrayBuffer>> {
    return new RecvExactly(this.#socket, n);
  }

  /**
   * Receives one line: the bytes up to and including the next `delim`. At the end of the
   * stream, gives the rest without a delimiter (empty once everything was read).
   *
   * @param delim The delimiter, a string (UTF-8) or bytes; not empty.
   * @param options How long a line may be.
   * @returns An event that resumes with the line, delimiter included.
   * @throws {TypeError} If `delim` is empty, or another read is in progress.
   * @throws {RangeError} If `options.maxLength` is not a positive integer.
   * @throws {LineTooLongError} If no delimiter comes within `options.maxLength` bytes;
   * nothing is consumed, so `recv` can read the long line.
   * @throws {SocketClosedError} If the connection is closed.
   * @throws {ConnectionResetError} If the peer reset the connection.
   *
   * @example A line-based protocol
   * ```ts
   * import { connect, type Connection, type Coroutine, Listener, run } from "@bluelet/bluelet";
   * import assert from "node:assert/strict";
   *
   * const decoder = new TextDecoder();
   * function* shout(conn: Connection): Coroutine<void> {
   *   while (true) {
   *     const line = yield* conn.readline("\r\n");
   *     if (line.length === 0) return;
   *     yield* conn.sendall(decoder.decode(line).toUpperCase());
   *   }
   * }
   *
   * await run(function* () {
   *   using listener = new Listener("127.0.0.1", 0);
   *   using client = yield* connect("127.0.0.1", (listener.addr as Deno.NetAddr).port);
   *   using conn = yield* listener.accept();
   *   yield* client.sendall("hi\r\nyo\r\n");
   *   yield* client.closeWrite();
   *   yield* shout(conn);
   *   assert.equal(decoder.decode(yield* client.recvExactly(8)), "HI\r\nYO\r\n");
   * }());
   * ```
   */
  readline(
    delim: string | Uint8Array = "\n",
    options: ReadlineOptions = {},
  ): Effect<Uint8Array<ArrayBuffer>> {
    return new ReadLine(this.#socket, delim, options.maxLength ?? DEFAULT_MAX_LINE);
  }

  /**
   * Sends `data` with one write and gives how many bytes went out, which may be fewer
   * than all (see {@linkcode Connection.sendall}).
   *
   * @param data Bytes, or a string to send as UTF-8.
   * @returns An event that resumes with the count of bytes written.
   * @throws {TypeError} If `data` is neither, or another write is in progress.
   * @throws {SocketClosedError} If the connection is closed.
   * @throws {BrokenPipeError} If the peer is gone.
   * @throws {ConnectionResetError} If the peer reset the connection.
   *
   * @example Sending what fits
   * ```ts
   * import { connect, type Connection, type Coroutine, Listener, run } from "@bluelet/bluelet";
   * import assert from "node:assert/strict";
   *
   * function* greet(conn: Connection): Coroutine<number> {
   *   return yield* conn.send("hello\n");
   * }
   *
   * await run(function* () {
   *   using listener = new Listener("127.0.0.1", 0);
   *   using client = yield* connect("127.0.0.1", (listener.addr as Deno.NetAddr).port);
   *   using conn = yield* listener.accept();
   *   assert.equal(yield* greet(conn), 6); // all of it, this time
   *   assert.equal(new TextDecoder().decode(yield* client.readline()), "hello\n");
   * }());
   * ```
   */
  send(data: Uint8Array | string): Effect<number> {
    return new Send<number>(this.#socket, data, false);
  }

  /**
   * Sends all of `data`, with as many writes as that takes (usually one).
   *
   * @param data Bytes, or a string to send as UTF-8.
   * @returns An event that resumes once everything was written.
   * @throws {TypeError} If `data` is neither, or another write is in progress.
   * @throws {SocketClosedError} If the connection is closed.
   * @throws {BrokenPipeError} If the peer is gone.
   * @throws {ConnectionResetError} If the peer reset the connection.
   *
   * @example Sending a reply
   * ```ts
   * import { connect, type Connection, type Coroutine, Listener, run } from "@bluelet/bluelet";
   * import assert from "node:assert/strict";
   *
   * function* reply(conn: Connection): Coroutine<void> {
   *   yield conn.sendall("HTTP/1.0 204 No Content\r\n\r\n");
   * }
   *
   * await run(function* () {
   *   using listener = new Listener("127.0.0.1", 0);
   *   using client = yield* connect("127.0.0.1", (listener.addr as Deno.NetAddr).port);
   *   using conn = yield* listener.accept();
   *   yield* reply(conn);
   *   const status = new TextDecoder().decode(yield* client.readline());
   *   assert.equal(status, "HTTP/1.0 204 No Content\r\n");
   * }());
   * ```
   */
  sendall(data: Uint8Array | string): Effect<void> {
    return new Send<void>(this.#socket, data, true);
  }

  /**
   * Shuts down the sending side: the peer reads the end of the stream, and can still
   * send. Doing it again does nothing.
   *
   * @returns An event that resumes once the shutdown is done.
   * @throws {TypeError} If a write is in progress.
   * @throws {SocketClosedError} If the connection is closed.
   *
   * @example Sending a request, then reading the whole response
   * ```ts
   * import { connect, Listener, run } from "@bluelet/bluelet";
   * import assert from "node:assert/strict";
   *
   * const decoder = new TextDecoder();
   * await run(function* () {
   *   using listener = new Listener("127.0.0.1", 0);
   *   using conn = yield* connect("127.0.0.1", (listener.addr as Deno.NetAddr).port);
   *   using peer = yield* listener.accept();
   *   yield* conn.sendall("request");
   *   yield* conn.closeWrite();
   *   assert.equal(decoder.decode(yield* peer.recv(1024)), "request");
   *   assert.equal((yield* peer.recv(1024)).length, 0); // the end of the stream
   *   yield* peer.sendall("response"); // the peer can still send
   *   assert.equal(decoder.decode(yield* conn.recv(1024)), "response");
   * }());
   * ```
   */
  closeWrite(): Effect<void> {
    return new CloseWrite(this.#socket);
  }

  /**
   * Closes the connection. Operations waiting on it throw {@linkcode SocketClosedError};
   * later ones too. Closing again does nothing.
   *
   * What completed sends handed the OS goes out as after any close. On TLS, small sends
   * still queued (see the constructor) are written as the connection closes; but behind
   * an earlier write that a peer not reading holds up, Deno cancels them with it, and
   * they are lost without an error. To know every byte went out, `closeWrite()` first:
   * it waits for them (within a time limit, if the peer may stall).
   *
   * @example Closing in a finally block
   * ```ts
   * import { connect, Listener, run } from "@bluelet/bluelet";
   * import assert from "node:assert/strict";
   *
   * await run(function* () {
   *   using listener = new Listener("127.0.0.1", 0);
   *   const conn = yield* connect("127.0.0.1", (listener.addr as Deno.NetAddr).port);
   *   try {
   *     yield* conn.sendall("ping\n");
   *   } finally {
   *     conn.close();
   *   }
   *   assert.equal(conn.closed, true);
   * }());
   * ```
   */
  close(): void {
    this.#socket.close();
  }

  /**
   * Closes the connection, for `using`.
   *
   * @example Closing with `using`
   * ```ts
   * import { connect, type Connection, Listener, run } from "@bluelet/bluelet";
   * import assert from "node:assert/strict";
   *
   * await run(function* () {
   *   using listener = new Listener("127.0.0.1", 0);
   *   let conn: Connection;
   *   {
   *     using scoped = yield* connect("127.0.0.1", (listener.addr as Deno.NetAddr).port);
   *     yield* scoped.sendall("ping\n");
   *     conn = scoped;
   *   } // closed here
   *   assert.equal(conn.closed, true);
   * }());
   * ```
   */
  [Symbol.dispose](): void {
    this.close();
  }

  static {
    socketOf = (conn) => conn.#socket;
  }
}
