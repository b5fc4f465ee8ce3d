// Memory per idle connection: an echo server gets 4,000 connections, each does one
// 64-byte round trip and then stays open and silent; the server's resident memory grows
// by so much per connection. Compared: bluelet's `server`; a `Deno.listen` server with a
// 16 KiB buffer per connection (the main peer, the same as bench/echo_bench.ts's), with a
// 64 KiB one (the naive way) and with a 4 KiB one (small); and Node's `net` (when `node` is
// on PATH). A plain server's pending read holds its whole buffer, so its rows show what
// the buffer size costs an idle connection.
//
// Run: deno run --allow-run --allow-net=127.0.0.1 --allow-read bench/idle_memory.ts
//      (or `deno task bench:memory`; `--connections N` to change the count)
//
// Each server runs in a process of its own and reports its resident set size (RSS) after
// a full garbage collection, once before the clients connect and once after: the
// difference over the count of connections is the cost of one idle connection, the
// runtime's share (socket, resource table, promise of the pending read) included.
const MESSAGE = new Uint8Array(64).fill(42);

const NODE_SERVER = `
const net = require("node:net");
const server = net.createServer((socket) => {
  socket.on("data", (data) => socket.write(data));
  socket.on("error", () => {});
});
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
process.stdin.on("data", () => { global.gc?.(); console.log(process.memoryUsage().rss); });
`;

/** A server process that answers each stdin line with its RSS. */
class ServerProcess {
  readonly #child: Deno.ChildProcess;
  readonly #lines: ReadableStreamDefaultReader<string>;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  #pending = "";

  constructor(command: string, args: string[]) {
    this.#child = new Deno.Command(command, {
      args,
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#lines = this.#child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    this.#stdin = this.#child.stdin.getWriter();
  }

  async line(): Promise<string> {
    for (;;) {
      const newline = this.#pending.indexOf("\n");
      if (newline >= 0) {
        const line = this.#pending.slice(0, newline);
        this.#pending = this.#pending.slice(newline + 1);
        return line;
      }
      const { value, done } = await this.#lines.read();
      if (done) throw new Error("Cannot measure: the server exited");
      this.#pending += value;
    }
  }

  async rss(): Promise<number> {
    await this.#stdin.write(new TextEncoder().encode("rss\n"));
    return Number(await this.line());
  }

  async stop(): Promise<void> {
    await this.#stdin.close();
    this.#child.kill("SIGTERM");
    await this.#child.status;
    await this.#lines.cancel();
  }
}

/** One round trip on a fresh connection; the connection stays open. */
async function connectAndEcho(port: number): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(MESSAGE);
  const reply = new Uint8Array(MESSAGE.length);
  for (let got = 0; got < reply.length;) {
    const n = await conn.read(reply.subarray(got));
    if (n === null) throw new Error("Cannot echo: the server closed the connection");
    got += n;
  }
  return conn;
}

/** The bytes of server memory per idle connection. */
async function measure(command: string, args: string[], count: number): Promise<number> {
  const server = new ServerProcess(command, args);
  const conns: Deno.TcpConn[] = [];
  try {
    const port = Number(await server.line());
    // Warm up: the code paths are compiled and the first buffers exist before measuring.
    for (let i = 0; i < 100; i++) (await connectAndEcho(port)).close();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const before = await server.rss();
    for (let i = 0; i < count; i += 200) {
      const batch = Math.min(200, count - i);
      conns.push(...await Promise.all(Array.from({ length: batch }, () => connectAndEcho(port))));
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    const after = await server.rss();
    return (after - before) / count;
  } finally {
    for (const conn of conns) conn.close();
    await server.stop();
  }
}

async function hasNode(): Promise<boolean> {
  try {
    const { success } = await new Deno.Command("node", { args: ["--version"], stdout: "null" })
      .output();
    return success;
  } catch {
    return false;
  }
}

if (import.meta.main) {
  const at = Deno.args.indexOf("--connections");
  const count = at >= 0 ? Number(Deno.args[at + 1]) : 4000;
  const serverFile = new URL("./_idle_server.ts", import.meta.url).pathname;
  const deno = [
    "run",
    "--v8-flags=--expose-gc",
    "--allow-net=127.0.0.1",
    serverFile,
  ];
  const servers: [string, string, string[]][] = [
    ["bluelet server", Deno.execPath(), [...deno, "bluelet"]],
    ["plain Deno.listen, 16 KiB buffer", Deno.execPath(), [...deno, "plain", "16"]],
    ["plain Deno.listen, 64 KiB buffer (naive)", Deno.execPath(), [...deno, "plain", "64"]],
    ["plain Deno.listen, 4 KiB buffer (small)", Deno.execPath(), [...deno, "plain", "4"]],
  ];
  if (await hasNode()) servers.push(["Node net", "node", ["--expose-gc", "-e", NODE_SERVER]]);
  const width = Math.max(...servers.map(([name]) => name.length));
  console.log(`memory per idle connection, ${count} connections after one round trip each`);
  console.log(`${"server".padEnd(width)}  KB per connection`);
  for (const [name, command, args] of servers) {
    const bytes = await measure(command, args, count);
    console.log(`${name.padEnd(width)}  ${(bytes / 1000).toFixed(1).padStart(17)}`);
  }
}
