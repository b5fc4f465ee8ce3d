// A connection's receive buffer, which is also where the arrays its reads give live. The OS
// read writes straight into the free tail of the current block, and a result is a view of
// the bytes where they landed: nothing is copied on the way to a `recv` caller, and a
// result costs one view (Deno allocates every typed array outside the JS heap, at about
// 0.6 µs each whatever its size, so an array of its own per result would cost more than
// the rest of a `recv`). `recvInto` copies nothing either when nothing is buffered: the OS
// read fills the caller's own array.
//
// A block is only ever appended to. The bytes before `start` were given out, and nothing
// writes to them again, so a result keeps its bytes whatever is read after it. When the
// tail has too little room for the next read, a new block takes over, with the bytes not
// yet given out copied to its front; the old block lives on only in the results that view
// it. Results share their block, as Node's pooled `Buffer`s and socket chunks do: a result
// kept for long keeps its block, and a caller that transfers a result's buffer takes the
// block away, with any bytes buffered in it. Nothing can stop that, so it is caught: the
// next read throws a `TypeError` that says how many bytes went, and the connection goes
// on reading into a new block.
//
// A pending OS read holds its block for as long as the peer is silent, so once messages
// are small (a read brought at most 128 bytes and did not fill its room) blocks are small
// too: the first is 256 bytes, and each next one twice the last, up to 8 KiB, so a busy
// connection soon allocates rarely. A connection that did one small round trip and went
// idle holds 256 bytes. A read that fills its room makes messages large: blocks of 16 KiB
// at least, and every read has 4 KiB of room at least.

/** The first block. */
const SMALL_BLOCK = 256;
/** A read of at most this many bytes (that did not fill its room) makes messages small. */
const SMALL_MESSAGE = SMALL_BLOCK / 2;
/** The largest block while messages are small. */
const MAX_SMALL_BLOCK = 8 * 1024;
/** The smallest block while messages are large. */
const LARGE_BLOCK = 16 * 1024;
/** The least room an OS read is given while messages are large. */
const MIN_READ = 4 * 1024;

const EMPTY = new Uint8Array(0);

/** The smallest power of two at or above `n`. */
function ceilPow2(n: number): number {
  return n <= 1 ? 1 : 2 ** Math.ceil(Math.log2(n));
}

/** Bytes received and not yet given to a caller, in `bytes[start..end)`. */
export class ReadBuffer {
  /** The current block; a shared empty one until the first read. */
  #bytes: Uint8Array = EMPTY;
  /** `#bytes.buffer`, read once per block rather than once per result. */
  #buffer: ArrayBuffer = EMPTY.buffer;
  #start = 0;
  #end = 0;
  /**
   * Whether the last read was small: the next one waits on a small block. A connection
   * starts so: a big first message costs one more read, an idle one no memory to speak of.
   */
  #small = true;
  /** The room the last `tail()` gave. */
  #given = 0;
  /** Bytes that went with a block a caller transferred away: the next read says so. */
  #lost = 0;
  /** Names the peer in the error a transferred block causes. */
  readonly #owner: { peer(): string };

  constructor(owner: { peer(): string }) {
    this.#owner = owner;
  }

  /** How many bytes are buffered. */
  get size(): number {
    return this.#end - this.#start;
  }

  /**
   * Makes room at the tail and gives it, for the next OS read to fill. Only one such view
   * may be outstanding: the caller must `commit` before asking again.
   */
  tail(): Uint8Array {
    if (this.#buffer.byteLength === 0) this.#dropDetached();
    const end = this.#end;
    const length = this.#bytes.length;
    let room = length - end;
    // While messages are small, a read waits on a small block, even right after a large
    // message (if nothing would have to be copied): a pending read holds its block for as
    // long as the peer is silent.
    if (
      this.#small
        ? room < SMALL_MESSAGE || (length > MAX_SMALL_BLOCK && end === this.#start)
        : room < MIN_READ
    ) {
      room = this.#newBlock();
    }
    this.#given = room;
    const start = this.#end;
    return start === 0 ? this.#bytes : new Uint8Array(this.#buffer, start, room);
  }

  /** Moves what is buffered to the front of a new block with room for a read; gives the room. */
  #newBlock(): number {
    const size = this.#end - this.#start;
    const last = this.#bytes.length;
    const length = this.#small
      ? Math.max(
        last > MAX_SMALL_BLOCK ? SMALL_BLOCK : Math.min(last * 2, MAX_SMALL_BLOCK),
        ceilPow2(size + SMALL_BLOCK),
      )
      : Math.max(LARGE_BLOCK, ceilPow2(size + MIN_READ));
    const bytes = new Uint8Array(length);
    if (size > 0) bytes.set(this.#bytes.subarray(this.#start, this.#end));
    this.#bytes = bytes;
    this.#buffer = bytes.buffer;
    this.#start = 0;
    this.#end = size;
    return length - size;
  }

  /** Records that the OS read put `n` bytes into the last `tail()`, and adapts to it. */
  commit(n: number): void {
    // Into a block that was transferred away meanwhile, the bytes are lost: `take` says so.
    this.#end += n;
    // A read that filled its room may have left more waiting: not small, whatever its size.
    this.#small = n <= SMALL_MESSAGE && n < this.#given;
  }

  /** Adds a copy of `bytes`, as OS reads landing them would. */
  append(bytes: Uint8Array): void {
    for (let from = 0; from < bytes.length;) {
      const tail = this.tail();
      const n = Math.min(tail.length, bytes.length - from);
      tail.set(from === 0 && n === bytes.length ? bytes : bytes.subarray(from, from + n));
      this.commit(n);
      from += n;
    }
  }

  /**
   * Removes and gives up to `n` bytes, in an array of exactly that length that nothing
   * will write to again (see the top of this file).
   */
  take(n: number): Uint8Array<ArrayBuffer> {
    if (this.#lost !== 0 || this.#buffer.byteLength === 0) this.#checkLost();
    const start = this.#start;
    const count = Math.min(n, this.#end - start);
    if (count === 0) return new Uint8Array(0);
    this.#start = start + count;
    return new Uint8Array(this.#buffer, start, count);
  }

  /**
   * Puts `bytes`, the end of what `take` gave last, back where they were, if they still
   * are: nothing else changes, so a `tail()` awaiting its `commit` may be outstanding.
   * Says whether it could.
   */
  putBackInPlace(bytes: Uint8Array): boolean {
    const count = bytes.length;
    if (count === 0) return true;
    if (this.#buffer.byteLength === 0) return false;
    const at = this.#start - count;
    if (bytes.buffer !== this.#buffer || bytes.byteOffset !== at) return false;
    // Nothing wrote the bytes: everything before `start` is never written again.
    this.#start = at;
    return true;
  }

  /**
   * Puts `bytes`, just taken, back in front of the buffered bytes, for the next read to
   * take again: a taker that found nobody to give them to (a stream whose consumer left).
   * Only between reads, with no `tail()` awaiting its `commit`: the block may change.
   */
  putBack(bytes: Uint8Array): void {
    const count = bytes.length;
    if (count === 0) return;
    if (this.putBackInPlace(bytes)) return;
    if (this.#buffer.byteLength === 0) this.#dropDetached();
    // The bytes before `start` may be viewed by results: nothing writes over them, so the
    // bytes and what is buffered go to a new block, which reads then go on filling.
    const size = this.#end - this.#start;
    const block = new Uint8Array(ceilPow2(count + size));
    block.set(bytes);
    if (size > 0) block.set(this.#bytes.subarray(this.#start, this.#end), count);
    this.#bytes = block;
    this.#buffer = block.buffer;
    this.#start = 0;
    this.#end = count + size;
  }

  /** Moves up to `target.length` buffered bytes into `target`; gives how many. */
  takeInto(target: Uint8Array): number {
    if (this.#lost !== 0 || this.#buffer.byteLength === 0) this.#checkLost();
    const start = this.#start;
    const count = Math.min(target.length, this.#end - start);
    if (count === 0) return 0;
    this.#start = start + count;
    target.set(this.#bytes.subarray(start, start + count));
    return count;
  }

  /**
   * Finds `delim` in the buffered bytes, starting `from` bytes in; gives the offset of its
   * first byte from the start of the buffered bytes, or -1.
   */
  indexOf(delim: Uint8Array, from: number): number {
    if (this.#lost !== 0 || this.#buffer.byteLength === 0) this.#checkLost();
    const bytes = this.#bytes;
    const start = this.#start;
    const end = this.#end;
    const first = delim[0];
    const last = end - delim.length;
    let i = start + from;
    while (i <= last) {
      const found = bytes.subarray(i, end).indexOf(first);
      if (found < 0 || i + found > last) return -1;
      i += found;
      let j = 1;
      while (j < delim.length && bytes[i + j] === delim[j]) j++;
      if (j === delim.length) return i - start;
      i++;
    }
    return -1;
  }

  /**
   * If a caller transferred (or otherwise detached) the current block, by transferring a
   * result's buffer: counts the bytes buffered in it as lost, and starts over empty.
   */
  #dropDetached(): void {
    if (this.#bytes === EMPTY || this.#buffer.byteLength !== 0) return;
    this.#lost += this.#end - this.#start;
    this.#bytes = EMPTY;
    this.#buffer = EMPTY.buffer;
    this.#start = this.#end = 0;
  }

  /** Throws, once, if bytes went with a block a caller transferred away. */
  #checkLost(): void {
    this.#dropDetached();
    const lost = this.#lost;
    if (lost === 0) return;
    this.#lost = 0;
    throw new TypeError(
      `Cannot read from ${this.#owner.peer()}: ${lost} received bytes were lost, since a result's buffer was transferred away while they were in it; slice() a result before transferring its buffer`,
    );
  }
}
