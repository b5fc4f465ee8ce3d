// The read events of a connection: `recv`, `recvExactly` and `readline` differ only in
// when the buffered bytes answer them and what they take, so they share one state machine.
// The OS read lands in the connection's buffer in the kernel's promise reaction, and bytes
// leave the buffer only in `finish`, when the reader runs again: a reader killed at any
// point in between loses nothing, since the bytes stay for the next read. On an in-memory
// connection the peer's write lands the bytes instead, and wakes the reader (SUSPEND).
import type { Wait } from "../scheduler/lowlevel.ts";
import type { Socket } from "./_socket.ts";
import { SocketEvent } from "./_socket_event.ts";
import { closedError } from "./_map_error.ts";
import { LineTooLongError, UnexpectedEofError } from "./errors.ts";

const encoder = new TextEncoder();
const NEWLINE = encoder.encode("\n");

/** A read: waits until the buffered bytes answer it, then takes its answer from them. */
abstract class Read<T = Uint8Array<ArrayBuffer>> extends SocketEvent<T> {
  /** Throws if the arguments are wrong. */
  protected abstract check(): void;
  /** Whether the buffered bytes (and the end of the stream, if reached) answer the read. */
  protected abstract answered(): boolean;

  /** Resets the event's own state for a new read. */
  protected reset(): void {}

  protected claim(): void {
    this.check();
    this.socket.startRead(this.action, this);
    this.reset();
  }

  protected release(): void {
    this.socket.reader = null;
  }

  /** Whether an in-memory read waited for a write, rather than finding its answer. */
  protected waited = false;

  protected begin(): Wait {
    this.waited = false;
    if (this.answered()) return null;
    const memory = this.socket.memory;
    if (memory === null) return this.socket.readMore();
    const wait = memory.read(this);
    this.waited = wait !== null;
    return wait;
  }

  /** Whether the read is answered: what an in-memory peer asks before it wakes the reader. */
  ready(): boolean {
    return this.answered();
  }

  protected step(ok: boolean, value: unknown): PromiseLike<unknown> | null {
    this.socket.landed(ok, value, this.action);
    // Only an OS read settles: the next wait is an OS read too.
    return this.begin() as PromiseLike<unknown> | null;
  }

  override cancel(): void {
    this.socket.memory?.readerGone(this);
    this.socket.abandonRead();
    // Killed after its OS read failed, before it ran again: the next reader throws the
    // error, as it would throw an orphaned read's, rather than read on (after a reset, it
    // would take the end of the stream for a clean one).
    const failure = this.failure;
    if (failure !== undefined && this.socket.memory === null) this.socket.failure ??= failure;
  }
}

/** `recv(bufsize)`: whatever is buffered, up to `bufsize`; empty at the end of the stream. */
export class Recv extends Read {
  readonly #bufsize: number;

  constructor(socket: Socket, bufsize: number) {
    super(socket);
    this.#bufsize = bufsize;
  }

  get description(): string {
    return `recv(${this.#bufsize}) from ${this.socket.peer()}`;
  }

  protected get action(): string {
    return "recv from";
  }

  protected check(): void {
    const bufsize = this.#bufsize;
    if (!Number.isInteger(bufsize) || bufsize < 1) {
      throw new RangeError(
        `Cannot recv from ${this.socket.peer()}: bufsize must be a positive integer, got ${bufsize}`,
      );
    }
  }

  protected answered(): boolean {
    return this.socket.buffer.size > 0 || this.socket.eof;
  }

  protected result(): Uint8Array<ArrayBuffer> {
    // Woken by a write, it takes what more came before it ran, as an OS read would.
    if (this.waited) this.socket.memory?.topUp(this.#bufsize);
    return this.socket.buffer.take(this.#bufsize);
  }
}

/** `recvExactly(n)`: exactly `n` bytes, or `UnexpectedEofError`. */
export class RecvExactly extends Read {
  readonly #count: number;

  constructor(socket: Socket, count: number) {
    super(socket);
    this.#count = count;
  }

  get description(): string {
    return `recvExactly(${this.#count}) from ${this.socket.peer()}`;
  }

  protected get action(): string {
    return "recv from";
  }

  protected check(): void {
    const n = this.#count;
    if (!Number.isInteger(n) || n < 0) {
      throw new RangeError(
        `Cannot receive exactly ${n} bytes from ${this.socket.peer()}: the count must be a non-negative integer`,
      );
    }
  }

  protected answered(): boolean {
    return this.socket.buffer.size >= this.#count || this.socket.eof;
  }

  protected result(): Uint8Array<ArrayBuffer> {
    const buffer = this.socket.buffer;
    if (buffer.size < this.#count) {
      // Only at the end of the stream: what came stays buffered for `recv`.
      throw new UnexpectedEofError(
        `Cannot receive exactly ${this.#count} bytes from ${this.socket.peer()}: the stream ended after ${buffer.size} byte${
          buffer.size === 1 ? "" : "s"
        }`,
      );
    }
    return buffer.take(this.#count);
  }
}

/** `readline(delim, { maxLength })`: up to and including the delimiter. */
export class ReadLine extends Read {
  /** The delimiter's bytes; anything else is rejected by `check`. */
  readonly #bytes: Uint8Array;
  readonly #maxLength: number;
  /** Where the delimiter starts in the buffered bytes, or -1 if not found yet. */
  #at = -1;
  /** How far the buffered bytes were searched without finding the delimiter. */
  #from = 0;

  constructor(socket: Socket, delim: string | Uint8Array, maxLength: number) {
    super(socket);
    this.#bytes = delim === "\n"
      ? NEWLINE
      : typeof delim === "string"
      ? encoder.encode(delim)
      : delim;
    this.#maxLength = maxLength;
  }

  get description(): string {
    return `readline from ${this.socket.peer()}`;
  }

  protected get action(): string {
    return "read line from";
  }

  protected check(): void {
    const bytes: unknown = this.#bytes;
    if (!(bytes instanceof Uint8Array) || bytes.length === 0) {
      throw new TypeError(
        `Cannot read line from ${this.socket.peer()}: the delimiter must be a non-empty string or Uint8Array`,
      );
    }
    const maxLength = this.#maxLength;
    if (!Number.isInteger(maxLength) || maxLength < 1) {
      throw new RangeError(
        `Cannot read line from ${this.socket.peer()}: maxLength must be a positive integer, got ${maxLength}`,
      );
    }
  }

  protected override reset(): void {
    this.#at = -1;
    this.#from = 0;
  }

  protected answered(): boolean {
    const buffer = this.socket.buffer;
    const bytes = this.#bytes;
    this.#at = buffer.indexOf(bytes, this.#from);
    if (this.#at >= 0 || this.socket.eof || buffer.size > this.#maxLength) return true;
    // The delimiter may straddle what is buffered and what comes next.
    this.#from = Math.max(0, buffer.size - bytes.length + 1);
    return false;
  }

  protected result(): Uint8Array<ArrayBuffer> {
    const buffer = this.socket.buffer;
    const at = this.#at;
    // Without a delimiter the line is at least what is buffered (exactly that at the end
    // of the stream): a line of exactly maxLength bytes is still accepted.
    const length = at >= 0 ? at + this.#bytes.length : buffer.size;
    if (length > this.#maxLength) {
      // Nothing is taken: the caller can catch this and read the long line with `recv`.
      throw new LineTooLongError(
        `Cannot read line from ${this.socket.peer()}: no delimiter within ${this.#maxLength} bytes`,
      );
    }
    return buffer.take(length);
  }
}

/**
 * `recvInto(conn, target)`: up to `target.length` bytes into `target`; 0 at the end of the
 * stream. With nothing buffered (and no earlier read still landing), the OS read fills
 * `target` itself; otherwise the buffered bytes are copied in, as `recv` would give them.
 */
export class RecvInto extends Read<number> {
  readonly #target: Uint8Array;
  /** The OS read into `target` in flight; null when reading through the buffer. */
  #direct: Promise<number | null> | null = null;
  /** How many bytes the OS read put into `target`. */
  #count = 0;

  constructor(socket: Socket, target: Uint8Array) {
    super(socket);
    this.#target = target;
  }

  get description(): string {
    return `recvInto from ${this.socket.peer()}`;
  }

  protected get action(): string {
    return "recv from";
  }

  protected check(): void {
    const target: unknown = this.#target;
    if (!(target instanceof Uint8Array) || target.length === 0) {
      throw new TypeError(
        `Cannot recv from ${this.socket.peer()}: the target must be a non-empty Uint8Array`,
      );
    }
  }

  protected override reset(): void {
    this.#direct = null;
    this.#count = 0;
  }

  protected answered(): boolean {
    return this.socket.buffer.size > 0 || this.socket.eof;
  }

  protected override begin(): Wait {
    const socket = this.socket;
    if (
      socket.memory !== null || socket.buffer.size > 0 || socket.eof || socket.orphan !== null ||
      socket.failure !== undefined || socket.handshaking
    ) {
      // Bytes (or an outcome) are already on their way through the buffer: take them there.
      // So are a TLS connection's first bytes, read while its handshake runs: a close then
      // must wake the read at once (`orClosed`), and the OS read it leaves behind must not
      // land in the caller's array after the read has thrown.
      return super.begin();
    }
    return this.#direct = socket.conn.read(this.#target);
  }

  protected override step(ok: boolean, value: unknown): PromiseLike<unknown> | null {
    if (this.#direct === null) return super.step(ok, value);
    this.#direct = null;
    const socket = this.socket;
    if (!ok) throw value;
    if (socket.closed) throw closedError(`Cannot ${this.action} ${socket.peer()}`);
    socket.progress++;
    if (value === null) socket.eof = true;
    else this.#count = value as number;
    return null;
  }

  protected result(): number {
    const count = this.#count;
    if (count === 0) return this.socket.buffer.takeInto(this.#target);
    // The caller detached or shrank `target` while the OS read was in flight: what landed
    // past its end is out of reach. The bytes that fit are the result, and the next read
    // says how many went; with none that fit, this read says so, since 0 is the end.
    const fits = Math.min(count, this.#target.length);
    if (fits < count) {
      const error = lostError(this.socket, count - fits, IN_FLIGHT);
      if (fits === 0) throw error;
      this.socket.failure = error;
    }
    return fits;
  }

  override cancel(): void {
    const read = this.#direct;
    if (read === null) {
      // Killed after the OS read landed in `target`, before the thread resumed: the bytes
      // go to the buffer (a copy, as the caller may reuse `target`). Nothing was buffered
      // when the read began, and no read can start before this one lets go: they come first.
      const count = this.#count;
      if (count > 0) {
        this.#count = 0;
        keep(this.socket, this.#target, count);
      }
      super.cancel();
      return;
    }
    // Killed while the OS read into `target` was in flight: it lands in the buffer too, for
    // the next read, which waits for it, exactly as an orphaned buffered read does.
    this.#direct = null;
    const socket = this.socket;
    const target = this.#target;
    socket.orphan = read.then((n) => {
      socket.orphan = null;
      socket.progress++;
      if (n === null) socket.eof = true;
      else keep(socket, target, n);
      return undefined;
    }, (error) => {
      socket.orphan = null;
      socket.failure = error;
      return error;
    });
    this.release();
  }
}

/**
 * Copies the `n` bytes an OS read put into `target` to the buffer, for the next read, once
 * their reader is gone. The caller owns `target`, and may have detached it meanwhile (by
 * transferring its buffer) or shrunk it (a view that tracks a resizable buffer's length):
 * the bytes past its end went with that memory. They are reported as bytes that went with
 * a transferred block are: the next read that finds nothing buffered throws (as `failure`,
 * so after the bytes that were kept), and the reads after it go on. Never throws, since
 * nobody may be there to catch it (an orphan's promise must not reject).
 */
function keep(socket: Socket, target: Uint8Array, n: number): void {
  const kept = Math.min(n, target.length); // 0 once detached: no view of it can be made
  if (kept > 0) socket.buffer.append(target.subarray(0, kept));
  if (kept === n) return;
  socket.failure = lostError(socket, n - kept, KILLED);
}

const KILLED =
  "they landed in the array of a recvInto() that was killed or timed out, and that array was detached or shrunk meanwhile";
const IN_FLIGHT =
  "they landed past the end of a recvInto()'s array, which was detached or shrunk while its read was in flight";

/** The error that says `count` received bytes were lost, and `why`. */
function lostError(socket: Socket, count: number, why: string): TypeError {
  return new TypeError(
    `Cannot read from ${socket.peer()}: ${count} received bytes were lost, since ${why}`,
  );
}
