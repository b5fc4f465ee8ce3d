// The state one connection's operations share: the Deno connection, the receive buffer,
// the OS read in flight, and who is reading or writing. The socket events (net/_reads.ts,
// net/_writes.ts) are kernel primitives that work on it; `Connection` is their public face.
import { connAddr, formatAddr } from "./_addr.ts";
import { closedError, mapError } from "./_map_error.ts";
import { MemoryEnd } from "./_memory_transport.ts";
import { ReadBuffer } from "./_read_buffer.ts";

/** The socket each error an operation on it threw is about (see `failedOn`). */
const failedSockets = new WeakMap<object, Socket>();

/**
 * The socket an error is about, if an operation on one threw it: `server` keeps quiet
 * about a peer that went away only on the connection it accepted.
 */
export function failedOn(error: unknown): Socket | undefined {
  return typeof error === "object" && error !== null ? failedSockets.get(error) : undefined;
}

/** A connection's shared state; fields are open to the socket events, not to users. */
/** What holds a side of a connection: an event, named in errors by its description. */
export interface SideHolder {
  readonly description: string;
}

export class Socket {
  readonly conn: Deno.Conn;
  readonly addr: Deno.NetAddr | Deno.UnixAddr;
  readonly buffer: ReadBuffer = new ReadBuffer(this);
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
  /** Counts reads and writes that moved bytes (or reached the end). */
  progress = 0;
  /**
   * The connection a relay copies to and from this one, while it runs: the bytes moving
   * there count for this one's idle clock too (see `moves`).
   */
  relayedWith: Socket | null = null;
  /**
   * Bytes handed over by sends: the OS took them, the in-memory peer got them, or (TLS)
   * they are queued to go out. Counted as it happens, so it is known even for a send whose
   * thread was stopped before it took its result in (see net/relay.ts).
   */
  sent = 0;
  /**
   * Counts the reads begun: a relay that gives a chunk back knows from it whether another
   * thread read since it took the chunk (see net/relay.ts).
   */
  readsStarted = 0;
  /**
   * Whether small sends are coalesced: on TLS, where Deno offers no way to turn Nagle's
   * algorithm off, a reply sent in two writes would wait about 40 ms for a delayed ACK.
   */
  coalesce = false;
  /** Small sends not yet written: they go out together once the current kernel slice ends. */
  #outbox: Uint8Array[] = [];
  #outboxSize = 0;
  #flushQueued = false;
  /** The coalesced writes, one after the other; settles once every one has ended. */
  #flushed: Promise<void> | null = null;
  /** The error a coalesced write failed with: the next write throws it. */
  #writeFailure: unknown = undefined;
  /**
   * The read (or write) operation in progress, to reject overlapping ones; an overlapping
   * one's error names it by its description, e.g. `recv(1024) from 127.0.0.1:5000`.
   */
  reader: SideHolder | null = null;
  writer: SideHolder | null = null;
  /**
   * The reads that may give way (Web Streams' reads in flight, each once nobody holds its
   * stream), while there are any: when another read wants the side, each is asked in turn
   * until one says it stopped (its bytes stay buffered).
   */
  readsGivingWay: Set<() => boolean> | null = null;
  writeClosed = false;
  /** A send was killed part way (an OS write in flight, or bytes handed over in memory). */
  writeCut = false;
  closed = false;
  /**
   * The TLS handshake a server watches (see `holdUntilHandshake`), while it runs; settles
   * once it has ended, either way.
   */
  #handshake: Promise<void> | null = null;
  /** Rejected by a `close` while the handshake runs; made on first use (see `orClosed`). */
  #closedMidHandshake: PromiseWithResolvers<never> | null = null;
  /** Whether the Deno connection is closed: `close` may leave it open for the handshake. */
  #released = false;
  /** Made on first use: most sockets never have a callback. */
  #onRelease: (() => void)[] | null = null;

  constructor(conn: Deno.Conn) {
    this.conn = conn;
    this.addr = connAddr(conn.remoteAddr);
    this.memory = conn instanceof MemoryEnd ? conn.attach(this) : null;
  }

  /**
   * The idle limit's clock: what moved on this connection, and on the one a relay joins
   * it to. A relay sending to a slow peer reads nothing from this one meanwhile, and a
   * pair busy on its other leg is not idle.
   */
  get moves(): number {
    return this.progress + (this.relayedWith?.progress ?? 0);
  }

  /** Claims the read side for `holder`, doing `action`, or throws why it cannot. */
  startRead(action: string, holder: SideHolder): void {
    if (this.reader !== null && this.readsGivingWay !== null) {
      for (const giveWay of this.readsGivingWay) if (giveWay()) break;
    }
    this.#checkFree(this.reader, action, "reading from", "reads");
    this.reader = holder;
    this.readsStarted++;
  }

  /** Claims the write side for `holder`, doing `action`, or throws why it cannot. */
  startWrite(action: string, holder: SideHolder): void {
    this.#checkFree(this.writer, action, "writing to", "writes");
    this.writer = holder;
  }

  #checkFree(holder: SideHolder | null, action: string, doing: string, kind: string): void {
    if (this.closed) throw closedError(`Cannot ${action} ${this.peer()}`);
    if (holder !== null) {
      throw new TypeError(
        `Cannot ${action} ${this.peer()}: another thread is already ${doing} this connection (${holder.description}); ${kind} on one connection must not overlap`,
      );
    }
  }

  /** What the reader waits on for more bytes: an orphaned read, or a new OS read. */
  readMore(): Promise<unknown> {
    const orphan = this.orphan;
    if (orphan !== null) return this.orClosed(orphan);
    const failure = this.failure;
    if (failure !== undefined) {
      this.failure = undefined;
      return Promise.resolve(failure);
    }
    const read = this.conn.read(this.buffer.tail());
    this.inflight = read;
    return this.orClosed(read);
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

  /** How many bytes of small sends wait to be written. */
  get queued(): number {
    return this.#outboxSize;
  }

  /** Queues a copy of a small send's bytes, to go out with those sent right after it. */
  queueWrite(bytes: Uint8Array): void {
    this.#outbox.push(bytes.slice());
    this.#outboxSize += bytes.length;
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    // A promise reaction runs once the kernel's synchronous slice is over: by then the
    // thread has sent the rest of its reply and waits for something.
    this.#flushed = (this.#flushed ?? Promise.resolve()).then(() => this.#writeQueued());
  }

  /** Settles once every queued byte was written; rejects with a failed write's error. */
  drained(): Promise<void> {
    return (this.#flushed ?? Promise.resolve()).then(() => this.throwWriteFailure());
  }

  /** Throws (once) the error a coalesced write failed with. */
  throwWriteFailure(): void {
    const failure = this.#writeFailure;
    if (failure === undefined) return;
    this.#writeFailure = undefined;
    throw failure;
  }

  async #writeQueued(): Promise<void> {
    this.#flushQueued = false;
    const bytes = this.#takeQueued();
    if (bytes === null || this.closed) return;
    try {
      for (let n = 0; n < bytes.length;) n += await this.conn.write(bytes.subarray(n));
      this.progress++;
    } catch (error) {
      this.#writeFailure ??= error;
    }
  }

  #takeQueued(): Uint8Array | null {
    const chunks = this.#outbox;
    if (chunks.length === 0) return null;
    let bytes = chunks[0];
    if (chunks.length > 1) {
      bytes = new Uint8Array(this.#outboxSize);
      let at = 0;
      for (const chunk of chunks) {
        bytes.set(chunk, at);
        at += chunk.length;
      }
    }
    this.#outbox = [];
    this.#outboxSize = 0;
    return bytes;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    // Sends that completed must not be lost: a write started now still goes out (Deno
    // begins it at once), before the close.
    const queued = this.#takeQueued();
    if (queued !== null) this.conn.write(queued).catch(() => {});
    // Mid-handshake, closing would not free the socket, only hide when it goes. What waits
    // on it is told now, not when the client ends the handshake (see `orClosed`).
    if (this.#handshake === null) this.release();
    else this.#closedMidHandshake?.reject(new Deno.errors.Interrupted("closed mid-handshake"));
  }

  /** Whether a TLS server connection's handshake is still running (see `orClosed`). */
  get handshaking(): boolean {
    return this.#handshake !== null;
  }

  /**
   * `op`, an OS read or write, or, should this side close first while the TLS handshake
   * runs, its rejection: the Deno connection stays open until the handshake ends, and so
   * would `op` wait (see `holdUntilHandshake`). Past the handshake, `op` itself.
   */
  orClosed<T>(op: Promise<T>): Promise<T> {
    if (this.#handshake === null) return op;
    const closed = this.#closedMidHandshake ??= Promise.withResolvers<never>();
    return Promise.race([op, closed.promise]);
  }

  /**
   * For a TLS connection a server accepted: makes `close` leave the Deno connection open
   * until the handshake ends. Deno 2.9.6 runs that handshake on its own from the accept,
   * and a close does not stop it: the socket stays open until the client finishes the
   * handshake or leaves, and nothing would tell when. Left open, the connection's
   * handshake settles just then, and `whenReleased` can tell the server's descriptor
   * guard. (A read waiting on a connection closed this way waits until then too, unless
   * its thread is killed; `server` kills a handler's threads before it closes.)
   */
  holdUntilHandshake(): void {
    const conn = this.conn as Partial<Deno.TlsConn>;
    if (typeof conn.handshake !== "function" || this.#released) return;
    const settled = (): void => {
      this.#handshake = null;
      this.#closedMidHandshake = null;
      if (this.closed) this.release();
    };
    this.#handshake = conn.handshake().then(settled, settled);
  }

  /** Calls `callback` once the Deno connection is closed (at once if it is). */
  whenReleased(callback: () => void): void {
    if (this.#released) callback();
    else (this.#onRelease ??= []).push(callback);
  }

  /** Closes the Deno connection now, even mid-handshake (its socket may outlive it then). */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.closed = true;
    try {
      this.conn.close();
    } catch (error) {
      if (!(error instanceof Deno.errors.BadResource)) throw error;
    } finally {
      const callbacks = this.#onRelease;
      this.#onRelease = null;
      if (callbacks !== null) { for (const callback of callbacks) callback(); }
    }
  }

  mapError(error: unknown, action: string): unknown {
    const mapped = mapError(error, `Cannot ${action} ${this.peer()}`, this.closed);
    if (typeof mapped === "object" && mapped !== null) failedSockets.set(mapped, this);
    return mapped;
  }

  peer(): string {
    const addr = this.addr;
    if (addr.transport === "unix" && !addr.path) {
      // An accepted client's socket has no name (it bound none): its listener's path says
      // which server it came to.
      const local = this.conn.localAddr as Deno.UnixAddr;
      if (local.path) return `a client of ${local.path}`;
    }
    return formatAddr(addr);
  }
}
