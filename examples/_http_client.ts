// A small HTTP/1.1 GET client on bluelet's sockets, for the crawler's `bluelet` strategy.
//
// It sends one request with `Connection: close` and reads the status line and headers
// line by line, then the body by `Content-Length`, by chunks (trailers included) or up to
// the end of the stream. A server that closes before the whole body arrived is an error,
// never a short body.
//
// Outside this repository, import from "jsr:@bluelet/bluelet" instead of "../mod.ts".
import * as bluelet from "../mod.ts";

/** What {@linkcode httpGet} gives. */
export interface HttpResponse {
  /** The status code, e.g. 200. */
  status: number;
  /** The reason phrase, e.g. `OK` (may be empty). */
  statusText: string;
  /** The response headers. */
  headers: Headers;
  /** Trailer fields sent after a chunked body (empty otherwise). */
  trailers: Headers;
  /** The whole body, decoded from its transfer encoding. */
  body: Uint8Array;
}

/** Options for {@linkcode httpGet}. */
export interface HttpGetOptions {
  /**
   * How long connecting may take, in milliseconds.
   *
   * @default {undefined} (no limit)
   */
  connectTimeout?: number;
  /**
   * The longest status, header or chunk-size line accepted, in bytes.
   *
   * @default {8192}
   */
  maxLineLength?: number;
}

/** Thrown when a response cannot be read: bad syntax, or the server closed too early. */
export class HttpClientError extends Error {
  /**
   * Creates an {@linkcode HttpClientError}.
   *
   * @param message What went wrong.
   * @param options The standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "HttpClientError";
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function concat(parts: readonly Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Reads one CRLF (or LF) terminated line, without its terminator; null at EOF. */
function* readLine(
  conn: bluelet.Connection,
  maxLength: number,
): bluelet.Coroutine<string | null> {
  const line = decoder.decode(yield* conn.readline("\n", { maxLength }));
  if (!line.endsWith("\n")) return null;
  return line.endsWith("\r\n") ? line.slice(0, -2) : line.slice(0, -1);
}

/** Reads `name: value` lines up to the empty line into `headers`. */
function* readFields(
  conn: bluelet.Connection,
  headers: Headers,
  maxLength: number,
  fail: (why: string) => HttpClientError,
): bluelet.Coroutine<void> {
  for (let count = 0;; count++) {
    const line = yield* readLine(conn, maxLength);
    if (line === null) throw fail("connection closed in the header fields");
    if (line === "") return;
    if (count >= 200) throw fail("more than 200 header fields");
    const colon = line.indexOf(":");
    if (colon <= 0) {
      throw fail(`malformed header field ${JSON.stringify(line)}`);
    }
    try {
      headers.append(line.slice(0, colon), line.slice(colon + 1).trim());
    } catch (cause) {
      throw fail(`invalid header field ${JSON.stringify(line)}: ${cause}`);
    }
  }
}

/** Reads exactly `length` bytes into `parts`; `onShort` makes the error if the stream ends first. */
function* readBytes(
  conn: bluelet.Connection,
  length: number,
  parts: Uint8Array[],
  onShort: (received: number) => HttpClientError,
): bluelet.Coroutine<void> {
  let received = 0;
  while (received < length) {
    const data = yield* conn.recv(Math.min(length - received, 65536));
    if (data.length === 0) throw onShort(received);
    parts.push(data);
    received += data.length;
  }
}

/**
 * GETs an `http:` URL over a fresh connection and reads the whole response.
 *
 * @param url The URL to fetch.
 * @param options Limits.
 * @returns A coroutine giving the response (any status).
 * @throws {TypeError} If the URL is not `http:`.
 * @throws {HttpClientError} If the response is malformed or cut short.
 *
 * @example Fetching a page in a coroutine
 * ```ts ignore
 * import { run } from "jsr:@bluelet/bluelet";
 * import { httpGet } from "./_http_client.ts";
 *
 * const response = await run(httpGet("http://127.0.0.1:8000/"));
 * console.log(response.status, new TextDecoder().decode(response.body));
 * ```
 */
export function* httpGet(
  url: string | URL,
  options: HttpGetOptions = {},
): bluelet.Coroutine<HttpResponse> {
  const target = new URL(url);
  if (target.protocol !== "http:") {
    throw new TypeError(
      `Cannot fetch ${target.href}: only http: URLs are supported`,
    );
  }
  const maxLength = options.maxLineLength ?? 8192;
  const fail = (why: string) =>
    new HttpClientError(`Cannot read response from ${target.href}: ${why}`);
  const bodyFail = (why: string) =>
    new HttpClientError(
      `Cannot read response body from ${target.href}: ${why}`,
    );
  const hostname = target.hostname.replace(/^\[(.*)\]$/, "$1");
  const conn: bluelet.Connection = yield bluelet.connect(
    hostname,
    Number(target.port || 80),
    { timeout: options.connectTimeout },
  );
  try {
    yield conn.sendall(encoder.encode(
      `GET ${target.pathname}${target.search} HTTP/1.1\r\n` +
        `Host: ${target.host}\r\n` +
        `User-Agent: bluelet-example\r\nAccept: */*\r\nConnection: close\r\n\r\n`,
    ));

    // Status line and headers; interim 1xx responses are skipped.
    let status = 0, statusText = "", headers = new Headers();
    while (status < 200) {
      const line = yield* readLine(conn, maxLength);
      if (line === null) throw fail("connection closed before the status line");
      const match = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(line);
      if (!match) throw fail(`malformed status line ${JSON.stringify(line)}`);
      status = Number(match[1]);
      statusText = match[2] ?? "";
      headers = new Headers();
      yield* readFields(conn, headers, maxLength, fail);
    }

    const parts: Uint8Array[] = [];
    let size = 0;
    const trailers = new Headers();
    const codings = (headers.get("transfer-encoding") ?? "").toLowerCase();
    const contentLength = headers.get("content-length");
    if (status === 204 || status === 304) {
      // No body, whatever the headers say.
    } else if (codings.split(",").at(-1)!.trim() === "chunked") {
      for (;;) {
        const line = yield* readLine(conn, maxLength);
        if (line === null) {
          throw bodyFail(
            `connection closed after ${size} bytes of a chunked body`,
          );
        }
        const hex = line.split(";")[0].trim();
        if (!/^[0-9a-fA-F]{1,8}$/.test(hex)) {
          throw bodyFail(`malformed chunk size ${JSON.stringify(line)}`);
        }
        const chunk = parseInt(hex, 16);
        if (chunk === 0) break;
        yield* readBytes(conn, chunk, parts, (n) =>
          bodyFail(
            `connection closed after ${size + n} bytes of a chunked body, in a chunk of ${chunk}`,
          ));
        size += chunk;
        const end = yield* readLine(conn, maxLength);
        if (end !== "") {
          throw bodyFail(
            end === null
              ? `connection closed after ${size} bytes of a chunked body`
              : "chunk not followed by CRLF",
          );
        }
      }
      yield* readFields(conn, trailers, maxLength, bodyFail);
    } else if (contentLength !== null) {
      const length = Number(contentLength);
      if (!/^\d+$/.test(contentLength) || !Number.isSafeInteger(length)) {
        throw fail(`malformed Content-Length ${JSON.stringify(contentLength)}`);
      }
      yield* readBytes(
        conn,
        length,
        parts,
        (n) => bodyFail(`connection closed after ${n} of ${length} bytes`),
      );
      size = length;
    } else {
      for (;;) {
        const data = yield* conn.recv(65536);
        if (data.length === 0) break;
        parts.push(data);
        size += data.length;
      }
    }
    return { status, statusText, headers, trailers, body: concat(parts, size) };
  } finally {
    conn.close();
  }
}
