// The in-memory transport behind `memoryPair` and `MemoryListener`: two ends that hand
// bytes to each other inside one run. A pending promise holds a virtual clock still (the
// kernel counts it as outside work), so nothing here waits on one: a read or a write that
// must wait returns SUSPEND, and the peer's write, read, close or reset wakes it in the same
// run. It speaks Deno's errors (`BrokenPipe`, `ConnectionReset`, `BadResource`), which the
// socket events map exactly as they map a real socket's, so both give the same messages.
//
// A write hands its bytes to the reading end's inbox, which plays the OS socket buffer: a
// read lands them in the connection's receive buffer, one chunk at a time when reads are
// cut into chunks, as OS reads would. When a reader already waits (and reads are not cut),
// the bytes land straight in its buffer: one copy, as an OS read makes. Bytes in the inbox
// count against the reader's `bufferSize`; a write that finds no room waits, holding the
// rest, and the reader's next landing pushes more of it through.
import { Primitive, SUSPEND, type Wait } from "../scheduler/lowlevel.ts";
import type { Socket } from "./_socket.ts";

/** What the transport needs of a read event. */
export interface MemoryReader {
  /** Whether the buffered bytes (or the end of the stream) answer the read. */
  ready(): boolean;
  /** Sets the error the read throws when it resumes. */
  fail(error: unknown): void;
  /** Resumes the waiting thread. */
  wake(): void;
}

/** What the transport needs of a write event. */
export interface MemoryWriter {
  /** Records that `n` more bytes went out. */
  wrote(n: number): void;
  /** Sets the error the write throws when it resumes. */
  fail(error: unknown): void;
  /** Resumes the waiting thread. */
  wake(): void;
}

/** A write waiting for room in the peer's buffer. */
interface PendingWrite {
  event: MemoryWriter;
  bytes: Uint8Array;
  offset: number;
  all: boolean;
}

/** How one end is set up. */
export interface EndSettings {
  /** Bytes this end holds unread before its peer's writes wait. */
  bufferSize: number;
  /** The size of the next chunk a read gets, or null for whatever was written. */
  chunk: (() => number) | null;
}

/**
 * One end of an in-memory connection. It stands in for the `Deno.Conn` a `Socket` wraps
 * (`Socket` recognises it and takes its SUSPEND-based path instead of the OS one).
 */
export class MemoryEnd {
  readonly localAddr: Deno.NetAddr;
  readonly remoteAddr: Deno.NetAddr;
  peer!: MemoryEnd;
  readonly #settings: EndSettings;
  #socket: Socket | null = null;
  /**
   * Bytes the peer wrote that wait to land in the receive buffer, in chunks, from
   * `#inboxHead` on: an index, not `shift`, which copies a long array on each call (reads
   * of one byte behind a full buffer, which the waiting write refills a byte at a time,
   * made the copying quadratic).
   */
  #inbox: Uint8Array[] = [];
  #inboxHead = 0;
  #inboxSize = 0;
  /** The peer shut down writing: the end of the stream comes after the inbox. */
  #eofPending = false;
  /**
   * The peer reset the connection. As on Linux, reads take what came before the reset,
   * then throw the reset once (`#resetReported`), then find the end of the stream.
   */
  #reset = false;
  #resetReported = false;
  /** This end was closed or reset: the peer's writes find a broken pipe. */
  #gone = false;
  #reader: MemoryReader | null = null;
  /** Waits that end when this end closes (writes waiting out their latency). */
  readonly #closeWaiters = new Set<CloseWait>();
  /** The write waiting for room, if any: `#write`, reused (one writer at a time). */
  #pending: PendingWrite | null = null;
  readonly #write: PendingWrite = { event: NO_WRITER, bytes: NOTHING, offset: 0, all: false };
  /** A fault on demand: after this many more bytes sent, this end closes (or resets). */
  #cutAfter = Infinity;
  #cutReset = false;

  constructor(localAddr: Deno.NetAddr, remoteAddr: Deno.NetAddr, settings: EndSettings) {
    this.localAddr = localAddr;
    this.remoteAddr = remoteAddr;
    this.#settings = settings;
  }

  /** Makes two connected ends. */
  static pair(
    a: Deno.NetAddr,
    b: Deno.NetAddr,
    settingsA: EndSettings,
    settingsB: EndSettings,
  ): [MemoryEnd, MemoryEnd] {
    const first = new MemoryEnd(a, b, settingsA);
    const second = new MemoryEnd(b, a, settingsB);
    first.peer = second;
    second.peer = first;
    return [first, second];
  }

  /** Called by the `Socket` that wraps this end. */
  attach(socket: Socket): this {
    this.#socket = socket;
    return this;
  }

  // ---------------------------------------------------------------------------------------
  // Reading

  /** Begins a read the buffered bytes do not answer yet: lands what came, or waits. */
  read(reader: MemoryReader): Wait {
    this.#reader = reader;
    this.#poke(); // what the inbox holds, or the end of the stream
    // The inbox has room again: the peer's waiting write goes on, straight into this
    // reader's buffer if it still waits.
    this.peer.#pump();
    return this.#reader === null ? null : SUSPEND;
  }

  /**
   * Before a `recv` of `size` bytes that waited takes what the receive buffer holds: lands
   * more of what came since its wake, up to `size`. It would otherwise give the one write
   * that woke it, where an OS read that waits takes all that arrived before the reader ran
   * (Deno hands a read's bytes over in a later turn of its event loop): code that takes
   * one `recv` for one message would pass here and fail over TCP. Reads cut into chunks
   * keep their chunks.
   */
  topUp(size: number): void {
    if (this.#settings.chunk !== null) return;
    const socket = this.#socket!;
    if (this.#landBytes(size - socket.buffer.size) === 0) return;
    socket.progress++;
    this.peer.#pump(); // room again for a write that waits
  }

  /** The waiting reader was killed or timed out: what came stays for the next read. */
  readerGone(reader: MemoryReader): void {
    if (this.#reader === reader) this.#reader = null;
  }

  /** Moves chunks from the inbox into the receive buffer until `reader` is answered. */
  #land(reader: MemoryReader): void {
    const socket = this.#socket!;
    const next = this.#settings.chunk;
    while (this.#inboxSize > 0 && !reader.ready()) {
      this.#landBytes(next === null ? this.#inboxSize : next());
      socket.progress++;
    }
    if (
      this.#inboxSize === 0 && this.#eofPending && !socket.eof &&
      (!this.#reset || this.#resetReported)
    ) {
      socket.eof = true;
      socket.progress++;
    }
  }

  /** Moves up to `want` bytes from the inbox into the receive buffer; gives how many. */
  #landBytes(want: number): number {
    const buffer = this.#socket!.buffer;
    let landed = 0;
    while (landed < want && this.#inboxSize > 0) {
      const head = this.#inbox[this.#inboxHead];
      const n = Math.min(want - landed, head.length);
      buffer.append(head.subarray(0, n));
      if (n === head.length) this.#dropHead();
      else this.#inbox[this.#inboxHead] = head.subarray(n);
      this.#inboxSize -= n;
      landed += n;
    }
    return landed;
  }

  /** Drops the first chunk of the inbox, which landed whole. */
  #dropHead(): void {
    const inbox = this.#inbox;
    inbox[this.#inboxHead++] = NOTHING; // lets its bytes go
    if (this.#inboxHead === inbox.length) {
      inbox.length = 0;
      this.#inboxHead = 0;
    } else if (this.#inboxHead >= 1024 && this.#inboxHead * 2 >= inbox.length) {
      // An inbox that never empties: drop the landed part, which costs as much as the
      // chunks landed since the last time.
      inbox.splice(0, this.#inboxHead);
      this.#inboxHead = 0;
    }
  }

  /** The peer wrote `bytes`: they land here, and wake the reader if that answers it. */
  #receive(bytes: Uint8Array): void {
    const socket = this.#socket!;
    if (this.#reader !== null && this.#settings.chunk === null && this.#inboxSize === 0) {
      socket.buffer.append(bytes);
      socket.progress++;
    } else {
      this.#inbox.push(bytes.slice());
      this.#inboxSize += bytes.length;
    }
    this.#poke();
  }

  /** Wakes the waiting reader if what landed (or the end of the stream) answers it. */
  #poke(): void {
    const reader = this.#reader;
    if (reader === null) return;
    this.#land(reader);
    if (reader.ready()) {
      this.#reader = null;
      reader.wake();
    } else if (this.#reset && !this.#resetReported) {
      // All that came before the reset has landed, and did not answer the read.
      this.#resetReported = true;
      this.#reader = null;
      reader.fail(new Deno.errors.ConnectionReset("Connection reset by peer"));
      reader.wake();
    }
  }

  // ---------------------------------------------------------------------------------------
  // Writing

  /**
   * Begins a write: hands over what fits in the peer's buffer, then waits for room for the
   * rest (`all`) or for room for anything (`send` that found none).
   */
  write(event: MemoryWriter, bytes: Uint8Array, all: boolean): Wait {
    if (this.#reset && !this.#resetReported) {
      // A reset not read yet: a write meets it first, as on Linux (and reads no longer do).
      this.#resetReported = true;
      throw new Deno.errors.ConnectionReset("Connection reset by peer");
    }
    if (this.peer.#gone) throw new Deno.errors.BrokenPipe("Broken pipe");
    const pending = this.#write;
    pending.event = event;
    pending.bytes = bytes;
    pending.offset = 0;
    pending.all = all;
    this.#pending = pending;
    if (this.#pump()) return null;
    return SUSPEND;
  }

  /** The waiting writer was killed or timed out: what it handed over stays sent. */
  writerGone(event: MemoryWriter): void {
    if (this.#pending?.event === event) this.#pending = null;
  }

  /** Shuts down writing: the peer reads the end of the stream after what was sent. */
  closeWrite(): null {
    const peer = this.peer;
    peer.#eofPending = true;
    peer.#poke();
    return null;
  }

  /**
   * Hands over as much of the pending write as fits; says whether it is done (and then
   * wakes its writer, which does nothing while it is still in its own `write` call).
   */
  #pump(): boolean {
    const pending = this.#pending;
    if (pending === null) return false;
    const peer = this.peer;
    const bytes = pending.bytes;
    let n = 0;
    for (;;) {
      // What lands at once in a waiting reader's buffer leaves room for more.
      n = Math.min(
        bytes.length - pending.offset,
        peer.#settings.bufferSize - peer.#inboxSize,
        this.#cutAfter,
      );
      if (n <= 0) break;
      const from = pending.offset;
      pending.offset += n;
      pending.event.wrote(n);
      this.#cutAfter -= n;
      peer.#receive(n === bytes.length ? bytes : bytes.subarray(from, from + n));
      if (!pending.all) break; // `send` makes one write
    }
    const done = pending.all
      ? pending.offset === bytes.length
      : pending.offset > 0 || bytes.length === 0;
    if (this.#cutAfter === 0) {
      // The fault: this end goes away mid-stream. Closing fails the pending write, unless
      // its last byte was the last to go: then it went out whole, and only the next fails.
      if (done && this.#pending === pending) this.#complete(pending);
      this.#cut();
      return done;
    }
    if (!done || this.#pending !== pending) return false;
    this.#complete(pending);
    return true;
  }

  /** Ends `pending`, which went out whole, and wakes its writer. */
  #complete(pending: PendingWrite): void {
    const event = pending.event;
    pending.event = NO_WRITER; // holds neither the writer nor its bytes once done
    pending.bytes = NOTHING;
    this.#pending = null;
    event.wake();
  }

  // ---------------------------------------------------------------------------------------
  // Closing and faults

  /** Closes this end (called by `Socket.close`): waiting operations here fail, the peer reads
   * the end of the stream, and a write of the peer that waits for room here fails. */
  close(): void {
    if (this.#gone) return;
    this.#gone = true;
    for (const waiter of this.#closeWaiters) waiter.wake();
    this.#closeWaiters.clear();
    const closed = () => new Deno.errors.BadResource("Bad resource ID");
    const reader = this.#reader;
    if (reader !== null) {
      this.#reader = null;
      reader.fail(closed());
      reader.wake();
    }
    const pending = this.#pending;
    if (pending !== null) {
      this.#pending = null;
      pending.event.fail(closed());
      pending.event.wake();
    }
    const peer = this.peer;
    peer.#eofPending = true;
    peer.#poke();
    const blocked = peer.#pending;
    if (blocked !== null) {
      peer.#pending = null;
      blocked.event.fail(new Deno.errors.BrokenPipe("Broken pipe"));
      blocked.event.wake();
    }
  }

  /** Waits until this end closes (or resets); done at once if it has. */
  whenClosed(): Primitive<void> {
    return new CloseWait(this, this.#closeWaiters);
  }

  /** Whether this end was closed or reset. */
  get gone(): boolean {
    return this.#gone;
  }

  /** Resets the connection from this end, which closes: the peer's reads throw a reset. */
  reset(): void {
    if (this.#gone) return;
    this.#resetPeer();
    this.#socket!.close();
  }

  /** After `count` more bytes sent, closes this end, or resets it with `reset`. */
  cutAfter(count: number, reset: boolean): void {
    this.#cutAfter = count;
    this.#cutReset = reset;
    // Nothing more to send: at once, whether or not a write waits (closing fails it).
    if (count === 0) this.#cut();
  }

  /** The fault `cutAfter` asked for: closes this end, after resetting the peer if asked. */
  #cut(): void {
    this.#cutAfter = Infinity;
    if (this.#gone) return; // closed already: no fault left to cause
    if (this.#cutReset) this.#resetPeer();
    this.#socket!.close();
  }

  #resetPeer(): void {
    const peer = this.peer;
    if (peer.#reset || peer.#gone) return;
    // What came before the reset stays for the peer's reads, as on Linux; then the reset,
    // once (to a read or a write, whichever meets it first), and then the end of the
    // stream. After the end of the stream (this end shut down writing first), reads keep
    // to the end: Linux reports such a reset to writes only.
    peer.#reset = true;
    if (peer.#eofPending) peer.#resetReported = true;
    peer.#eofPending = true;
    peer.#poke();
    const pending = peer.#pending;
    if (pending !== null) {
      peer.#pending = null;
      const reported = peer.#resetReported;
      peer.#resetReported = true;
      pending.event.fail(
        reported
          ? new Deno.errors.BrokenPipe("Broken pipe")
          : new Deno.errors.ConnectionReset("Connection reset by peer"),
      );
      pending.event.wake();
    }
  }
}

/** A placeholder for the reused pending write: a fresh typed array costs most of a µs. */
const NOTHING = new Uint8Array(0);
const NO_WRITER: MemoryWriter = { wrote() {}, fail() {}, wake() {} };

/** `end.whenClosed()`. */
class CloseWait extends Primitive<void> {
  readonly #end: MemoryEnd;
  readonly #waiters: Set<CloseWait>;

  constructor(end: MemoryEnd, waiters: Set<CloseWait>) {
    super();
    this.#end = end;
    this.#waiters = waiters;
  }

  get description(): string {
    return "the connection's close";
  }

  start(): Wait {
    if (this.#end.gone) return null;
    this.#waiters.add(this);
    return SUSPEND;
  }

  finish(): void {}

  cancel(): void {
    this.#waiters.delete(this);
  }
}
