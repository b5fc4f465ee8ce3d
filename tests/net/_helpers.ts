// Shared by the net tests: address helpers, a server started inside a run, and test TLS
// certificates made with openssl at test time (no key is committed to the repository).
import { ok } from "node:assert/strict";
import {
  connect,
  type Connection,
  type Coroutine,
  kill,
  Listener,
  type ListenerOptions,
  type Operation,
  server,
  type ServerOptions,
  spawn,
  yieldNow,
} from "../../mod.ts";

const decoder = new TextDecoder();

/** Decodes bytes as UTF-8. */
export function text(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/** The port of a TCP address. */
export function portOf(addr: Deno.Addr): number {
  ok(addr.transport === "tcp", `expected a TCP address, got ${addr.transport}`);
  return addr.port;
}

/** Runs `op` and gives what it threw; fails if it did not throw. */
export function* thrown(op: Operation<unknown>): Coroutine<unknown> {
  try {
    yield* op;
  } catch (error) {
    return error;
  }
  throw new Error("expected the operation to throw");
}

/** The README echo handler, exactly as users write it. */
export function* echoer(conn: Connection): Coroutine<void> {
  while (true) {
    const data = yield conn.recv(1024);
    if (data.length === 0) break;
    yield conn.sendall(data);
  }
}

/**
 * Starts `server(host, 0, handler, options)` in a thread of the current run, runs `body`
 * with the address it listens on, then kills the server.
 */
export function* withServer<T>(
  handler: (conn: Connection) => Coroutine<unknown>,
  options: ServerOptions & { host?: string },
  body: (addr: Deno.NetAddr | Deno.UnixAddr) => Coroutine<T>,
): Coroutine<T> {
  let addr: Deno.NetAddr | Deno.UnixAddr | undefined;
  const task = yield* spawn(
    server(options.host ?? "127.0.0.1", 0, handler, {
      ...options,
      onListen: (listening) => addr = listening,
    }),
  );
  yield* yieldNow(); // the server thread runs up to its first accept
  ok(addr !== undefined, "server did not call onListen");
  try {
    return yield* body(addr);
  } finally {
    yield* kill(task);
  }
}

/** A temporary directory for Unix sockets and certificates, removed by `dispose`. */
export async function tempDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "bluelet_net_" });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }),
  };
}

/**
 * Makes a self-signed certificate for `localhost`, `127.0.0.1` and `::1`. rustls refuses a
 * server certificate marked as a CA, hence `CA:FALSE`.
 */
export async function makeCertificate(): Promise<
  { cert: string; key: string }
> {
  await using dir = await tempDir();
  const cert = `${dir.path}/cert.pem`;
  const key = `${dir.path}/key.pem`;
  const output = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      key,
      "-out",
      cert,
      "-days",
      "2",
      "-subj",
      "/CN=localhost",
      "-addext",
      "basicConstraints=critical,CA:FALSE",
      "-addext",
      "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1",
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  ok(output.success, `openssl failed: ${decoder.decode(output.stderr)}`);
  return {
    cert: await Deno.readTextFile(cert),
    key: await Deno.readTextFile(key),
  };
}

/** Both ends of one connection, closed together by `using`. */
export interface Pair extends Disposable {
  /** The end that connected. */
  client: Connection;
  /** The end that was accepted. */
  peer: Connection;
}

/** Makes a connected pair over loopback TCP (or the transport `options` name). */
export function* socketPair(
  options: ListenerOptions & { host?: string } = {},
): Coroutine<Pair> {
  const host = options.host ?? "127.0.0.1";
  using listener = new Listener(host, 0, options);
  const client = yield* connect(
    host,
    listener.addr.transport === "tcp" ? listener.addr.port : 0,
    { transport: options.transport, path: options.path },
  );
  const peer = yield* listener.accept();
  return {
    client,
    peer,
    [Symbol.dispose]() {
      client.close();
      peer.close();
    },
  };
}

/** A server script run in a process of its own under `ulimit -n`; see {@linkcode underUlimit}. */
export interface LimitedServer {
  /** The port from its first line, `listening PORT budget N`. */
  readonly port: number;
  /** How many connections its descriptor guard allows, from the same line. */
  readonly budget: number;
  /** Sends SIGTERM; gives what it printed after its first line, its exit code and stderr. */
  stop(): Promise<{ rest: string; code: number; stderr: string }>;
}

/**
 * Starts `deno run --quiet -A [flags] script [args]` (or with `permissions` for `-A`) under
 * `ulimit -n limit` (Linux), and reads the first line it prints, `listening PORT budget N`.
 */
export async function underUlimit(
  limit: number,
  script: string,
  options: { flags?: string[]; args?: string[]; permissions?: string[] } = {},
): Promise<LimitedServer> {
  const flags = [...options.permissions ?? ["-A"], ...options.flags ?? []];
  const args = options.args ?? [];
  const child = new Deno.Command("bash", {
    args: [
      "-c",
      `ulimit -n ${limit} && exec "$0" run --quiet ${flags.join(" ")} "$@"`,
      Deno.execPath(),
      script,
      ...args,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const stderr = new Response(child.stderr).text();
  const first = (await lines.read()).value ?? "";
  const match = /^listening (\d+) budget (\d+|Infinity)/.exec(first);
  if (match === null) {
    child.kill("SIGKILL");
    await child.status;
    await lines.cancel();
    throw new Error(`Unexpected first line: ${first} ${await stderr}`);
  }
  return {
    port: Number(match[1]),
    budget: Number(match[2]),
    async stop() {
      child.kill("SIGTERM");
      const rest = [];
      for (let r = await lines.read(); !r.done; r = await lines.read()) rest.push(r.value);
      const status = await child.status;
      return { rest: rest.join("").trim(), code: status.code, stderr: await stderr };
    },
  };
}
