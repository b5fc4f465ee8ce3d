// The write events of a connection: `send` (one write), `sendall` (as many writes as it
// takes) and `closeWrite`.
import type { Wait } from "../scheduler/lowlevel.ts";
import type { Socket } from "./_socket.ts";
import { SocketEvent } from "./_socket_event.ts";
import { SocketClosedError } from "./errors.ts";

const encoder = new TextEncoder();
/** A placeholder until `claim`: a fresh typed array costs most of a microsecond in Deno. */
const NOTHING = new Uint8Array(0);
/** The largest send coalesced with others on a TLS connection. */
const COALESCE_MAX = 16 * 1024;
/** How many coalesced bytes may wait before a send waits for them to be written. */
const QUEUE_LIMIT = 64 * 1024;

/** `send(data)` and, with `all`, `sendall(data)`: gives the count written (`send` only). */
export class Send<T extends number | void> extends SocketEvent<T> {
  readonly #data: Uint8Array | string;
  readonly #all: boolean;
  #bytes: Uint8Array = NOTHING;
  #sent = 0;
  /** Whether no write of this send is in flight any more (OS or in-memory). */
  #done = true;

  constructor(socket: Socket, data: Uint8Array | string, all: boolean) {
    super(socket);
    this.#data = data;
    this.#all = all;
  }

  get description(): string {
    return `${this.#all ? "sendall" : "send"} to ${this.socket.peer()}`;
  }

  protected get action(): string {
    return "send to";
  }

  protected claim(): void {
    const data = this.#data;
    let bytes: Uint8Array;
    if (typeof data === "string") bytes = encoder.encode(data);
    else if (data instanceof Uint8Array) bytes = data;
    else {
      throw new TypeError(
        `Cannot send to ${this.socket.peer()}: data must be a Uint8Array or a string, got ${typeof data}`,
      );
    }
    const socket = this.socket;
    if (socket.writeClosed && !socket.closed) {
      // Not a broken pipe: the peer is fine, this side said it was done writing.
      throw new SocketClosedError(
        `Cannot send to ${socket.peer()}: the write side was shut down here by closeWrite()`,
      );
    }
    if (socket.writeCut && !socket.closed) {
      throw new SocketClosedError(
        `Cannot send to ${socket.peer()}: an earlier send was interrupted part way, so the stream is cut`,
      );
    }
    socket.startWrite(this.action, this);
    this.#bytes = bytes;
    this.#sent = 0;
    this.#done = false;
  }

  protected release(): void {
    this.socket.writer = null;
  }

  protected begin(): Wait {
    const bytes = this.#bytes;
    // Nothing to send: `sendall` is done; `send` still makes its one (empty) write.
    if (this.#all && bytes.length === 0) {
      this.#done = true;
      return null;
    }
    const memory = this.socket.memory;
    if (memory !== null) return memory.write(this, bytes, this.#all);
    return this.socket.coalesce ? this.#coalesced(bytes) : this.socket.conn.write(bytes);
  }

  /**
   * On TLS: a small send is queued and done at once, to go out in one write with what is
   * sent right after it; a big one waits for the queue, then writes as usual.
   */
  #coalesced(bytes: Uint8Array): Wait {
    const socket = this.socket;
    socket.throwWriteFailure();
    if (bytes.length > COALESCE_MAX) {
      return socket.orClosed(socket.drained().then(() => socket.conn.write(bytes)));
    }
    socket.queueWrite(bytes);
    this.#sent = bytes.length;
    socket.sent += bytes.length;
    this.#done = true; // queued whole: it goes out even if this thread is killed now
    // Past a limit, wait for the writes to catch up rather than queue without bound.
    return socket.queued > QUEUE_LIMIT ? socket.orClosed(socket.drained().then(() => 0)) : null;
  }

  /** Records that `n` more bytes went out: an in-memory transport calls it as it hands them over. */
  wrote(n: number): void {
    this.socket.progress++;
    this.socket.sent += n;
    this.#sent += n;
    // `send` makes one write; `sendall` is done once every byte is handed over.
    if (!this.#all || this.#sent === this.#bytes.length) this.#done = true;
  }

  /** Sets the error an in-memory write ends with: it hands over nothing more. */
  override fail(error: unknown): void {
    this.#done = true;
    super.fail(error);
  }

  override cancel(): void {
    const socket = this.socket;
    socket.memory?.writerGone(this);
    // Killed (say, timed out) with a write in flight: the peer got part of these bytes (an
    // unknown part, from the OS), so nothing may follow them. In memory the part is known:
    // a write killed before it handed over a byte leaves the stream whole.
    if (!this.#done && (socket.memory === null || this.#sent > 0)) socket.writeCut = true;
    super.cancel();
  }

  protected step(ok: boolean, value: unknown): PromiseLike<unknown> | null {
    if (!ok) {
      this.#done = true;
      throw value;
    }
    this.socket.progress++;
    const bytes = this.#bytes;
    this.socket.sent += value as number;
    const sent = this.#sent += value as number;
    if (this.#all && sent < bytes.length) {
      return this.socket.orClosed(this.socket.conn.write(bytes.subarray(sent)));
    }
    this.#done = true;
    return null;
  }

  protected result(): T {
    return (this.#all ? undefined : this.#sent) as T;
  }
}

/** `closeWrite()`: shuts down the sending side, once. */
export class CloseWrite extends SocketEvent<void> {
  get description(): string {
    return `closeWrite to ${this.socket.peer()}`;
  }

  protected get action(): string {
    return "shut down writing to";
  }

  protected claim(): void {
    const socket = this.socket;
    if (socket.writeCut && !socket.closed) {
      // Deno would make the shutdown wait behind the write that was cut off.
      throw new SocketClosedError(
        `Cannot shut down writing to ${socket.peer()}: an earlier send was interrupted part way`,
      );
    }
    socket.startWrite(this.action, this);
  }

  protected release(): void {
    this.socket.writer = null;
  }

  protected begin(): PromiseLike<unknown> | null {
    const socket = this.socket;
    if (socket.writeClosed) return null;
    socket.writeClosed = true;
    const memory = socket.memory;
    if (memory !== null) return memory.closeWrite();
    // Mid-handshake, a close wakes it at once (`orClosed`), as it does a read.
    return socket.orClosed(
      socket.coalesce
        ? socket.drained().then(() => socket.conn.closeWrite())
        : socket.conn.closeWrite(),
    );
  }

  protected step(ok: boolean, value: unknown): null {
    if (!ok) throw value;
    return null;
  }

  protected result(): void {}
}
