// A connection's receive buffer. The OS read writes straight into its free tail, so a byte
// is copied once: out of the buffer, into the array a read gives its caller. The buffer is
// allocated on first use, grows only for `readline`/`recvExactly` needs, and falls back to
// its small size once it is empty again.
//
// Results are never views into the receive buffer, which the next read overwrites. But
// neither is each small result an array of its own: Deno allocates every typed array
// outside the JS heap, about 0.6-0.85 µs each whatever its size (Node keeps those of up to
// 64 bytes on the heap, 35 ns), which alone was two thirds of the net layer's cost per
// echo round trip. Small results are copied into a per-connection results block and given
// as views into it, as Node's pooled Buffers are: a block is only ever appended to, so a
// result keeps its bytes whatever is read after it; it only shares `.buffer` with the
// results before and after it.

/** The size a buffer starts at: enough for a typical recv without growing. */
const INITIAL_SIZE = 16 * 1024;
/** The least free room an OS read is given. */
const MIN_READ = 4 * 1024;
/** An empty buffer larger than this is dropped for a small one on the next read. */
const SHRINK_ABOVE = 256 * 1024;
/** The size of a results block. */
const RESULTS_BLOCK = 8 * 1024;
/** The largest result that goes into a results block; larger ones get their own array. */
const POOLED_MAX = 1024;

/** Bytes received and not yet given to a caller, in `bytes[start..end)`. */
export class ReadBuffer {
  #bytes: Uint8Array = new Uint8Array(0);
  #start = 0;
  #end = 0;
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
      if (bytes.length === 0 || bytes.length > SHRINK_ABOVE) {
        bytes = this.#bytes = new Uint8Array(INITIAL_SIZE);
      }
    } else if (bytes.length - this.#end < MIN_READ) {
      // Too little room for a useful read: slide the bytes to the front, or grow.
      if (size + MIN_READ <= bytes.length) {
        bytes.copyWithin(0, this.#start, this.#end);
      } else {
        const old = bytes;
        bytes = this.#bytes = new Uint8Array(
          Math.max(old.length * 2, size + MIN_READ),
        );
        bytes.set(old.subarray(this.#start, this.#end));
      }
      this.#start = 0;
      this.#end = size;
    }
    return this.#end === 0 ? bytes : bytes.subarray(this.#end);
  }

  /** Records that the OS read put `n` bytes into the last `tail()`. */
  commit(n: number): void {
    this.#end += n;
  }

  /**
   * Removes and gives up to `n` bytes, in an array of exactly that length that nothing
   * will write to again (see the top of this file).
   */
  take(n: number): Uint8Array {
    const start = this.#start;
    const count = Math.min(n, this.#end - start);
    const end = start + count;
    this.#start = end;
    if (count === 0) return new Uint8Array(0);
    if (count > POOLED_MAX) return this.#bytes.slice(start, end);
    let results = this.#results;
    let used = this.#resultsUsed;
    // A block whose buffer a caller transferred away has length 0, so it is replaced too.
    if (results === null || results.length - used < count) {
      results = this.#results = new Uint8Array(RESULTS_BLOCK);
      used = 0;
    }
    const out = results.subarray(used, used + count);
    out.set(this.#bytes.subarray(start, end));
    this.#resultsUsed = used + count;
    return out;
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
