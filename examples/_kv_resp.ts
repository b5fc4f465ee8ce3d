// RESP2, the Redis protocol, for examples/kv.ts: an incremental request parser that accepts
// what Redis accepts (arrays of bulk strings, and inline commands typed into a raw socket)
// with Redis's protocol errors, and a reply buffer that collects a whole pipeline's replies
// for one write.
//
// Strings are "binary strings": one char per byte (0-255), so keys and values are
// byte-exact whatever the client sends, and a JS string costs far less than a typed array
// (about 0.6 µs each in Deno).
import { Buffer } from "node:buffer";

/** The longest inline command, array count line or bulk length line Redis accepts. */
const INLINE_MAX = 64 * 1024;
/**
 * The largest bulk string, Redis's `proto-max-bulk-len`: 2^29 - 24 bytes, V8's longest
 * string (on 64-bit machines), where Redis allows 512 MB (2^29). A string of one char per
 * byte is how a value is held, so a longer one could never be; its length line gets
 * Redis's reply to a length past `proto-max-bulk-len`, `invalid bulk length`, before a
 * byte of it is awaited, and the requests before it are answered as usual.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PROTO_MAX_BULK_LEN } from "./_kv_resp.ts";
 *
 * assert.equal(PROTO_MAX_BULK_LEN, 536_870_888);
 * ```
 */
export const PROTO_MAX_BULK_LEN = 2 ** 29 - 24;
const BULK_MAX = PROTO_MAX_BULK_LEN;
/**
 * Redis's `client-query-buffer-limit`: what a client may have sent that was not executed
 * yet (bytes not parsed, arguments of a request still coming, requests waiting while it
 * is blocked).
 */
const QUERY_BUFFER_MAX = 1024 * 1024 * 1024;
const INT_MAX = 2 ** 31 - 1;
/**
 * What an argument held costs beyond its bytes: its string's header (16 bytes, the
 * string rounded up to 8) and its slot in the arguments' array, about 30 bytes as
 * measured. Counted so that a flood of empty or one-byte arguments cannot pass the query
 * buffer limit.
 */
const ARG_OVERHEAD = 32;
/**
 * What a request parsed ahead holds beyond its arguments (see `parseAhead`): its array,
 * with the spare room V8 gives an array grown by `push`, and its places in the queue of
 * requests waiting, about 170 bytes as measured.
 */
const REQUEST_OVERHEAD = 192;
/** The digits of the largest 64-bit integer, and of the least without its sign. */
const INT64_MAX_DIGITS = "9223372036854775807";
const INT64_MIN_DIGITS = "9223372036854775808";

const EMPTY = new Uint8Array(0);
const CR = 13;
const LF = 10;

/**
 * A malformed request. Its message is Redis's, without the `ERR ` prefix; the server
 * replies with it and closes the connection, as Redis does.
 *
 * @example A count that is not a number
 * ```ts
 * import assert from "node:assert/strict";
 * import { ProtocolError, RequestParser } from "./_kv_resp.ts";
 *
 * const parser = new RequestParser();
 * parser.feed(new TextEncoder().encode("*x\r\n"));
 * assert.throws(() => parser.next(), new ProtocolError("Protocol error: invalid multibulk length"));
 * ```
 */
export class ProtocolError extends Error {
  override name = "ProtocolError";
}

/**
 * Options for {@linkcode RequestParser}.
 *
 * @example A parser that holds at most 1 MiB of a client's requests
 * ```ts
 * import { RequestParser, type RequestParserOptions } from "./_kv_resp.ts";
 *
 * const options: RequestParserOptions = { queryBufferLimit: 1024 * 1024 };
 * new RequestParser(options);
 * ```
 */
export interface RequestParserOptions {
  /**
   * Redis's `client-query-buffer-limit`: how many bytes of requests not yet executed the
   * parser holds (unparsed bytes, the arguments of a request still arriving, and requests
   * parsed ahead while the client is blocked); `feed` refuses more.
   *
   * @default {1073741824}
   */
  queryBufferLimit?: number;
  /**
   * A limit shared with the parsers of other clients, on what they hold all together:
   * `feed` refuses more past it too.
   *
   * @default {undefined} (none)
   */
  budget?: QueryBudget;
}

/**
 * What the request parsers of many clients may hold all together: each client's query
 * buffer limit alone lets enough clients together fill the heap. A parser that would pass
 * it drops the parser holding the most instead, if that one holds more than it would (as
 * Redis's `maxmemory-clients` evicts the biggest clients): so one client cannot take it
 * all and lock the others out.
 *
 * @example Two parsers sharing 64 bytes
 * ```ts
 * import assert from "node:assert/strict";
 * import { QueryBudget, RequestParser } from "./_kv_resp.ts";
 *
 * const encode = (text: string) => new TextEncoder().encode(text);
 * const budget = new QueryBudget(64);
 * const one = new RequestParser({ budget });
 * const two = new RequestParser({ budget });
 * let dropped = "";
 * one.onEvicted = () => dropped = "one"; // a server closes its client here
 * one.feed(encode("*1\r\n$100\r\n" + "x".repeat(40))); // 50 bytes held
 * // Together they would hold 90: the one holding the most goes.
 * two.feed(encode("y".repeat(40)));
 * assert.equal(dropped, "one");
 * assert.equal(budget.held, 40);
 * // Past it alone, the parser feeding is refused.
 * assert.throws(() => two.feed(encode("y".repeat(30))), RangeError);
 * ```
 */
export class QueryBudget {
  /** What the parsers hold, as of their last `feed`. */
  held = 0;
  /** The parsers holding a share, among which the biggest is found. @internal */
  readonly members: Set<RequestParser> = new Set();

  /**
   * Creates a budget.
   *
   * @param limit The bytes all parsers together may hold.
   * @throws {RangeError} If `limit` is not a positive integer.
   */
  constructor(readonly limit: number) {
    if (!(Number.isInteger(limit) && limit > 0)) {
      throw new RangeError(
        `Cannot create query budget: limit must be a positive integer, got ${limit}`,
      );
    }
  }
}

/**
 * Turns bytes from one connection into requests, each an array of binary strings.
 *
 * Memory follows what arrived, never what a client claims: `*1048576` or `$536870912`
 * reserves nothing until that many bytes come. The parser is resumable: feed it chunks as
 * they arrive, however they are split, and take requests with `next()` until it gives
 * `null`.
 *
 * @example A pipeline split across two reads
 * ```ts
 * import assert from "node:assert/strict";
 * import { RequestParser } from "./_kv_resp.ts";
 *
 * const parser = new RequestParser();
 * parser.feed(new TextEncoder().encode("*2\r\n$3\r\nGET\r\n$1\r\nk"));
 * assert.equal(parser.next(), null);
 * parser.feed(new TextEncoder().encode("\r\nPING\r\n"));
 * assert.deepEqual(parser.next(), ["GET", "k"]);
 * assert.deepEqual(parser.next(), ["PING"]);
 * assert.equal(parser.next(), null);
 * ```
 */
export class RequestParser {
  #buf: Uint8Array = EMPTY;
  /** Whether `#buf` is a chunk the caller gave, which must not be written to. */
  #borrowed = false;
  #start = 0;
  #end = 0;
  /** Bulk strings still to read in the array being parsed; 0 between requests. */
  #pending = 0;
  /** The length of the bulk string being read, once its `$` line was parsed; else -1. */
  #bulkLength = -1;
  #args: string[] = [];
  /** What `#args` holds (see `ARG_OVERHEAD`), which counts against the limit too. */
  #argBytes = 0;
  /** Requests parsed ahead (see {@linkcode RequestParser.parseAhead}), from `#readyAt`. */
  #ready: string[][] = [];
  #readySizes: number[] = [];
  #readyAt = 0;
  #readyBytes = 0;
  /** The error parsing ahead met: thrown once the requests before it were taken. */
  #failure: ProtocolError | null = null;
  readonly #limit: number;
  readonly #budget: QueryBudget | null;
  /** What this parser's share of `#budget.held` is. */
  #reported = 0;
  /** Dropped by another parser, to keep within the budget: it takes nothing more. */
  #evicted = false;
  /**
   * Called when another parser drops this one to keep within their budget: the caller
   * closes the client's connection.
   */
  onEvicted: (() => void) | null = null;

  /**
   * Creates a parser for one connection.
   *
   * @param options Its limits.
   * @throws {RangeError} If `options.queryBufferLimit` is not a positive integer.
   */
  constructor(options: RequestParserOptions = {}) {
    const limit = options.queryBufferLimit ?? QUERY_BUFFER_MAX;
    if (!(Number.isInteger(limit) && limit > 0)) {
      throw new RangeError(
        `Cannot create request parser: queryBufferLimit must be a positive integer, got ${limit}`,
      );
    }
    this.#limit = limit;
    this.#budget = options.budget ?? null;
  }

  /** Gives back this parser's share of its budget, once its client is gone. */
  release(): void {
    if (this.#budget !== null) {
      this.#budget.held -= this.#reported;
      this.#budget.members.delete(this);
    }
    this.#reported = 0;
  }

  /** Gives its share back, and takes nothing more: another parser needs the room. */
  #evict(): void {
    this.release();
    this.#evicted = true;
    this.onEvicted?.();
  }

  /** Bytes received and not yet parsed into requests. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /**
   * Adds received bytes. Unless `copy` is set, the parser may keep `chunk` until it was
   * parsed, so the caller must not write to it again (a `Connection`'s reads never are).
   *
   * @param chunk The bytes.
   * @param copy Whether to copy `chunk` (for a caller that reuses its read buffer).
   * @throws {RangeError} If the requests held, not yet executed, would pass the query
   * buffer limit, or the budget shared with other clients (Redis closes such a client
   * too).
   */
  feed(chunk: Uint8Array, copy = false): void {
    // After a malformed request nothing more is parsed: the connection closes once the
    // requests before it are answered, so what comes meanwhile is dropped, not held.
    if (this.#failure !== null) return;
    const n = chunk.length;
    const live = this.#end - this.#start;
    const received = live + n + this.#argBytes + this.#readyBytes;
    if (received > this.#limit) {
      throw new RangeError("Cannot buffer request: query buffer limit reached");
    }
    // What a budget counts is what the buffer takes once this chunk is in (see `#taken`).
    const borrow = !copy && live === 0 && n > 0;
    const grown = borrow ? null : this.#grownTo(live, n);
    const capacity = borrow ? 0 : grown ?? (this.#borrowed ? 0 : this.#buf.length);
    const held = taken(live + n, capacity) + this.#argBytes + this.#readyBytes;
    if (this.#evicted) {
      throw new RangeError(
        "Cannot buffer request: dropped to free the query memory all clients share",
      );
    }
    const budget = this.#budget;
    if (budget !== null) {
      while (budget.held - this.#reported + held > budget.limit) {
        // The client holding the most goes, if it holds more than this one would.
        let biggest: RequestParser | null = null;
        let most = held;
        for (const member of budget.members) {
          if (member !== this && member.#reported > most) {
            biggest = member;
            most = member.#reported;
          }
        }
        if (biggest === null) {
          throw new RangeError(
            "Cannot buffer request: the query memory all clients share is used up",
          );
        }
        biggest.#evict();
      }
      budget.held += held - this.#reported;
      this.#reported = held;
      budget.members.add(this);
    }
    if (borrow) {
      // Nothing is pending (the usual case): parse the chunk where it is, and copy only
      // what is left of it when the next chunk comes. It is never written to.
      this.#buf = chunk;
      this.#borrowed = true;
      this.#start = 0;
      this.#end = n;
      return;
    }
    if (this.#borrowed || this.#end + n > this.#buf.length) {
      if (grown === null) {
        this.#buf.copyWithin(0, this.#start, this.#end);
      } else {
        const buffer = new Uint8Array(grown);
        buffer.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = buffer;
        this.#borrowed = false;
      }
      this.#start = 0;
      this.#end = live;
    }
    this.#buf.set(chunk, this.#end);
    this.#end += n;
  }

  /**
   * Gives the next complete request, or `null` until more bytes come. Empty requests
   * (`*0`, a blank line) are skipped, as Redis skips them.
   *
   * @returns The request's arguments, or `null`.
   * @throws {ProtocolError} If the request is malformed; the connection is then beyond use.
   */
  next(): string[] | null {
    if (this.#readyAt < this.#ready.length) {
      const ready = this.#takeReady();
      this.#report();
      return ready;
    }
    if (this.#failure !== null) throw this.#failure;
    const request = this.#parse();
    // What is held now is what its budget counts: a client may block after this request
    // (BLPOP), and must not be found holding the bytes of those it took.
    this.#report();
    return request;
  }

  /**
   * The size of the buffer `feed` makes for `live` bytes held and `n` more, copied, or
   * null if it makes none (they fit in the buffer there is, maybe moved to its front). It
   * doubles, so that a request arriving in many pieces is copied a few times only, but
   * never past the end of the bulk string it waits for: doubled at the last step, a value
   * of 256 MB took a buffer of 512 MB.
   */
  #grownTo(live: number, n: number): number | null {
    if (!this.#borrowed && live + n <= this.#buf.length) return null;
    let size = Math.max(16 * 1024, 2 * (live + n));
    if (this.#pending > 0 && this.#bulkLength >= 0) {
      size = Math.max(live + n, Math.min(size, this.#bulkLength + 2));
    }
    return size;
  }

  /**
   * Brings this parser's share of its budget up to date with what it holds, having let go
   * of a big buffer that holds nothing now (a client may block after a big request).
   */
  #report(): void {
    if (this.#start === this.#end && !this.#borrowed && this.#buf.length >= BIG_BUFFER) {
      this.#buf = EMPTY;
      this.#start = this.#end = 0;
    }
    const budget = this.#budget;
    if (budget === null || this.#evicted) return;
    const live = this.#end - this.#start;
    const held = taken(live, this.#borrowed ? 0 : this.#buf.length) + this.#argBytes +
      this.#readyBytes;
    budget.held += held - this.#reported;
    this.#reported = held;
  }

  /**
   * Parses what is buffered without giving it out yet, for a client that is blocked: its
   * requests wait for their turn, and each limit (the inline line, the header lines, the
   * query buffer) holds as it would were they executed. `next()` gives them in order,
   * then throws the protocol error met, if any; nothing sent after that error is kept.
   */
  parseAhead(): void {
    if (this.#failure !== null) return;
    try {
      this.#parseAhead();
    } finally {
      this.#report();
    }
  }

  #parseAhead(): void {
    try {
      for (;;) {
        const request = this.#parse();
        if (request === null) return;
        // What the request holds now that it is parsed, however it was sent: an inline
        // line of one-byte words holds far more than its bytes.
        let size = REQUEST_OVERHEAD;
        for (let i = 0; i < request.length; i++) size += request[i].length + ARG_OVERHEAD;
        this.#ready.push(request);
        this.#readySizes.push(size);
        this.#readyBytes += size;
      }
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      this.#failure = error;
      this.#buf = EMPTY;
      this.#borrowed = false;
      this.#start = this.#end = 0;
      this.#args = [];
      this.#argBytes = 0;
    }
  }

  #takeReady(): string[] {
    const request = this.#ready[this.#readyAt];
    this.#readyBytes -= this.#readySizes[this.#readyAt];
    if (++this.#readyAt === this.#ready.length) {
      this.#ready = [];
      this.#readySizes = [];
      this.#readyAt = 0;
      this.#readyBytes = 0;
    }
    return request;
  }

  #parse(): string[] | null {
    for (;;) {
      if (this.#pending === 0) {
        if (this.#start === this.#end) {
          // Nothing left: start again at the front, and give back a big buffer.
          this.#start = this.#end = 0;
          if (this.#borrowed || this.#buf.length > 64 * 1024) {
            this.#buf = EMPTY;
            this.#borrowed = false;
          }
          return null;
        }
        if (this.#buf[this.#start] !== 42 /* * */) {
          const inline = this.#inline();
          if (inline === null) return null;
          if (inline.length > 0) return inline;
          continue;
        }
        if (!this.#arrayHeader()) return null;
        continue;
      }
      if (this.#bulkLength < 0 && !this.#bulkHeader()) return null;
      const length = this.#bulkLength;
      if (this.#end - this.#start < length + 2) return null;
      // Like Redis, the two bytes after the data are skipped unchecked.
      this.#args.push(latin1(this.#buf, this.#start, this.#start + length));
      this.#argBytes += length + ARG_OVERHEAD;
      this.#start += length + 2;
      this.#bulkLength = -1;
      if (--this.#pending === 0) {
        const args = this.#args;
        this.#args = [];
        this.#argBytes = 0;
        return args;
      }
    }
  }

  /** Finds the CR that ends a header line, as Redis's `strchr` would (a NUL stops it). */
  #lineEnd(tooLong: string): number {
    const buf = this.#buf;
    for (let i = this.#start; i < this.#end; i++) {
      const byte = buf[i];
      if (byte === CR) {
        // The line is complete once the byte after the CR is here too.
        return i + 1 < this.#end ? i : -1;
      }
      if (byte === 0) break;
    }
    if (this.#end - this.#start > INLINE_MAX) throw new ProtocolError(tooLong);
    return -1;
  }

  #arrayHeader(): boolean {
    const cr = this.#lineEnd("Protocol error: too big mbulk count string");
    if (cr < 0) return false;
    const count = parseStrictInt(this.#buf, this.#start + 1, cr);
    if (count === null || count > INT_MAX) {
      throw new ProtocolError("Protocol error: invalid multibulk length");
    }
    this.#start = cr + 2;
    if (count > 0) this.#pending = count; // *0 and *-1 are skipped
    return true;
  }

  #bulkHeader(): boolean {
    const cr = this.#lineEnd("Protocol error: too big bulk count string");
    if (cr < 0) return false;
    const first = this.#buf[this.#start];
    if (first !== 36 /* $ */) {
      const got = first === CR || first === LF ? " " : String.fromCharCode(first);
      throw new ProtocolError(`Protocol error: expected '$', got '${got}'`);
    }
    const length = parseStrictInt(this.#buf, this.#start + 1, cr);
    if (length === null || length < 0 || length > BULK_MAX) {
      throw new ProtocolError("Protocol error: invalid bulk length");
    }
    this.#start = cr + 2;
    this.#bulkLength = length;
    return true;
  }

  #inline(): string[] | null {
    const buf = this.#buf;
    let lf = -1;
    for (let i = this.#start; i < this.#end; i++) {
      if (buf[i] === LF) {
        lf = i;
        break;
      }
      if (buf[i] === 0) break;
    }
    if (lf < 0) {
      if (this.#end - this.#start > INLINE_MAX) {
        throw new ProtocolError("Protocol error: too big inline request");
      }
      return null;
    }
    const end = lf > this.#start && buf[lf - 1] === CR ? lf - 1 : lf;
    const line = latin1(buf, this.#start, end);
    this.#start = lf + 1;
    const args = splitArgs(line);
    if (args === null) throw new ProtocolError("Protocol error: unbalanced quotes in request");
    return args;
  }
}

/**
 * Parses a decimal integer the way Redis's `string2ll` does: no sign but `-`, no leading
 * zeros, no spaces, and within 64 bits, or `null`. Past 2^53 the value is rounded, which
 * keeps what the callers look at: its sign, and that it is far too big for a length.
 */
function parseStrictInt(buf: Uint8Array, from: number, to: number): number | null {
  let i = from;
  const negative = buf[i] === 45; /* - */
  if (negative) i++;
  if (i >= to || to - i > 19) return null;
  if (buf[i] === 48 /* 0 */) return to - from === 1 ? 0 : null;
  // As long as 2^63: compared as text, since a double cannot tell them apart.
  if (to - i === 19 && latin1(buf, i, to) > (negative ? INT64_MIN_DIGITS : INT64_MAX_DIGITS)) {
    return null;
  }
  let value = 0;
  for (; i < to; i++) {
    const digit = buf[i] - 48;
    if (digit < 0 || digit > 9) return null;
    value = value * 10 + digit;
  }
  return negative ? -value : value;
}

/** From this size on, a parser's own buffer counts at its size, not the bytes in it. */
const BIG_BUFFER = 64 * 1024;

/**
 * What `live` bytes in a buffer of `capacity` take, as a budget counts it: a big buffer
 * (one of a request arriving in many pieces) all of it, since it is grown ahead of the
 * bytes (up to twice them); a small one the bytes (a client's few requests in flight).
 */
function taken(live: number, capacity: number): number {
  return capacity >= BIG_BUFFER ? Math.max(live, capacity) : live;
}

/** Bytes as a binary string, one char per byte. */
function latin1(bytes: Uint8Array, start: number, end: number): string {
  // V8 joins strings of 13 bytes or more as a chain of pieces (a cons string), several
  // times the size of a flat one: only shorter ones are joined a byte at a time.
  if (end - start < 13) {
    let text = "";
    for (let i = start; i < end; i++) text += String.fromCharCode(bytes[i]);
    return text;
  }
  if (end - start < LATIN1_NATIVE) {
    return String.fromCharCode.apply(null, bytes.subarray(start, end) as unknown as number[]);
  }
  // Longer ones by Node's decoder: one flat string, where joining 4 KiB pieces made a
  // chain of them that V8 flattened at the value's first read, and took 20 times as long
  // (1.4 s for 256 MB, during which no client was served, then 0.2 s more at its first GET).
  return Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString("latin1");
}

/** From this length on, `latin1` decodes with `Buffer` (whose view costs a typed array). */
const LATIN1_NATIVE = 4096;

/** C's `isspace`: space, \t, \n, \v, \f, \r. */
function isSpace(code: number): boolean {
  return code === 32 || (code >= 9 && code <= 13);
}

function isHex(code: number): boolean {
  return (code >= 48 && code <= 57) || (code >= 65 && code <= 70) || (code >= 97 && code <= 102);
}

const ESCAPES: Record<string, string> = { n: "\n", r: "\r", t: "\t", b: "\b", a: "\x07" };
const QUOTE = 34; // "
const APOSTROPHE = 39; // '
const BACKSLASH = 92;

/**
 * Splits an inline command into arguments as `redis-cli` and Redis do: words separated
 * by spaces, `"double quotes"` with `\n`, `\xHH` and other escapes, and `'single quotes'`.
 * A closing quote must be followed by a space or the end.
 *
 * Each argument is built from slices of the line between escapes and quotes, so the time
 * is linear in the line with a small constant: a string per character (as C's loop does
 * it) costs about 100 ns a byte, which on a long line holds the whole server.
 *
 * @param line The line, without its CRLF.
 * @returns The arguments, or `null` if a quote is unbalanced.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { splitArgs } from "./_kv_resp.ts";
 *
 * assert.deepEqual(splitArgs(`SET greeting "hello\\nworld"`), ["SET", "greeting", "hello\nworld"]);
 * assert.equal(splitArgs(`SET greeting "hello`), null);
 * ```
 */
export function splitArgs(line: string): string[] | null {
  const args: string[] = [];
  const n = line.length;
  let i = 0;
  for (;;) {
    while (i < n && isSpace(line.charCodeAt(i))) i++;
    if (i >= n) return args;
    let current = "";
    // Outside quotes: a word ends at a space, tab, CR or LF (not at \v or \f, as in Redis),
    // and a quote in it opens a quoted part.
    for (;;) {
      let j = i;
      for (; j < n; j++) {
        const code = line.charCodeAt(j);
        if (code === 32 || code === 9 || code === 10 || code === 13) break;
        if (code === QUOTE || code === APOSTROPHE) break;
      }
      current += line.slice(i, j);
      i = j;
      if (i >= n) break;
      const code = line.charCodeAt(i);
      if (code !== QUOTE && code !== APOSTROPHE) {
        i++; // the separator
        break;
      }
      const quoted = code === QUOTE ? quotedPart(line, i + 1) : singleQuotedPart(line, i + 1);
      if (quoted === null) return null;
      current += quoted.text;
      i = quoted.end;
      // The closing quote must end the argument.
      if (i < n && !isSpace(line.charCodeAt(i))) return null;
      if (i < n) i++;
      break;
    }
    args.push(current);
  }
}

/** A `"double-quoted"` part from `from`, just past its opening quote, to past its closing one. */
function quotedPart(line: string, from: number): { text: string; end: number } | null {
  const n = line.length;
  let text = "";
  let i = from;
  for (;;) {
    let j = i;
    while (j < n && line.charCodeAt(j) !== QUOTE && line.charCodeAt(j) !== BACKSLASH) j++;
    text += line.slice(i, j);
    if (j >= n) return null;
    if (line.charCodeAt(j) === QUOTE) return { text, end: j + 1 };
    // A backslash: \xHH, or an escape, or (last on the line) itself, like any character.
    if (
      line.charCodeAt(j + 1) === 120 /* x */ && isHex(line.charCodeAt(j + 2)) &&
      isHex(line.charCodeAt(j + 3))
    ) {
      text += String.fromCharCode(parseInt(line.slice(j + 2, j + 4), 16));
      i = j + 4;
    } else if (j + 1 < n) {
      const c = line[j + 1];
      text += ESCAPES[c] ?? c;
      i = j + 2;
    } else {
      text += "\\";
      i = j + 1;
    }
  }
}

/** A `'single-quoted'` part from `from`, just past its opening quote, to past its closing one. */
function singleQuotedPart(line: string, from: number): { text: string; end: number } | null {
  const n = line.length;
  let text = "";
  let i = from;
  for (;;) {
    let j = i;
    for (; j < n; j++) {
      const code = line.charCodeAt(j);
      if (code === APOSTROPHE) break;
      if (code === BACKSLASH && line.charCodeAt(j + 1) === APOSTROPHE) break;
    }
    text += line.slice(i, j);
    if (j >= n) return null;
    if (line.charCodeAt(j) === APOSTROPHE) return { text, end: j + 1 };
    text += "'"; // \' is the only escape between single quotes
    i = j + 2;
  }
}

const OK = [43, 79, 75, CR, LF]; // +OK\r\n
const NULL_BULK = [36, 45, 49, CR, LF]; // $-1\r\n

/**
 * A bulk string at least this long is not copied into the buffer: it is held as it is, and
 * copied as the client takes it (see `ReplyBuffer`). Copied at once, a reply of 2,000
 * values just under this many bytes each stalled every client for as long as it took.
 */
const HELD = 64 * 1024;
/** A held string is copied this much at a time. */
const CHUNK = 1024 * 1024;

/**
 * Replies in RESP2, appended to one growing buffer so that a whole pipeline's replies go
 * out in one write. Strings are binary strings (one char per byte).
 *
 * A long bulk string (64 KiB or more) is the exception: it is held as it is, and written a
 * chunk (at most 1 MiB) at a time, each chunk made as the one before it has been taken. Copied whole, a
 * 500 MB value would stall every client for seconds, and each client reading it would hold
 * a copy of its own. So `bytes()` may give less than `length`: write what it gives, call
 * `consume`, and ask again.
 *
 * @example The replies to `SET k v` and `GET k`
 * ```ts
 * import assert from "node:assert/strict";
 * import { ReplyBuffer } from "./_kv_resp.ts";
 *
 * const out = new ReplyBuffer();
 * out.ok();
 * out.bulk("v");
 * assert.equal(new TextDecoder().decode(out.bytes()), "+OK\r\n$1\r\nv\r\n");
 * ```
 */
export class ReplyBuffer {
  /** Where replies are appended: after everything in `#front`, if there is anything. */
  #buf: Uint8Array = new Uint8Array(4096);
  /** Where the bytes not yet written start: a partial write only moves this. */
  #start = 0;
  #length = 0;
  /**
   * What goes out before `#buf`, oldest first, once a long bulk string came: the bytes
   * before it, the string, the bytes after it up to the next long one, and so on. Null in
   * the common case, where there is none.
   */
  #front: (Uint8Array | string)[] | null = null;
  /** How much of `#front[0]` was written. */
  #frontAt = 0;
  /** How many bytes of `#front` wait to be written. */
  #frontBytes = 0;
  /** The chunk of a long string being written: its bytes, from `#chunkFrom`. */
  #chunk: Uint8Array | null = null;
  #chunkFrom = 0;
  #chunkLength = 0;

  /** How many bytes are waiting to be written. */
  get length(): number {
    return this.#length - this.#start + this.#frontBytes;
  }

  /**
   * The replies, or the first part of them (see above). The view is valid until the buffer
   * is next written to or consumed from.
   *
   * @returns A view of the bytes to write next.
   */
  bytes(): Uint8Array {
    const front = this.#front;
    if (front === null) return this.#buf.subarray(this.#start, this.#length);
    const first = front[0];
    const at = this.#frontAt;
    if (typeof first !== "string") return first.subarray(at);
    // A chunk is made once: a write that takes part of it leaves the rest for the next.
    if (this.#chunk === null || this.#chunkFrom > at || at >= this.#chunkFrom + this.#chunkLength) {
      const end = Math.min(first.length, at + CHUNK);
      // As big as needed, up to CHUNK: most held strings are far shorter.
      let chunk = this.#chunk;
      if (chunk === null || chunk.length < end - at) chunk = this.#chunk = new Uint8Array(end - at);
      for (let i = at; i < end; i++) chunk[i - at] = first.charCodeAt(i);
      this.#chunkFrom = at;
      this.#chunkLength = end - at;
    }
    return this.#chunk!.subarray(at - this.#chunkFrom, this.#chunkLength);
  }

  /** Empties the buffer once its bytes were written; a big buffer is given back. */
  clear(): void {
    this.#start = 0;
    this.#length = 0;
    this.#front = null;
    this.#frontAt = this.#frontBytes = 0;
    this.#chunk = null;
    if (this.#buf.length > 256 * 1024) this.#buf = new Uint8Array(4096);
  }

  /**
   * Drops the first `n` bytes, once they were written; replies appended meanwhile stay.
   *
   * Linear however a reply is drained: the rest is not moved after every partial write
   * (a slow reader taking 64 KiB at a time would move a 200 MB reply 3,000 times), only
   * once as much was written as is left, so each byte moves at most once for each byte
   * written before it. That is also the only time the buffer is written to below its end:
   * here, between writes, never while a write may still be reading a view of it.
   *
   * @param n How many bytes were written.
   */
  consume(n: number): void {
    if (n >= this.length) {
      this.clear();
      return;
    }
    const front = this.#front;
    if (front !== null) {
      // A write takes at most what `bytes()` gave, the rest of `#front[0]`; but any `n`
      // drops the bytes it says, in order.
      while (n > 0 && this.#front !== null) {
        const taken = Math.min(n, front[0].length - this.#frontAt);
        this.#frontAt += taken;
        this.#frontBytes -= taken;
        n -= taken;
        if (this.#frontAt === front[0].length) {
          front.shift();
          this.#frontAt = 0;
          // The chunk made is of the string just written: the next one starts at 0 too.
          this.#chunkLength = 0;
          if (front.length === 0) {
            this.#front = null;
            this.#chunk = null;
          }
        }
      }
      if (n === 0) return;
    }
    this.#start += n;
    const rest = this.#length - this.#start;
    if (this.#start >= rest) {
      this.#buf.copyWithin(0, this.#start, this.#length);
      this.#start = 0;
      this.#length = rest;
    }
  }

  /**
   * Puts `text` (a long bulk string's bytes) after everything so far, as it is: the bytes
   * before it go to `#front` first, and a new buffer takes what comes after it (the old one
   * may be in a write that is still reading it).
   */
  #later(text: string): void {
    const front = this.#front ??= [];
    const waiting = this.#length - this.#start;
    if (waiting > 0) {
      front.push(this.#buf.subarray(this.#start, this.#length));
      this.#frontBytes += waiting;
      this.#buf = new Uint8Array(4096);
      this.#start = this.#length = 0;
    }
    front.push(text);
    this.#frontBytes += text.length;
  }

  #reserve(n: number): Uint8Array {
    const need = this.#length + n;
    if (need > this.#buf.length) {
      // A new buffer, never the old one rewritten: a write in flight may be reading it.
      const rest = this.#length - this.#start;
      const grown = new Uint8Array(Math.max(rest + n, 2 * this.#buf.length));
      grown.set(this.#buf.subarray(this.#start, this.#length));
      this.#buf = grown;
      this.#start = 0;
      this.#length = rest;
    }
    return this.#buf;
  }

  #ascii(bytes: readonly number[]): void {
    const buf = this.#reserve(bytes.length);
    for (let i = 0; i < bytes.length; i++) buf[this.#length++] = bytes[i];
  }

  #text(text: string): void {
    const buf = this.#reserve(text.length);
    let at = this.#length;
    for (let i = 0; i < text.length; i++) buf[at++] = text.charCodeAt(i);
    this.#length = at;
  }

  #crlf(): void {
    const buf = this.#reserve(2);
    buf[this.#length++] = CR;
    buf[this.#length++] = LF;
  }

  /** `+OK`. */
  ok(): void {
    this.#ascii(OK);
  }

  /**
   * A simple string, `+text`.
   *
   * @param text One line of text.
   */
  simple(text: string): void {
    this.#text("+" + text);
    this.#crlf();
  }

  /**
   * An error, `-text`. Line breaks in it become spaces, as Redis makes them.
   *
   * @param text The message, with its code first (`ERR ...`, `WRONGTYPE ...`).
   */
  error(text: string): void {
    this.#text("-" + text.replace(/[\r\n]/g, " "));
    this.#crlf();
  }

  /**
   * An error that quotes a client's argument whole, as Redis's do: `-before`, the
   * argument, then `after`. The argument is written on its own, never joined into one
   * string with the rest: it may be as long as a JavaScript string can be.
   *
   * @param before The message up to the argument, with its code first.
   * @param argument The argument, as the client sent it.
   * @param after The rest of the message.
   */
  errorQuoting(before: string, argument: string, after = ""): void {
    this.#text("-" + before.replace(/[\r\n]/g, " "));
    const quoted = argument.replace(/[\r\n]/g, " ");
    if (quoted.length >= HELD) this.#later(quoted);
    else this.#text(quoted);
    if (after !== "") this.#text(after.replace(/[\r\n]/g, " "));
    this.#crlf();
  }

  /**
   * An integer, `:n`.
   *
   * @param n The integer.
   */
  integer(n: number | bigint): void {
    this.#text(":" + n);
    this.#crlf();
  }

  /**
   * A bulk string, `$length` and the bytes.
   *
   * @param value A binary string.
   */
  bulk(value: string): void {
    this.#text("$" + value.length);
    this.#crlf();
    if (value.length >= HELD) this.#later(value);
    else this.#text(value);
    this.#crlf();
  }

  /** The null bulk string, `$-1`. */
  nullBulk(): void {
    this.#ascii(NULL_BULK);
  }

  /**
   * The header of an array of `n` replies, `*n`; the replies follow.
   *
   * @param n How many.
   */
  array(n: number): void {
    this.#text("*" + n);
    this.#crlf();
  }

  /** The null array, `*-1`. */
  nullArray(): void {
    this.#text("*-1");
    this.#crlf();
  }
}
