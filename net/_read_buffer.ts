// A connection's receive buffer. The OS read writes straight into its free tail, so a byte
// is copied once: out of the buffer, into the exact-length array a read gives its caller.
// The buffer is allocated on first use, grows only for `readline`/`recvExactly` needs, and
// falls back to its small size once it is empty again.

/** The size a buffer starts at: enough for a typical recv without growing. */
const INITIAL_SIZE = 16 * 1024;
/** The least free room an OS read is given. */
const MIN_READ = 4 * 1024;
/** An empty buffer larger than this is dropped for a small one on the next read. */
const SHRINK_ABOVE = 256 * 1024;

/** Bytes received and not yet given to a caller, in `bytes[start..end)`. */
export class ReadBuffer {
  #bytes: Uint8Array = new Uint8Array(0);
  #start = 0;
  #end = 0;

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

  /** Removes and gives up to `n` bytes, in a new array of exactly that length. */
  take(n: number): Uint8Array {
    const start = this.#start;
    const count = Math.min(n, this.#end - start);
    const out = this.#bytes.slice(start, start + count);
    this.#start = start + count;
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
