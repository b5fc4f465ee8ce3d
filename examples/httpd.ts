// deno run --allow-net --allow-read examples/httpd.ts [ROOT] [--port 8000] [--host H] [--timeout MS]
//   [--max-connections N]
//
// Bluelet's web server: files from ROOT (default "."), GET/HEAD, index.html, listings,
// keep-alive; one coroutine per connection, so a slow client never stalls the others. A
// request's real path (symlinks followed) must lie inside the real root, or it is a 404, as
// is anything but a regular file or a directory (a FIFO, an index.html that is a directory);
// one the server may not read is a 403. Names that start with a dot (.git, .env) are
// neither served nor listed.
// A request head must arrive within --timeout ms (default 10 s; after a connection's first
// request, of its first byte), and a line of it that ends in a bare LF is a 400 at once. A
// connection that moves no byte for a minute is closed, and at most 400 clients are served
// at once (--max-connections: each holds a socket and a file, so keep it under half of
// `ulimit -n`; past the limit Deno aborts the process). A request body is never read: the
// answer says the connection closes, and what the client still sends is read and dropped
// for up to 5 s first, so that the answer is not lost. Ctrl-C (or SIGTERM) stops
// accepting, closes idle connections and lets open requests finish.
// Outside this repository, import from "jsr:@bluelet/bluelet" instead of "../mod.ts".
import * as bluelet from "../mod.ts";
import { numberArg, portArg, printListening, runCommand, textArg, UsageError } from "./_command.ts";

/** A response: a status, and a body given as text or as a file (opened) to stream. */
type Reply = { status: string; type: string; text?: string; file?: Deno.FsFile; size: number };
const TEXT = "text/plain;charset=utf-8";
const HTML = "text/html;charset=utf-8";
// A Map, not an object: an extension such as `.constructor` must find nothing.
const CONTENT_TYPES = new Map([
  ["html", HTML],
  ["txt", TEXT],
  ["css", "text/css"],
  ["js", "text/javascript"],
  ["json", "application/json"],
  ["svg", "image/svg+xml"],
  ["png", "image/png"],
]);
const HEAD_LIMIT = 16384; // bytes: past it, a 414 if the request line is that long, else a 431
// RFC 3986's uri-host [":" port], lowercased: a bracketed IP literal, or a name or IPv4
// address (maybe empty). Anything else (a space, "/", "@") is a 400.
const HOST = /^(\[[\w.:~!$&'()*+,;=-]+\]|([\w.~!$&'()*+,;=-]|%[\da-f]{2})*)(:\d*)?$/;
// An absolute-form target's scheme and authority, which must be a valid Host.
const ABSOLUTE_FORM = /^https?:\/\/([^/?#]*)/i;
const esc = (s: string) => s.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
const reply = (status: string, text = status + "\n", type = TEXT): Reply => ({
  status,
  type,
  text,
  size: new TextEncoder().encode(text).length,
});

/** The real path of `path` under `root` (a real path ending in /), if it stays inside. */
function* resolve(root: string, path: string): bluelet.Coroutine<string | null> {
  const real = yield* bluelet.until(Deno.realPath(root + path).catch(() => ""));
  if (!real || !(real + "/").startsWith(root)) return null;
  // A link with a plain name may lead to a dotfile (`envlink -> .env`): not served either.
  return hidden(real.slice(root.length - 1)) ? null : real;
}

/** Whether a path has a name that starts with a dot (.git, .env): never served or listed. */
function hidden(path: string): boolean {
  return path.split("/").some((segment) => segment.startsWith("."));
}

/**
 * Answers a GET or HEAD for `target` from `root`, a real path ending in /. The file is
 * opened here (for HEAD too, which reads none of it), before any of the answer goes out:
 * one the server may not read is a 403, and one removed since it was found a 404, not a 200
 * cut short.
 */
export function* respond(root: string, target: string): bluelet.Coroutine<Reply> {
  // The absolute form ("GET http://host/a.txt"), which a server must take (RFC 9112,
  // 3.2.2), names the same file as its path: this server has one root for every host.
  const origin = ABSOLUTE_FORM.exec(target);
  if (origin !== null) {
    // A host it must have (RFC 9110, 4.2.1): "http://:80/a.txt" has none.
    const host = origin[1].replace(/:\d*$/, "");
    if (host === "" || !HOST.test(origin[1].toLowerCase())) return reply("400 Bad Request");
    target = target.slice(origin[0].length);
    if (target[0] !== "/") target = "/" + target; // "http://host" or "http://host?q"
  }
  const raw = target.split("?")[0];
  let path = "\0"; // Stays so, and is refused, if an escape is malformed.
  try {
    path = decodeURIComponent(raw).replace(/\/+/g, "/");
  } catch { /* refused below */ }
  // A fragment is no part of a request (RFC 9112, 3.2).
  if (raw[0] !== "/" || /\p{Cc}/u.test(path) || target.includes("#")) {
    return reply("400 Bad Request");
  }
  // Dot segments out first, as a URL's (RFC 3986, 5.2.4): Deno takes them out of a path
  // itself unless every permission is granted, so "/a.txt/." would otherwise be the file
  // or not found, by the permissions the server runs with.
  path = withoutDotSegments(path);
  // Dotfiles (.git, .env) are neither served nor listed: they hold what a site does not
  // publish.
  if (hidden(path)) return reply("404 Not Found");
  const real = yield* resolve(root, path);
  if (real === null) return reply("404 Not Found");
  try {
    return yield* found(root, path, real);
  } catch (error) {
    if (error instanceof Deno.errors.PermissionDenied) return reply("403 Forbidden");
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return reply("404 Not Found");
    }
    throw error;
  }
}

/** Answers for `real`, the real path of `path`, which exists (or did a moment ago). */
function* found(root: string, path: string, real: string): bluelet.Coroutine<Reply> {
  const isDir = (yield* bluelet.until(Deno.stat(real))).isDirectory;
  if (!isDir && path.endsWith("/")) return reply("404 Not Found"); // a file is no directory
  const file = isDir ? yield* resolve(root, path.replace(/\/?$/, "/index.html")) : real;
  if (file === null) { // A directory without an index.html: list it.
    const entries = yield* bluelet.until(Array.fromAsync(Deno.readDir(real)));
    const base = path.replace(/\/?$/, "/").split("/").map(encodeURIComponent).join("/");
    const items: string[] = [];
    for (const { name, isDirectory, isSymlink } of entries) {
      if (name.startsWith(".")) continue; // not served either (see `respond`)
      // Nor is a link that leads out of the root, or to a dotfile.
      if (isSymlink && (yield* resolve(root, `${path}/${name}`)) === null) continue;
      const s = isDirectory ? "/" : "";
      // Deno gives a name that is not UTF-8 with U+FFFD in place of its bad bytes: a link to
      // that name would find nothing, so there is none.
      if (name.includes("\uFFFD") && !(yield* exists(`${real}/${name}`))) {
        items.push(`<li>${esc(name + s)} (not UTF-8: cannot be served)</li>\n`);
        continue;
      }
      const href = base + encodeURIComponent(name) + s;
      items.push(`<li><a href="${esc(href)}">${esc(name + s)}</a></li>\n`);
    }
    const title = `<title>${esc(path)}</title><h1>${esc(path)}</h1>\n`;
    return reply("200 OK", title + items.sort().join(""), HTML);
  }
  const { isFile, size } = yield* bluelet.until(Deno.stat(file));
  if (!isFile) return reply("404 Not Found"); // an index.html that is a directory, a FIFO
  const type = CONTENT_TYPES.get(file.split(".").at(-1)!) ?? "application/octet-stream";
  const opened = yield* bluelet.until(Deno.open(file));
  return { status: "200 OK", type, file: opened, size };
}

/** `path`, which starts with "/", with its "." and ".." segments taken out. */
function withoutDotSegments(path: string): string {
  const kept: string[] = [];
  const segments = path.split("/").slice(1);
  for (const [i, segment] of segments.entries()) {
    const last = i === segments.length - 1;
    if (segment === "..") kept.pop();
    if (segment === "." || segment === "..") {
      if (last) kept.push(""); // "/a/." is "/a/", a directory
      continue;
    }
    kept.push(segment);
  }
  return "/" + kept.join("/");
}

/** Whether `path` names something (a link that leads nowhere too). */
function* exists(path: string): bluelet.Coroutine<boolean> {
  return yield* bluelet.until(Deno.lstat(path).then(() => true, () => false));
}

/**
 * Sends the first `size` bytes of a file in chunks, so that a big file never sits in memory
 * whole, and a file that grows meanwhile (a log) still matches its Content-Length. Gives
 * false if the file has shrunk below `size`: the response can then not be completed.
 */
function* sendFile(
  conn: bluelet.Connection,
  file: Deno.FsFile,
  size: number,
): bluelet.Coroutine<boolean> {
  const chunk = new Uint8Array(65536);
  for (let sent = 0; sent < size;) {
    const n = yield* bluelet.until(
      file.read(chunk.subarray(0, Math.min(chunk.length, size - sent))),
    );
    if (n === null) return false;
    yield* conn.sendall(chunk.subarray(0, n));
    sent += n;
  }
  return true;
}

/** How long a closing connection goes on reading what its client still sends: see `linger`. */
const LINGER_MS = 5000;

/**
 * Ends the server's side of a connection about to close while its client may still be
 * sending (a request body the server never reads, the rest of a malformed head), then reads
 * and drops what comes until the client closes too, for at most LINGER_MS. Closing with
 * bytes unread makes the system reset the connection, and a reset can reach the client
 * before it has read the answer, which is then lost. (What nginx calls a lingering close.)
 */
function* linger(conn: bluelet.Connection): bluelet.Coroutine<void> {
  yield* conn.closeWrite();
  yield* bluelet.moveOnAfter(LINGER_MS, drain(conn));
}

/** Reads until the end of the stream, dropping every byte, into one reused array. */
function* drain(conn: bluelet.Connection): bluelet.Coroutine<void> {
  const scratch = new Uint8Array(65536);
  while ((yield* bluelet.recvInto(conn, scratch)) > 0);
}

/** Ends when `signal` aborts. */
function* aborted(signal: AbortSignal): bluelet.Coroutine<void> {
  const { promise, resolve } = Promise.withResolvers<void>();
  // The listener goes when this thread does: a wait per request must not pile them up.
  signal.addEventListener("abort", () => resolve(), { signal: yield* bluelet.useAbortSignal() });
  if (!signal.aborted) yield* bluelet.until(promise);
}

/**
 * Reads a request head, up to its blank line. A connection's first head must come within
 * `timeout` ms (a client that sends nothing must not hold a place for long); a later one,
 * within `timeout` ms of its first byte (a keep-alive connection idle between requests is
 * the server's idle timeout's to close). Gives "" at the end of the stream, or if the
 * server stops before the head's first byte: a client between requests has none to finish.
 */
function* readHead(
  conn: bluelet.Connection,
  stopping: AbortSignal,
  timeout: number,
  first: boolean,
): bluelet.Coroutine<string> {
  if (first) return yield* bluelet.withTimeout(timeout, headOf(conn, stopping));
  return yield* headOf(conn, stopping, timeout);
}

/** Reads a head; its bytes after the first must come within `timeout` ms, if given. */
function* headOf(
  conn: bluelet.Connection,
  stopping: AbortSignal,
  timeout?: number,
): bluelet.Coroutine<string> {
  // The first byte alone: a stop ends the wait for a request, never a request begun.
  const first = yield* bluelet.race([conn.recv(1), aborted(stopping)]);
  if (!first?.length) return "";
  const rest = restOfHead(conn, first);
  return timeout === undefined ? yield* rest : yield* bluelet.withTimeout(timeout, rest);
}

/** A request head over HEAD_LIMIT, with the status that answers it. */
class HeadTooLongError extends Error {
  constructor(readonly status: string) {
    super(`Cannot read a request head: it is over ${HEAD_LIMIT} bytes`);
  }
}

/**
 * Reads a head's lines after its `first` byte, up to its blank line, or up to the first
 * line that ends in a bare LF: that head is malformed, and is answered at once rather than
 * when the timeout ends a wait for a CRLF CRLF that may never come.
 */
function* restOfHead(conn: bluelet.Connection, first: Uint8Array): bluelet.Coroutine<string> {
  const decoder = new TextDecoder();
  let head = decoder.decode(first);
  let size = first.length;
  for (;;) {
    // Lines that fill the limit leave no room for the blank line that ends the head.
    if (size >= HEAD_LIMIT) throw new HeadTooLongError("431 Request Header Fields Too Large");
    let line: Uint8Array;
    try {
      line = yield* conn.readline("\n", { maxLength: HEAD_LIMIT - size });
    } catch (error) {
      if (!(error instanceof bluelet.LineTooLongError)) throw error;
      // Its request line is that long, or the lines after it are.
      throw new HeadTooLongError(
        size === first.length ? "414 URI Too Long" : "431 Request Header Fields Too Large",
      );
    }
    if (line.length === 0) return head; // the stream ended inside the head
    head += decoder.decode(line);
    size += line.length;
    if (!head.endsWith("\r\n") || head.endsWith("\r\n\r\n")) return head;
  }
}

/** Gives the handler for one connection, serving `root` (a real path ending in /). */
export function handler(
  root: string,
  { log = console.log, timeout = 10_000, stopping = new AbortController().signal } = {},
) {
  return function* webrequest(conn: bluelet.Connection): bluelet.Coroutine<void> {
    for (let keepAlive = true, first = true; keepAlive; first = false) {
      let request = "";
      let tooLong = ""; // the status for a head over HEAD_LIMIT
      try {
        request = yield* readHead(conn, stopping, timeout, first);
      } catch (error) {
        if (error instanceof bluelet.TimeoutError) { // A client too slow to send its head.
          const head = "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n";
          return yield* conn.sendall(head + "Connection: close\r\n\r\n");
        }
        if (!(error instanceof HeadTooLongError)) throw error;
        tooLong = error.status;
      }
      if (!request && !tooLong) return; // The client closed, or the server stops, between requests.
      const [line, ...rest] = request.slice(0, -4).split("\r\n");
      const [method, target, version] = line.split(" ");
      const fields = rest.map((field) => field.toLowerCase().split(":")); // [name, ...value]
      const values = (name: string) =>
        fields.filter(([n]) => n === name).map(([, ...value]) => value.join(":").trim());
      const has = (name: string) => values(name).length > 0;
      // Connection is a comma-separated list of tokens, maybe over several fields.
      const connection = values("connection").flatMap((v) => v.split(",").map((t) => t.trim()));
      const hosts = values("host"); // exactly one, and valid; HTTP/1.0 may send none
      const valid = request.endsWith("\r\n\r\n") && /^[A-Z]+ [!-~]+ HTTP\/1\.[01]$/.test(line) &&
        rest.every((field) => /^[^\s:]+:/.test(field)) &&
        (hosts.length === 0 ? version === "HTTP/1.0" : hosts.length === 1 && HOST.test(hosts[0]));
      const { status, type, text, file, size } = valid && ["GET", "HEAD"].includes(method)
        ? yield* respond(root, target)
        : reply(valid ? "405 Method Not Allowed" : tooLong || "400 Bad Request");
      using _file = file; // closed however this request ends
      log(`${valid ? `${method} ${target}` : "(malformed request)"} ${status}`);
      // HTTP/1.1 persists by default, 1.0 if asked; a malformed request, an unread request
      // body or a shutdown ends it. A 404 or 405 was read whole, so the next one can follow.
      keepAlive = valid &&
        (version === "HTTP/1.1" || connection.includes("keep-alive")) &&
        !connection.includes("close") && !has("content-length") && !has("transfer-encoding") &&
        !stopping.aborted;
      const allow = status.startsWith("405") ? "Allow: GET, HEAD\r\n" : "";
      yield* conn.sendall(
        `HTTP/1.1 ${status}\r\nContent-Length: ${size}\r\n${allow}Content-Type: ${type}\r\n` +
          `Connection: ${keepAlive ? "keep-alive" : "close"}\r\n\r\n${
            method === "HEAD" ? "" : text ?? ""
          }`,
      );
      if (file && method !== "HEAD" && !(yield* sendFile(conn, file, size))) {
        return log(`${method} ${target}: the file shrank while sent, connection closed`);
      }
      const unread = !valid || has("content-length") || has("transfer-encoding");
      if (!keepAlive && unread) yield* linger(conn);
    }
  };
}

/**
 * Serves `[ROOT] [--port N] [--host H] [--timeout MS] [--max-connections N]` until SIGINT or
 * SIGTERM.
 */
export async function main(args: readonly string[]): Promise<void> {
  let [root, port, host, timeout, maxConnections] = [".", 8000, "127.0.0.1", 10_000, 400];
  let rootGiven = false;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--port") port = portArg(args[i], args[++i]);
    else if (args[i] === "--host") host = textArg(args[i], args[++i]);
    else if (args[i] === "--timeout") timeout = numberArg(args[i], args[++i]);
    else if (args[i] === "--max-connections") maxConnections = numberArg(args[i], args[++i]);
    else if (args[i].startsWith("--") || rootGiven) {
      throw new UsageError(`Unknown argument: ${args[i]}`);
    } else [root, rootGiven] = [args[i], true];
  }
  if (!(Number.isInteger(maxConnections) && maxConnections > 0)) {
    throw new UsageError(
      `Cannot serve files: --max-connections must be a positive integer, got ${maxConnections}`,
    );
  }
  if (!(timeout > 0)) {
    throw new UsageError(
      `Cannot serve files: --timeout must be a positive number of milliseconds, got ${timeout}`,
    );
  }
  let real: string;
  try {
    real = await Deno.realPath(root);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    throw new UsageError(`Cannot serve files: no such directory: ${root}`, { cause: error });
  }
  if (!(await Deno.stat(real)).isDirectory) {
    throw new UsageError(`Cannot serve files: not a directory: ${root}`);
  }
  real = real.replace(/\/?$/, "/");
  const stop = new AbortController();
  const signals = ["SIGINT", "SIGTERM"] as const;
  const onSignal = () => stop.abort();
  for (const signal of signals) Deno.addSignalListener(signal, onSignal);
  await bluelet.run(bluelet.server(host, port, handler(real, { timeout, stopping: stop.signal }), {
    onListen: printListening,
    maxConnections, // a socket and a file each: 400 is well below the usual `ulimit -n` of 1024
    idleTimeout: 60_000, // a keep-alive client idle between requests, or that stops reading
    signal: stop.signal,
    gracePeriod: 5000,
  }));
  for (const signal of signals) Deno.removeSignalListener(signal, onSignal);
  console.log("stopped");
}

if (import.meta.main) {
  await runCommand(
    main,
    "deno task httpd [ROOT] [--port N] [--host H] [--timeout MS] [--max-connections N]",
  );
}
