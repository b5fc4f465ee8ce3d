// SET and GET throughput of examples/kv.ts against the same server written with plain
// `Deno.listen` and async/await (bench/_kv_plain.ts, the baseline), and against Redis itself
// when `redis-server` is on the PATH, all in one run: 50 clients, each sending one request
// at a time, or pipelines of 16.
//
// Run: deno bench --allow-all bench/kv_bench.ts
//
// Each server runs in a process of its own; the load generator (50 async clients) runs in
// this one. Every iteration makes each client do a fixed number of round trips, so the
// ratio of two servers' times is the inverse ratio of their requests per second.

const CLIENTS = 50;
const PIPELINE = 16;
/** Round trips per client per iteration. */
const ROUNDS = { single: 20, pipelined: 4 };
const KEYS = 10_000;
const ITERATIONS = { warmup: 10, n: 60 };

interface Server {
  name: string;
  port: number;
  process: Deno.ChildProcess;
}

const servers: Server[] = [];
globalThis.addEventListener("unload", () => {
  for (const { process } of servers) {
    try {
      process.kill("SIGTERM");
    } catch {
      // Already gone.
    }
  }
});

/** Starts a Deno server that prints `listening on HOST:PORT`. */
async function startDeno(name: string, file: string): Promise<Server> {
  const process = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--allow-net=127.0.0.1",
      new URL(file, import.meta.url).pathname,
      "--port",
      "0",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = process.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  for (let i = 0; i < 100; i++) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
    const match = /listening on \S+:(\d+)/.exec(text);
    if (match) {
      reader.releaseLock();
      process.stdout.cancel().catch(() => {});
      return { name, port: Number(match[1]), process };
    }
  }
  throw new Error(`${name} did not start: ${text}`);
}

async function hasRedisServer(): Promise<boolean> {
  try {
    const { success } = await new Deno.Command("redis-server", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
}

/** Starts `redis-server` on a free port, without persistence. */
async function startRedis(): Promise<Server> {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = probe.addr.port;
  probe.close();
  const process = new Deno.Command("redis-server", {
    args: ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  for (let i = 0; i < 100; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return { name: "redis-server", port, process };
    } catch {
      await new Promise((wake) => setTimeout(wake, 50));
    }
  }
  throw new Error("redis-server did not start");
}

/** A RESP array of bulk strings, as bytes. */
function request(...args: string[]): string {
  return `*${args.length}\r\n` + args.map((a) => `$${a.length}\r\n${a}\r\n`).join("");
}

/**
 * What every reply of a load must be: `+OK` (SET), or a bulk string that is not the null
 * one (GET of a key the fill set).
 */
type Expected = "+OK" | "bulk";

/**
 * Counts whole replies in a stream, and checks each is what the load expects, so a server
 * that answers `-ERR` or `-OOM` (or misses a key) fails the bench rather than counts as
 * fast. The check reads a few bytes the count reads anyway, the same for every server.
 */
class ReplyCounter {
  #pending = new Uint8Array(0);

  /** Takes bytes; gives how many replies they completed. Throws on an unexpected reply. */
  count(chunk: Uint8Array, expected: Expected): number {
    let data = chunk;
    if (this.#pending.length > 0) {
      data = new Uint8Array(this.#pending.length + chunk.length);
      data.set(this.#pending);
      data.set(chunk, this.#pending.length);
    }
    const bulk = expected === "bulk";
    let replies = 0;
    let at = 0;
    for (;;) {
      const lf = data.indexOf(10, at);
      if (lf < 0) break;
      let end = lf + 1;
      if (data[at] === 36 /* $ */) {
        if (!bulk || data[at + 1] === 45 /* - */) unexpected(data, at, lf, expected);
        let length = 0;
        for (let i = at + 1; data[i] !== 13; i++) length = length * 10 + data[i] - 48;
        end = lf + 1 + length + 2;
        if (end > data.length) break;
      } else if (
        bulk || lf !== at + 4 || data[at] !== 43 /* + */ || data[at + 1] !== 79 /* O */ ||
        data[at + 2] !== 75 /* K */
      ) {
        unexpected(data, at, lf, expected);
      }
      replies++;
      at = end;
    }
    this.#pending = data.slice(at);
    return replies;
  }
}

/** Throws for the reply whose first line is `data[at..lf]`. */
function unexpected(data: Uint8Array, at: number, lf: number, expected: Expected): never {
  const line = new TextDecoder().decode(data.subarray(at, Math.min(lf - 1, at + 80)));
  const wanted = expected === "bulk" ? "a bulk string" : expected;
  throw new Error(`Cannot count the reply: expected ${wanted}, got ${JSON.stringify(line)}`);
}

/** One load-generating client: a connection and what it sends. */
class LoadClient {
  readonly #conn: Deno.Conn;
  readonly #counter = new ReplyCounter();
  readonly #buffer = new Uint8Array(64 * 1024);

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /**
   * Sends `bytes` (holding `replies` requests) `rounds` times, each after the last's
   * replies, each of which must be `expected`.
   */
  async drive(
    bytes: Uint8Array,
    replies: number,
    rounds: number,
    expected: Expected,
  ): Promise<void> {
    for (let round = 0; round < rounds; round++) {
      for (let n = 0; n < bytes.length;) n += await this.#conn.write(bytes.subarray(n));
      for (let got = 0; got < replies;) {
        const n = await this.#conn.read(this.#buffer);
        if (n === null) throw new Error("The server closed the connection");
        got += this.#counter.count(this.#buffer.subarray(0, n), expected);
      }
    }
  }
}

const encoder = new TextEncoder();
const key = (i: number) => `key:${String(i % KEYS).padStart(12, "0")}`;

/** Per client, its unpipelined and pipelined requests for `command`. */
function workload(
  command: "SET" | "GET",
  client: number,
): { single: Uint8Array; pipelined: Uint8Array } {
  const one = (i: number) =>
    command === "SET" ? request("SET", key(i), "xxx") : request("GET", key(i));
  let pipelined = "";
  for (let i = 0; i < PIPELINE; i++) pipelined += one(client * PIPELINE + i);
  return { single: encoder.encode(one(client)), pipelined: encoder.encode(pipelined) };
}

// The baseline is measured first in each group.
const started = [
  await startDeno("plain Deno", "./_kv_plain.ts"),
  await startDeno("bluelet kv", "../examples/kv.ts"),
];
if (await hasRedisServer()) started.push(await startRedis());
else console.log("redis-server is not installed: Redis is left out of this run");
servers.push(...started);

const clients = new Map<string, LoadClient[]>();
for (const server of servers) {
  const list: LoadClient[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    conn.setNoDelay(true);
    list.push(new LoadClient(conn));
  }
  clients.set(server.name, list);
  // Every key exists, so GET replies carry a value.
  let fill = "";
  for (let i = 0; i < KEYS; i++) fill += request("SET", key(i), "xxx");
  await list[0].drive(encoder.encode(fill), KEYS, 1, "+OK");
}

/** One iteration of a workload against one server. */
async function drive(server: Server, command: "SET" | "GET", pipelined: boolean): Promise<void> {
  const loads = workloads[command];
  const expected = command === "SET" ? "+OK" : "bulk";
  await Promise.all(
    clients.get(server.name)!.map((client, i) =>
      pipelined
        ? client.drive(loads[i].pipelined, PIPELINE, ROUNDS.pipelined, expected)
        : client.drive(loads[i].single, 1, ROUNDS.single, expected)
    ),
  );
}

const workloads = {
  SET: Array.from({ length: CLIENTS }, (_, i) => workload("SET", i)),
  GET: Array.from({ length: CLIENTS }, (_, i) => workload("GET", i)),
};

// Warm up the load generator (this process's JIT) and every server before any timing, so
// that the first entry measured is not the one that pays for compiling the client.
for (let round = 0; round < 3; round++) {
  for (const server of servers) {
    for (const command of ["SET", "GET"] as const) {
      for (const pipelined of [false, true]) {
        for (let i = 0; i < 10; i++) await drive(server, command, pipelined);
      }
    }
  }
}

for (const command of ["SET", "GET"] as const) {
  for (const pipelined of [false, true]) {
    const group = `${command}, ${CLIENTS} clients, ${
      pipelined ? `pipelines of ${PIPELINE}` : "unpipelined"
    }`;
    for (const server of servers) {
      Deno.bench({
        name: `${server.name} (${group})`,
        group,
        baseline: server.name === "plain Deno",
        ...ITERATIONS,
        async fn() {
          await drive(server, command, pipelined);
        },
      });
    }
  }
}
