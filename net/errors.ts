// The errors the networking module throws for conditions callers catch. They all extend
// `NetError`, so `catch (e) { if (e instanceof NetError) ... }` handles every socket
// failure at once; the Deno error they come from is kept as `cause`. Misuse (a bad
// argument, two threads reading one connection at once) throws the built-in `TypeError`
// or `RangeError` instead.

/**
 * The base of every error the networking module throws for a network condition: catch it
 * to handle any socket failure at once. The Deno error it comes from, if any, is its
 * `cause`.
 *
 * @example Catching any socket error
 * ```ts
 * import { connect, Listener, NetError, run } from "@bluelet/bluelet";
 * import assert from "node:assert/strict";
 *
 * const listener = new Listener("127.0.0.1", 0);
 * const { port } = listener.addr as Deno.NetAddr;
 * listener.close(); // nothing listens on that port now
 *
 * const message = await run(function* () {
 *   try {
 *     yield* connect("127.0.0.1", port);
 *     return "connected";
 *   } catch (error) {
 *     if (error instanceof NetError) return error.message;
 *     throw error;
 *   }
 * }());
 * assert.equal(message, `Cannot connect to 127.0.0.1:${port}: connection refused`);
 * ```
 */
export class NetError extends Error {
  /**
   * Creates a {@linkcode NetError}.
   *
   * @param message What was attempted and why it failed.
   * @param options The standard error options (`cause`).
   */
  constructor(message = "Network operation failed", options?: ErrorOptions) {
    super(message, options);
    this.name = "NetError";
  }
}

/**
 * Thrown by any operation on a connection or listener that was closed, including an
 * operation that was waiting when another thread closed it (Bluelet's name).
 *
 * @example Receiving from a closed connection
 * ```ts
 * import { connect, Listener, run, SocketClosedError } from "@bluelet/bluelet";
 * import assert from "node:assert/strict";
 *
 * let caught: unknown;
 * await run(function* () {
 *   using listener = new Listener("127.0.0.1", 0);
 *   const conn = yield* connect("127.0.0.1", (listener.addr as Deno.NetAddr).port);
 *   conn.close();
 *   try {
 *     yield* conn.recv(1024);
 *   } catch (error) {
 *     caught = error;
 *   }
 * }());
 * assert.ok(caught instanceof SocketClosedError);
 * ```
 */
export class SocketClosedError extends NetError {
  /**
   * Creates a {@linkcode SocketClosedError}.
   *
   * @param message Which operation met the closed socket.
   * @param options The standard error options (`cause`).
   */
  constructor(message = "Socket is closed", options?: ErrorOptions) {
    super(message, options);
    this.name = "SocketClosedError";
  }
}

/**
 * Thrown when the peer reset the connection (it closed without reading what it was
 * sent, or crashed), or, over TLS, closed it without TLS's close_notify, so that what came
 * may have been cut short (many HTTPS servers end a response this way: where its length
 * is known, what came is whole). The `server` helper ends a handler that throws it quietly.
 *
 * @example Telling a reset from other failures
 * ```ts
 * import { connect, type Connection, ConnectionResetError, Listener, run } from "@bluelet/bluelet";
 * import assert from "node:assert/strict";
 *
 * function* handler(conn: Connection) {
 *   try {
 *     yield* conn.recv(1024);
 *     return "read";
 *   } catch (error) {
 *     if (!(error instanceof ConnectionResetError)) throw error;
 *     return "reset by the peer";
 *   }
 * }
 *
 * // A Unix socket: over TCP, a reset usually reads as the end of the stream.
 * const dir = await Deno.makeTempDir();
 * const path = `${dir}/reset.sock`;
 * const outcome = await run(function* () {
 *   using listener = new Listener("", 0, { transport: "unix", path });
 *   using client = yield* connect("", 0, { transport: "unix", path });
 *   using conn = yield* listener.accept();
 *   yield* conn.sendall("unread");
 *   client.close(); // with unread bytes: the peer is reset
 *   return yield* handler(conn);
 * }());
 * await Deno.remove(dir, { recursive: true });
 * assert.equal(outcome, "reset by the peer");
 * ```
 */
export class ConnectionResetError extends NetError {
  /**
   * Creates a {@linkcode ConnectionResetError}.
   *
   * @param message Which operation met the reset.
   * @param options The standard error options (`cause`).
   */
  constructor(
    message = "Connection reset by peer",
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "ConnectionResetError";
  }
}

/**
 * Thrown by a write to a connection whose peer is gone (it closed or reset the
 * connection). The `server` helper ends a handler that throws it quietly.
 *
 * @example Writing to a peer that left
 * ```ts
 * import { BrokenPipeError, connect, type Connection, Listener, run } from "@bluelet/bluelet";
 * import assert from "node:assert/strict";
 *
 * function* handler(conn: Connection) {
 *   try {
 *     yield* conn.sendall("bye\n");
 *     return "sent";
 *   } catch (error) {
 *     if (!(error instanceof BrokenPipeError)) throw error;
 *     return "the peer is gone";
 *   }
 * }
 *
 * const outcome = await run(function* () {
 *   using listener = new Listener("127.0.0.1", 0);
 *   using client = yield* connect("127.0.0.1", (listener.addr as Deno.NetAddr).port);
 *   using conn = yield* listener.accept();
 *   yield* conn.sendall("unread");
 *   client.close(); // with unread bytes: the peer is reset
 *   yield* conn.recv(16); // over TCP, the reset reads as the end of the stream
 *   return yield* handler(conn);
 * }());
 * assert.equal(outcome, "the peer is gone");
 * ```
 */
export class BrokenPipeError extends NetError {
  /**
   * Creates a {@linkcode BrokenPipeError}.
   *
   * @param message Which operation met the broken pipe.
   * @param options The standard error options (`cause`).
   */
  constructor(message = "Broken pipe", options?: ErrorOptions) {
    super(message, options);
    this.name = "BrokenPipeError";
  }
}

/**
 * Thrown when an established connection timed out: the peer stopped acknowledging what
 * was sent (or answering keepalive probes) and the system gave up on it. Unlike
 * {@linkcode ConnectTimeoutError}, it is not about `connect`. The `server` helper ends a
 * handler that throws it quietly, like a reset.
 *
 * @example Telling a dead peer from a bug
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConnectionTimedOutError, NetError } from "@bluelet/bluelet";
 *
 * const error = new ConnectionTimedOutError("Cannot recv from 192.0.2.1:80: connection timed out");
 * assert.ok(error instanceof NetError);
 * assert.equal(error.name, "ConnectionTimedOutError");
 * ```
 */
export class ConnectionTimedOutError extends NetError {
  /**
   * Creates a {@linkcode ConnectionTimedOutError}.
   *
   * @param message Which operation met the timeout.
   * @param options The standard error options (`cause`).
   */
  constructor(message = "Connection timed out", options?: ErrorOptions) {
    super(message, options);
    this.name = "ConnectionTimedOutError";
  }
}

/**
 * Thrown by `connect` when no connection could be made; its message names the host and
 * port. Subclasses tell a refusal and a timeout apart.
 *
 * @example Handling any connect failure
 * ```ts
 * import { connect, ConnectError, Listener, run } from "@bluelet/bluelet";
 * import assert from "node:assert/strict";
 *
 * const listener = new Listener("127.0.0.1", 0);
 * const { port } = listener.addr as Deno.NetAddr;
 * listener.close(); // nothing listens on that port now
 *
 * // Refused, timed out or not resolved: all of them are a ConnectError.
 * await assert.rejects(run(connect("127.0.0.1", port)), ConnectError);
 * ```
 */
export class ConnectError extends NetError {
  /**
   * Creates a {@linkcode ConnectError}.
   *
   * @param message The address and why the connect failed.
   * @param options The standard error options (`cause`).
   */
  constructor(message = "Cannot connect", options?: ErrorOptions) {
    super(message, options);
    this.name = "ConnectError";
  }
}

/**
 * Thrown by `connect` when nothing listens at the address.
 *
 * @example A refused connect
 * ```ts
 * import { connect, ConnectionRefusedError, Listener, run } from "@bluelet/bluelet";
 * import assert from "node:assert/strict";
 *
 * const listener = new Listener("127.0.0.1", 0);
 * const { port } = listener.addr as Deno.NetAddr;
 * listener.close(); // nothing listens on that port now
 *
 * let caught: unknown;
 * await run(function* () {
 *   try {
 *     yield* connect("127.0.0.1", port);
 *   } catch (error) {
 *     caught = error;
 *   }
 * }());
 * assert.ok(caught instanceof ConnectionRefusedError);
 * assert.equal(caught.message, `Cannot connect to 127.0.0.1:${port}: connection refused`);
 * ```
 */
export class ConnectionRefusedError extends ConnectError {
  /**
   * Creates a {@linkcode ConnectionRefusedError}.
   *
   * @param message The address that refused.
   * @param options The standard error options (`cause`).
   */
  constructor(message = "Connection refused", options?: ErrorOptions) {
    super(message, options);
    this.name = "ConnectionRefusedError";
  }
}

/**
 * Thrown by `connect` when the connection was not made within `options.timeout`
 * milliseconds (or the system gave up). The attempt has been cancelled by then.
 *
 * @example A connect with a time limit
 * ```ts
 * import { connect, ConnectTimeoutError, Listener, run } from "@bluelet/bluelet";
 * import assert from "node:assert/strict";
 *
 * // TCP connects to it, but no answer to the TLS handshake ever comes.
 * using silent = new Listener("127.0.0.1", 0);
 * const { port } = silent.addr as Deno.NetAddr;
 * await assert.rejects(
 *   run(connect("127.0.0.1", port, { tls: {}, timeout: 50 })),
 *   ConnectTimeoutError,
 * );
 * ```
 */
export class ConnectTimeoutError extends ConnectError {
  /**
   * Creates a {@linkcode ConnectTimeoutError}.
   *
   * @param message The address and the time limit.
   * @param options The standard error options (`cause`).
   */
  constructor(message = "Connect timed out", options?: ErrorOptions) {
    super(message, options);
    this.name = "ConnectTimeoutError";
  }
}

/**
 * Thrown by `new Listener` (and so by `server`) when the address is already in use.
 *
 * @example A port taken twice
 * ```ts
 * import { AddressInUseError, Listener } from "@bluelet/bluelet";
 * import assert from "node:assert/strict";
 *
 * using first = new Listener("127.0.0.1", 0);
 * const { port } = first.addr as Deno.NetAddr;
 * assert.throws(() => new Listener("127.0.0.1", port), AddressInUseError);
 * ```
 */
export class AddressInUseError extends NetError {
  /**
   * Creates an {@linkcode AddressInUseError}.
   *
   * @param message The address that is in use.
   * @param options The standard error options (`cause`).
   */
  constructor(message = "Address already in use", options?: ErrorOptions) {
    super(message, options);
    this.name = "AddressInUseError";
  }
}

/**
 * Thrown by `Connection.readline()` when no delimiter comes within `maxLength` bytes.
 * Nothing is consumed: the bytes received so far stay buffered, so a caller that catches
 * it can go on with `recv`.
 *
 * @example Reading on after an overlong line
 * ```ts
 * import { connect, type Connection, LineTooLongError, Listener, run } from "@bluelet/bluelet";
 * import assert from "node:assert/strict";
 *
 * function* firstLine(conn: Connection) {
 *   try {
 *     return yield* conn.readline("\n", { maxLength: 80 });
 *   } catch (error) {
 *     if (!(error instanceof LineTooLongError)) throw error;
 *     return yield* conn.recv(80); // the first 80 bytes of the long line
 *   }
 * }
 *
 * await run(function* () {
 *   using listener = new Listener("127.0.0.1", 0);
 *   using client = yield* connect("127.0.0.1", (listener.addr as Deno.NetAddr).port);
 *   using conn = yield* listener.accept();
 *   yield* client.sendall("x".repeat(100) + "\n");
 *   assert.equal((yield* firstLine(conn)).length, 80);
 * }());
 * ```
 */
export class LineTooLongError extends NetError {
  /**
   * Creates a {@linkcode LineTooLongError}.
   *
   * @param message The limit that was passed.
   * @param options The standard error options (`cause`).
   */
  constructor(message = "Line too long", options?: ErrorOptions) {
    super(message, options);
    this.name = "LineTooLongError";
  }
}

/**
 * Thrown by `Connection.recvExactly(n)` when the stream ends before `n` bytes came. The
 * bytes that did come stay buffered: `recv` gives them.
 *
 * @example A short message
 * ```ts
 * import { connect, type Connection, Listener, run, UnexpectedEofError } from "@bluelet/bluelet";
 * import assert from "node:assert/strict";
 *
 * function* header(conn: Connection) {
 *   try {
 *     return yield* conn.recvExactly(4);
 *   } catch (error) {
 *     if (!(error instanceof UnexpectedEofError)) throw error;
 *     return yield* conn.recv(4); // the fewer than 4 bytes that came
 *   }
 * }
 *
 * await run(function* () {
 *   using listener = new Listener("127.0.0.1", 0);
 *   using client = yield* connect("127.0.0.1", (listener.addr as Deno.NetAddr).port);
 *   using conn = yield* listener.accept();
 *   yield* client.sendall("ab");
 *   yield* client.closeWrite();
 *   assert.equal((yield* header(conn)).length, 2);
 * }());
 * ```
 */
export class UnexpectedEofError extends NetError {
  /**
   * Creates an {@linkcode UnexpectedEofError}.
   *
   * @param message How many bytes were expected and how many came.
   * @param options The standard error options (`cause`).
   */
  constructor(message = "Unexpected end of stream", options?: ErrorOptions) {
    super(message, options);
    this.name = "UnexpectedEofError";
  }
}
