// A connection's receive buffer. The OS read writes straight into its free tail, and a
// byte is copied at most once more: into the array a read gives its caller (`recvInto`
// copies nothing when nothing is buffered: the OS read fills the caller's own array).
//
// Results are never views into room a later read writes to, so a result keeps its bytes
// whatever is read after it, and a caller that transfers a result's buffer takes nothing
// else away. Fresh memory costs about as much per byte as a copy (Deno zeroes and faults
// in every new array; `slice` skips the zeroing), so a large result is a `slice` of the
// buffer; only reusing the caller's memory (`recvInto`) does better.
//
// Small results are copied into a per-connection results block and given as views into
// it, as Node's pooled `Buffer`s are: Deno allocates every typed array outside the JS
// heap, at about 0.6 µs each whatever its size, which for small messages would cost more
// than the rest of a `recv`. A block is only ever appended to.
//
// A pending OS read holds its buffer for as long as the peer is silent, so once messages
// are small (a read brought at most 128 bytes and did not fill its room) the next read
// waits on a 256-byte buffer; a read that fills it goes back to the usual 16 KiB. Results
// blocks start at 256 bytes and double as they fill: a connection that did one small round
// trip and went idle holds 512 bytes of buffers.

/** The receive buffer once messages are small: all an idle connection's read holds. */
const SMALL_SIZE = 256;
/** A read of at most this many bytes (that did not fill the buffer) makes messages small. */
const SMALL_MESSAGE = SMALL_SIZE / 2;
/** The receive buffer otherwise: enough for a typical recv without growing. */
const INITIAL_SIZE = 16 * 1024;
/** The least free room an OS read is given while bytes are kept. */
const MIN_READ = 4 * 1024;
/** An empty buffer larger than this is dropped for a normal one on the next read. */
const SHRINK_ABOVE = 256 * 1024;
/** The first results block: small enough to keep while idle. */
const RESULTS_BLOCK = 256;
/** The largest results block. */
const MAX_BLOCK = 8 * 1024;
/** The largest result that goes into a results block; larger ones get their own array. */
const POOLED_MAX = 1024;

const EMPTY = new Uint8Array(0);

/** The smallest power of two at or above `n`. */
function ceilPow2(n: number): number {
  return n <= 1 ? 1 : 2 ** Math.ceil(Math.log2(n));
}

/** Bytes received and not yet given to a caller, in `bytes[start..end)`. */
export class ReadBuffer {
  #bytes: Uint8Array = EMPTY;
  #start = 0;
  #end = 0;
  /**
   * Whether the last read was small: the next one waits on a small buffer. A connection
   * starts so: a big first message costs one more read, an idle one no memory to speak of.
   */
  #small = true;
  /** The room the last `tail()` gave. */
  #given = 0;
  /** Where small results go, and how much of it they use. */
  #results: Uint8Array | null = null;
  #resultsUsed = 0;

  /** How many bytes are buffered. */
  get size(): number {
    return this.#end - this.#start;
  }

  /**
   * Makes room at the tail and gives it, for the next OS read to fill. Only one such view
   * may be outstanding: the caller must `commit` before asking again.
   */
  tail(): Uint8Array {
    const size = this.#end - this.#start;
    let bytes = this.#bytes;
    if (size === 0) {
      this.#start = this.#end = 0;
      const length = bytes.length;
      if (this.#small ? length !== SMALL_SIZE : length < INITIAL_SIZE || length > SHRINK_ABOVE) {
        bytes = this.#bytes = new Uint8Array(this.#small ? SMALL_SIZE : INITIAL_SIZE);
      }
    } else if (bytes.length - this.#end < MIN_READ) {
      // Too little room for a useful read: slide the bytes to the front, or grow.
      if (size + MIN_READ <= bytes.length) {
        bytes.copyWithin(0, this.#start, this.#end);
      } else {
        const old = bytes;
        bytes = this.#bytes = new Uint8Array(Math.max(old.length * 2, size + MIN_READ));
        bytes.set(old.subarray(this.#start, this.#end));
      }
      this.#start = 0;
      this.#end = size;
    }
    const end = this.#end;
    this.#given = bytes.length - end;
    return end === 0 ? bytes : bytes.subarray(end);
  }

  /** Records that the OS read put `n` bytes into the last `tail()`, and adapts to it. */
  commit(n: number): void {
    this.#end += n;
    // A read that filled its room may have left more waiting: not small, whatever its size.
    this.#small = n <= SMALL_MESSAGE && n < this.#given;
  }

  /**
   * Removes and gives up to `n` bytes, in an array of exactly that length that nothing
   * will write to again (see the top of this file).
   */
  take(n: number): Uint8Array {
    const start = this.#start;
    const end = this.#end;
    const count = Math.min(n, end - start);
    if (count === 0) return new Uint8Array(0);
    this.#start = start + count;
    const bytes = this.#bytes;
    if (count > POOLED_MAX) return bytes.slice(start, start + count);
    let results = this.#results;
    let used = this.#resultsUsed;
    // A block whose buffer a caller transferred away has length 0, so it is replaced too.
    if (results === null || results.length - used < count) {
      // Sized for a few results like this one.
      // Each block twice the last (a busy connection soon allocates rarely), and room
      // for a few results like this one.
      const last = results === null ? RESULTS_BLOCK / 2 : results.length;
      results = this.#results = new Uint8Array(
        Math.min(Math.max(last * 2, ceilPow2(count) * 4), MAX_BLOCK),
      );
      used = 0;
    }
    const out = results.subarray(used, used + count);
    out.set(bytes.subarray(start, start + count));
    this.#resultsUsed = used + count;
    return out;
  }

  /** Moves up to `target.length` buffered bytes into `target`; gives how many. */
  takeInto(target: Uint8Array): number {
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
}
