// The state one connection's operations share: the Deno connection, the receive buffer,
// the OS read in flight, and who is reading or writing. The socket events (net/_reads.ts,
// net/_writes.ts) are kernel primitives that work on it; `Connection` is their public face.
import { formatAddr } from "./_addr.ts";
import { closedError, mapError } from "./_map_error.ts";
import { MemoryEnd } from "./_memory_transport.ts";
import { ReadBuffer } from "./_read_buffer.ts";

/** A connection's shared state; fields are open to the socket events, not to users. */
export class Socket {
  readonly conn: Deno.Conn;
  readonly addr: Deno.NetAddr | Deno.UnixAddr;
  readonly buffer: ReadBuffer = new ReadBuffer();
  /** The in-memory transport, when `conn` is one: its waits are SUSPEND waits, not promises. */
  readonly memory: MemoryEnd | null;
  /** The OS read the current reader waits on. */
  inflight: Promise<number | null> | null = null;
  /**
   * An OS read whose reader was killed while it was in flight: it still lands in the
   * buffer, and the next reader waits for it instead of reading, so no byte is lost.
   */
  orphan: Promise<unknown> | null = null;
  /** The error an orphaned read ended with after it landed: the next reader throws it. */
  failure: unknown = undefined;
  eof = false;
  /** Counts reads and writes that moved bytes (or reached the end): the idle limit's clock. */
  progress = 0;
  /** The read (or write) operation in progress, to reject overlapping ones. */
  reader: string | null = null;
  writer: string | null = null;
  writeClosed = false;
  closed = false;

  constructor(conn: Deno.Conn) {
    this.conn = conn;
    this.addr = conn.remoteAddr as Deno.NetAddr | Deno.UnixAddr;
    this.memory = conn instanceof MemoryEnd ? conn.attach(this) : null;
  }

  /** Claims the read side for `action`, or throws why it cannot. */
  startRead(action: string): void {
    this.#checkFree(this.reader, action, "reading from", "reads");
    this.reader = action;
  }

  /** Claims the write side for `action`, or throws why it cannot. */
  startWrite(action: string): void {
    this.#checkFree(this.writer, action, "writing to", "writes");
    this.writer = action;
  }

  #checkFree(holder: string | null, action: string, doing: string, kind: string): void {
    if (this.closed) throw closedError(`Cannot ${action} ${this.peer()}`);
    if (holder !== null) {
      throw new TypeError(
        `Cannot ${action} ${this.peer()}: another thread is already ${doing} this connection (${holder}); ${kind} on one connection must not overlap`,
      );
    }
  }

  /** What the reader waits on for more bytes: an orphaned read, or a new OS read. */
  readMore(): Promise<unknown> {
    const orphan = this.orphan;
    if (orphan !== null) return orphan;
    const failure = this.failure;
    if (failure !== undefined) {
      this.failure = undefined;
      return Promise.resolve(failure);
    }
    const read = this.conn.read(this.buffer.tail());
    this.inflight = read;
    return read;
  }

  /**
   * Takes in how an OS read (or an orphan's landing) ended; throws the error it ended
   * with, or the closed error if this side closed meanwhile.
   */
  landed(ok: boolean, result: unknown, action: string): void {
    this.inflight = null;
    if (!ok) throw result;
    if (this.closed) throw closedError(`Cannot ${action} ${this.peer()}`);
    this.progress++;
    if (typeof result === "number") this.buffer.commit(result);
    else if (result === null) this.eof = true;
    else if (result !== undefined) {
      this.failure = undefined; // an orphan's error, taken by the reader that waited on it
      throw result;
    }
  }

  /** Releases the read side from a reader that was killed or timed out. */
  abandonRead(): void {
    if (this.inflight !== null) this.#orphanRead();
    this.reader = null;
  }

  /** Lets the read in flight land in the buffer without its reader. */
  #orphanRead(): void {
    const read = this.inflight!;
    this.inflight = null;
    // Resolves with `undefined` once landed, or with the read's error: never rejects,
    // since nobody may be there to handle it.
    this.orphan = read.then((n) => {
      this.orphan = null;
      this.progress++;
      if (n === null) this.eof = true;
      else this.buffer.commit(n);
      return undefined;
    }, (error) => {
      // Kept for the next reader if none waits on this promise yet: dropping it would
      // turn a reset into a clean end of stream.
      this.orphan = null;
      this.failure = error;
      return error;
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.conn.close();
    } catch (error) {
      if (!(error instanceof Deno.errors.BadResource)) throw error;
    }
  }

  mapError(error: unknown, action: string): unknown {
    return mapError(error, `Cannot ${action} ${this.peer()}`, this.closed);
  }

  peer(): string {
    return formatAddr(this.addr);
  }
}
