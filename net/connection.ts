import type { Coroutine } from "../scheduler/mod.ts";
import { formatAddr } from "./_addr.ts";
import { closedError, mapError } from "./_map_error.ts";
import { ReadBuffer } from "./_read_buffer.ts";
import { LineTooLongError, UnexpectedEofError } from "./errors.ts";

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
const encoder = new TextEncoder();
const NEWLINE = encoder.encode("\n");

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
 * Failures throw typed errors at the yield point: {@linkcode ConnectionResetError},
 * {@linkcode BrokenPipeError}, and {@linkcode SocketClosedError} for any operation on a
 * closed connection (including one that was waiting when another thread closed it).
 *
 * @example An echo handler
 * ```ts
 * import type { Connection, Coroutine } from "@bluelet/bluelet";
 *
 * function* echoer(conn: Connection): Coroutine<void> {
 *   while (true) {
 *     const data = yield conn.recv(1024);
 *     if (data.length === 0) break;
 *     yield conn.sendall(data);
 *   }
 * }
 * ```
 */
export class Connection implements Disposable {
  /** The peer's address. */
  readonly addr: Deno.NetAddr | Deno.UnixAddr;
  /** This end's address. */
  readonly localAddr: Deno.NetAddr | Deno.UnixAddr;
  readonly #conn: Deno.Conn;
  readonly #buffer = new ReadBuffer();
  /** The OS read the current reader waits on. */
  #inflight: Promise<number | null> | null = null;
  /**
   * An OS read whose reader was killed while it was in flight: it still lands in the
   * buffer, and the next reader waits for it instead of reading, so no byte is lost.
   */
  #orphan: Promise<unknown> | null = null;
  #eof = false;
  /** The read (or write) operation in progress, to reject overlapping ones. */
  #reader: string | null = null;
  #writer: string | null = null;
  #writeClosed = false;
  #closed = false;

  /**
   * Wraps a Deno connection. Turns Nagle's algorithm off on TCP connections, since
   * coroutine code often writes a reply in more than one call.
   *
   * @param conn The connection to own; {@linkcode Connection.close} closes it.
   *
   * @example Wrapping a connection made by Deno
   * ```ts ignore
   * import { Connection } from "@bluelet/bluelet";
   *
   * const conn = new Connection(await Deno.connect({ port: 8000 }));
   * conn.close();
   * ```
   */
  constructor(conn: Deno.Conn) {
    this.#conn = conn;
    this.addr = conn.remoteAddr as Deno.NetAddr | Deno.UnixAddr;
    this.localAddr = conn.localAddr as Deno.NetAddr | Deno.UnixAddr;
    const tcp = conn as Partial<Deno.TcpConn>;
    if (typeof tcp.setNoDelay === "function") tcp.setNoDelay(true);
  }

  /** Whether {@linkcode Connection.close} was called. */
  get closed(): boolean {
    return this.#closed;
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
   * ```ts ignore
   * import type { Connection, Coroutine } from "@bluelet/bluelet";
   *
   * function* drain(conn: Connection): Coroutine<number> {
   *   let total = 0;
   *   while (true) {
   *     const data = yield* conn.recv(4096);
   *     if (data.length === 0) return total;
   *     total += data.length;
   *   }
   * }
   * ```
   */
  *recv(bufsize: number): Coroutine<Uint8Array> {
    if (!Number.isInteger(bufsize) || bufsize < 1) {
      throw new RangeError(
        `Cannot recv from ${this.#peer()}: bufsize must be a positive integer, got ${bufsize}`,
      );
    }
    this.#startRead("recv from");
    try {
      const buffer = this.#buffer;
      while (buffer.size === 0) {
        if (this.#eof) return new Uint8Array(0);
        let result: unknown;
        try {
          result = yield this.#orphan ?? this.#read();
        } catch (error) {
          this.#inflight = null;
          throw this.#mapError(error, "recv from");
        }
        this.#landed(result, "recv from");
      }
      return buffer.take(bufsize);
    } finally {
      if (this.#inflight !== null) this.#orphanRead();
      this.#reader = null;
    }
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
   * ```ts ignore
   * import type { Connection, Coroutine } from "@bluelet/bluelet";
   *
   * function* readMessage(conn: Connection): Coroutine<Uint8Array> {
   *   const header = yield* conn.recvExactly(4);
   *   const length = new DataView(header.buffer, header.byteOffset).getUint32(0);
   *   return yield* conn.recvExactly(length);
   * }
   * ```
   */
  *recvExactly(n: number): Coroutine<Uint8Array> {
    if (!Number.isInteger(n) || n < 0) {
      throw new RangeError(
        `Cannot receive exactly ${n} bytes from ${this.#peer()}: the count must be a non-negative integer`,
      );
    }
    this.#startRead("recv from");
    try {
      const buffer = this.#buffer;
      while (buffer.size < n) {
        if (this.#eof) {
          throw new UnexpectedEofError(
            `Cannot receive exactly ${n} bytes from ${this.#peer()}: the stream ended after ${buffer.size}`,
          );
        }
        let result: unknown;
        try {
          result = yield this.#orphan ?? this.#read();
        } catch (error) {
          this.#inflight = null;
          throw this.#mapError(error, "recv from");
        }
        this.#landed(result, "recv from");
      }
      return buffer.take(n);
    } finally {
      if (this.#inflight !== null) this.#orphanRead();
      this.#reader = null;
    }
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
   * ```ts ignore
   * import type { Connection, Coroutine } from "@bluelet/bluelet";
   *
   * const decoder = new TextDecoder();
   * function* shout(conn: Connection): Coroutine<void> {
   *   while (true) {
   *     const line = yield* conn.readline("\r\n");
   *     if (line.length === 0) return;
   *     yield* conn.sendall(decoder.decode(line).toUpperCase());
   *   }
   * }
   * ```
   */
  *readline(
    delim: string | Uint8Array = "\n",
    options: ReadlineOptions = {},
  ): Coroutine<Uint8Array> {
    const bytes = delim === "\n"
      ? NEWLINE
      : typeof delim === "string"
      ? encoder.encode(delim)
      : delim;
    if (!(bytes instanceof Uint8Array) || bytes.length === 0) {
      throw new TypeError(
        `Cannot read line from ${this.#peer()}: the delimiter must be a non-empty string or Uint8Array`,
      );
    }
    const maxLength = options.maxLength ?? DEFAULT_MAX_LINE;
    if (!Number.isInteger(maxLength) || maxLength < 1) {
      throw new RangeError(
        `Cannot read line from ${this.#peer()}: maxLength must be a positive integer, got ${maxLength}`,
      );
    }
    this.#startRead("read line from");
    try {
      const buffer = this.#buffer;
      let from = 0;
      for (;;) {
        const at = buffer.indexOf(bytes, from);
        // Without a delimiter the line is at least what is buffered (exactly that at the
        // end of the stream): a line of exactly maxLength bytes is still accepted.
        const length = at >= 0 ? at + bytes.length : buffer.size;
        if (length > maxLength) {
          throw new LineTooLongError(
            `Cannot read line from ${this.#peer()}: no delimiter within ${maxLength} bytes`,
          );
        }
        if (at >= 0) return buffer.take(length);
        if (this.#eof) return buffer.take(buffer.size);
        from = Math.max(0, buffer.size - bytes.length + 1);
        let result: unknown;
        try {
          result = yield this.#orphan ?? this.#read();
        } catch (error) {
          this.#inflight = null;
          throw this.#mapError(error, "read line from");
        }
        this.#landed(result, "read line from");
      }
    } finally {
      if (this.#inflight !== null) this.#orphanRead();
      this.#reader = null;
    }
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
   * ```ts ignore
   * import type { Connection, Coroutine } from "@bluelet/bluelet";
   *
   * function* greet(conn: Connection): Coroutine<number> {
   *   return yield* conn.send("hello\n");
   * }
   * ```
   */
  *send(data: Uint8Array | string): Coroutine<number> {
    const bytes = this.#toBytes(data, "send to");
    this.#startWrite("send to");
    try {
      return (yield this.#conn.write(bytes)) as number;
    } catch (error) {
      throw this.#mapError(error, "send to");
    } finally {
      this.#writer = null;
    }
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
   * ```ts ignore
   * import type { Connection, Coroutine } from "@bluelet/bluelet";
   *
   * function* reply(conn: Connection): Coroutine<void> {
   *   yield conn.sendall("HTTP/1.0 204 No Content\r\n\r\n");
   * }
   * ```
   */
  *sendall(data: Uint8Array | string): Coroutine<void> {
    const bytes = this.#toBytes(data, "send to");
    this.#startWrite("send to");
    try {
      const conn = this.#conn;
      let sent = 0;
      while (sent < bytes.length) {
        sent += (yield conn.write(
          sent === 0 ? bytes : bytes.subarray(sent),
        )) as number;
      }
    } catch (error) {
      throw this.#mapError(error, "send to");
    } finally {
      this.#writer = null;
    }
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
   * ```ts ignore
   * import { connect, run } from "@bluelet/bluelet";
   *
   * await run(function* () {
   *   using conn = yield* connect("127.0.0.1", 8000);
   *   yield* conn.sendall("request");
   *   yield* conn.closeWrite();
   *   console.log(yield* conn.recv(1024));
   * }());
   * ```
   */
  *closeWrite(): Coroutine<void> {
    this.#startWrite("shut down writing to");
    try {
      if (!this.#writeClosed) {
        this.#writeClosed = true;
        yield this.#conn.closeWrite();
      }
    } catch (error) {
      throw this.#mapError(error, "shut down writing to");
    } finally {
      this.#writer = null;
    }
  }

  /**
   * Closes the connection. Operations waiting on it throw {@linkcode SocketClosedError};
   * later ones too. Closing again does nothing.
   *
   * @example Closing in a finally block
   * ```ts ignore
   * import { connect, run } from "@bluelet/bluelet";
   *
   * await run(function* () {
   *   const conn = yield* connect("127.0.0.1", 8000);
   *   try {
   *     yield* conn.sendall("ping\n");
   *   } finally {
   *     conn.close();
   *   }
   * }());
   * ```
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch (error) {
      if (!(error instanceof Deno.errors.BadResource)) throw error;
    }
  }

  /**
   * Closes the connection, for `using`.
   *
   * @example Closing with `using`
   * ```ts ignore
   * import { connect, run } from "@bluelet/bluelet";
   *
   * await run(function* () {
   *   using conn = yield* connect("127.0.0.1", 8000);
   *   yield* conn.sendall("ping\n");
   * }());
   * ```
   */
  [Symbol.dispose](): void {
    this.close();
  }

  // ---------------------------------------------------------------------------------------
  // Private

  /** Starts an OS read into the buffer's free tail. */
  #read(): Promise<number | null> {
    const read = this.#conn.read(this.#buffer.tail());
    this.#inflight = read;
    return read;
  }

  /** Takes in what a read gave: a count, the end of the stream, or an orphan's outcome. */
  #landed(result: unknown, action: string): void {
    this.#inflight = null;
    if (this.#closed) throw this.#mapError(undefined, action);
    if (typeof result === "number") this.#buffer.commit(result);
    else if (result === null) this.#eof = true;
    else if (result !== undefined) throw this.#mapError(result, action);
  }

  /** Lets the read in flight land in the buffer without its (killed) reader. */
  #orphanRead(): void {
    const read = this.#inflight!;
    this.#inflight = null;
    // Resolves with `undefined` once landed, or with the read's error: never rejects,
    // since nobody may be there to handle it.
    this.#orphan = read.then((n) => {
      this.#orphan = null;
      if (n === null) this.#eof = true;
      else this.#buffer.commit(n);
      return undefined;
    }, (error) => {
      this.#orphan = null;
      return error;
    });
  }

  #startRead(action: string): void {
    if (this.#closed) throw closedError(`Cannot ${action} ${this.#peer()}`);
    if (this.#reader !== null) {
      throw new TypeError(
        `Cannot ${action} ${this.#peer()}: another thread is already reading from this connection (${this.#reader}); reads on one connection must not overlap`,
      );
    }
    this.#reader = action;
  }

  #startWrite(action: string): void {
    if (this.#closed) throw closedError(`Cannot ${action} ${this.#peer()}`);
    if (this.#writer !== null) {
      throw new TypeError(
        `Cannot ${action} ${this.#peer()}: another thread is already writing to this connection (${this.#writer}); writes on one connection must not overlap`,
      );
    }
    this.#writer = action;
  }

  #toBytes(data: Uint8Array | string, action: string): Uint8Array {
    if (typeof data === "string") return encoder.encode(data);
    if (data instanceof Uint8Array) return data;
    throw new TypeError(
      `Cannot ${action} ${this.#peer()}: data must be a Uint8Array or a string, got ${typeof data}`,
    );
  }

  #mapError(error: unknown, action: string): unknown {
    return mapError(error, `Cannot ${action} ${this.#peer()}`, this.#closed);
  }

  #peer(): string {
    return formatAddr(this.addr);
  }
}
