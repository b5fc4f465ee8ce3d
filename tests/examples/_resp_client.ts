// A RESP client for the kv tests: it sends requests byte for byte and gives each reply as
// the raw bytes the server sent (a binary string, one char per byte), so that tests compare
// exact bytes rather than parsed values.

/**
 * A binary string (one char per byte) as bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bytesOf } from "./_resp_client.ts";
 *
 * assert.deepEqual(bytesOf("\x00\xff"), Uint8Array.of(0, 255));
 * ```
 */
export function bytesOf(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

/**
 * Encodes a request as a RESP array of bulk strings.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encode } from "./_resp_client.ts";
 *
 * assert.equal(encode("GET", "k"), "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
 * ```
 */
export function encode(...args: string[]): string {
  return `*${args.length}\r\n` + args.map((a) => `$${a.length}\r\n${a}\r\n`).join("");
}

/** Where the reply that starts at `at` ends, or -1 if it is not all there yet. */
function replyEnd(text: string, at: number): number {
  const lineEnd = text.indexOf("\r\n", at);
  if (lineEnd < 0) return -1;
  const type = text[at];
  const n = Number(text.slice(at + 1, lineEnd));
  if (type === "$") {
    if (n < 0) return lineEnd + 2;
    return text.length >= lineEnd + 2 + n + 2 ? lineEnd + 2 + n + 2 : -1;
  }
  if (type === "*") {
    let end = lineEnd + 2;
    for (let i = 0; i < n; i++) {
      end = replyEnd(text, end);
      if (end < 0) return -1;
    }
    return end;
  }
  return lineEnd + 2;
}

/**
 * One connection to a RESP server; replies are given as the raw bytes that came.
 *
 * @example Against a server that answers every request with +PONG
 * ```ts
 * import assert from "node:assert/strict";
 * import { RespClient } from "./_resp_client.ts";
 *
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const served = listener.accept().then(async (conn) => {
 *   await conn.read(new Uint8Array(64));
 *   await conn.write(new TextEncoder().encode("+PONG\r\n"));
 *   conn.close();
 * });
 * using client = await RespClient.open(listener.addr.port);
 * assert.equal(await client.command("PING"), "+PONG\r\n");
 * await served;
 * listener.close();
 * ```
 */
export class RespClient implements Disposable {
  readonly #conn: Deno.Conn;
  #buffered = "";
  #eof = false;
  #closed = false;

  private constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** Connects to 127.0.0.1:`port`. */
  static async open(port: number): Promise<RespClient> {
    return new RespClient(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  /** Sends a binary string as it is. */
  async send(raw: string): Promise<void> {
    const data = bytesOf(raw);
    for (let n = 0; n < data.length;) n += await this.#conn.write(data.subarray(n));
  }

  /** Reads more; false at the end of the stream. */
  async #fill(): Promise<boolean> {
    if (this.#eof) return false;
    const chunk = new Uint8Array(64 * 1024);
    let n: number | null;
    try {
      n = await this.#conn.read(chunk);
    } catch (error) {
      if (!(error instanceof Deno.errors.ConnectionReset)) throw error;
      n = null;
    }
    if (n === null) {
      this.#eof = true;
      return false;
    }
    let text = "";
    for (let i = 0; i < n; i += 8192) {
      text += String.fromCharCode(...chunk.subarray(i, Math.min(n, i + 8192)));
    }
    this.#buffered += text;
    return true;
  }

  /**
   * Reads one whole reply and gives its raw bytes. With `pauseMs`, reads like a slow
   * client: it waits that long after each read of at most 64 KiB.
   */
  async reply(pauseMs = 0): Promise<string> {
    // A bulk reply's end is known from its first line: from then on only the length is
    // compared. Searching the text again after every read would flatten all of it each
    // time, quadratic in a reply of megabytes, and a client busy copying does not read.
    let knownEnd = -1;
    for (;;) {
      const text = this.#buffered;
      let end = -1;
      if (knownEnd >= 0) {
        if (text.length >= knownEnd) end = knownEnd;
      } else if (text.length > 0) {
        end = replyEnd(text, 0);
        const lineEnd = end < 0 && text[0] === "$" ? text.indexOf("\r\n") : -1;
        if (lineEnd >= 0) knownEnd = lineEnd + 2 + Number(text.slice(1, lineEnd)) + 2;
      }
      if (end >= 0) {
        const reply = this.#buffered.slice(0, end);
        this.#buffered = this.#buffered.slice(end);
        return reply;
      }
      if (!(await this.#fill())) {
        throw new Error(
          `Connection closed before a whole reply: ${JSON.stringify(this.#buffered.slice(0, 200))}`,
        );
      }
      if (pauseMs > 0) await new Promise((wake) => setTimeout(wake, pauseMs));
    }
  }

  /** Reads `n` replies and gives them joined, as the bytes came. */
  async replies(n: number): Promise<string> {
    let all = "";
    for (let i = 0; i < n; i++) all += await this.reply();
    return all;
  }

  /** Sends one command as a RESP array and gives the raw reply. */
  async command(...args: string[]): Promise<string> {
    await this.send(encode(...args));
    return await this.reply();
  }

  /** Reads everything until the server closes the connection (at most `limit` bytes). */
  async rest(limit = 64 * 1024 * 1024): Promise<string> {
    while (this.#buffered.length <= limit && await this.#fill());
    const rest = this.#buffered;
    this.#buffered = "";
    return rest;
  }

  /** Whether the server closed the connection, with nothing more to read. */
  async closedByServer(): Promise<boolean> {
    return this.#buffered.length === 0 && !(await this.#fill());
  }

  /**
   * Whether the server closed the connection, with nothing more to read, within `ms`
   * milliseconds. If not, this end closes it: the test has its answer either way.
   */
  async closedWithin(ms: number): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((wake) => timer = setTimeout(wake, ms, "timeout"));
    const closed = this.closedByServer();
    const first = await Promise.race([closed, timeout]);
    clearTimeout(timer);
    if (first !== "timeout") return first;
    this.close(); // ends the pending read
    await closed.catch(() => {});
    return false;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#conn.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
