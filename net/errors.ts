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
 * ```ts ignore
 * import { connect, NetError, run } from "@bluelet/bluelet";
 *
 * await run(function* () {
 *   try {
 *     yield* connect("127.0.0.1", 1);
 *   } catch (error) {
 *     if (error instanceof NetError) console.log(error.message);
 *     else throw error;
 *   }
 * }());
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
 * ```ts ignore
 * import { connect, run, SocketClosedError } from "@bluelet/bluelet";
 *
 * await run(function* () {
 *   const conn = yield* connect("127.0.0.1", 8000);
 *   conn.close();
 *   try {
 *     yield* conn.recv(1024);
 *   } catch (error) {
 *     console.log(error instanceof SocketClosedError); // true
 *   }
 * }());
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
 * sent, or crashed). The `server` helper ends a handler that throws it quietly.
 *
 * @example Telling a reset from other failures
 * ```ts ignore
 * import { type Connection, ConnectionResetError } from "@bluelet/bluelet";
 *
 * function* handler(conn: Connection) {
 *   try {
 *     yield* conn.recv(1024);
 *   } catch (error) {
 *     if (!(error instanceof ConnectionResetError)) throw error;
 *   }
 * }
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
 * ```ts ignore
 * import { BrokenPipeError, type Connection } from "@bluelet/bluelet";
 *
 * function* handler(conn: Connection) {
 *   try {
 *     yield* conn.sendall("bye\n");
 *   } catch (error) {
 *     if (!(error instanceof BrokenPipeError)) throw error;
 *   }
 * }
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
 * ```ts ignore
 * import { connect, ConnectError, run } from "@bluelet/bluelet";
 *
 * await run(function* () {
 *   try {
 *     yield* connect("localhost", 1);
 *   } catch (error) {
 *     if (error instanceof ConnectError) console.log(error.message);
 *   }
 * }());
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
 * ```ts ignore
 * import { connect, ConnectionRefusedError, run } from "@bluelet/bluelet";
 *
 * await run(function* () {
 *   try {
 *     yield* connect("127.0.0.1", 1);
 *   } catch (error) {
 *     // "Cannot connect to 127.0.0.1:1: connection refused"
 *     if (error instanceof ConnectionRefusedError) console.log(error.message);
 *   }
 * }());
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
 * ```ts ignore
 * import { connect, ConnectTimeoutError, run } from "@bluelet/bluelet";
 *
 * await run(function* () {
 *   try {
 *     yield* connect("192.0.2.1", 80, { timeout: 500 });
 *   } catch (error) {
 *     if (error instanceof ConnectTimeoutError) console.log(error.message);
 *   }
 * }());
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
 * ```ts ignore
 * import { AddressInUseError, Listener } from "@bluelet/bluelet";
 *
 * using first = new Listener("127.0.0.1", 0);
 * try {
 *   new Listener("127.0.0.1", first.addr.port);
 * } catch (error) {
 *   console.log(error instanceof AddressInUseError); // true
 * }
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
 * ```ts ignore
 * import { type Connection, LineTooLongError } from "@bluelet/bluelet";
 *
 * function* handler(conn: Connection) {
 *   try {
 *     yield* conn.readline("\n", { maxLength: 80 });
 *   } catch (error) {
 *     if (!(error instanceof LineTooLongError)) throw error;
 *     const start = yield* conn.recv(80); // the first 80 bytes of the long line
 *     console.log(start.length);
 *   }
 * }
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
 * ```ts ignore
 * import { type Connection, UnexpectedEofError } from "@bluelet/bluelet";
 *
 * function* handler(conn: Connection) {
 *   try {
 *     yield* conn.recvExactly(4);
 *   } catch (error) {
 *     if (!(error instanceof UnexpectedEofError)) throw error;
 *     const rest = yield* conn.recv(4); // the fewer than 4 bytes that came
 *     console.log(rest.length);
 *   }
 * }
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
