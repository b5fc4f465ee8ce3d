// Echo round trips per second: a server written with bluelet's `server` helper against the
// same server written with plain `Deno.listen` async/await (the baseline), driven by the
// same async/await client in the same run, 64-byte messages at 1 and 100 concurrent
// connections and 16 KiB messages at 50, with the echoer written Bluelet style
// (`yield conn.recv()`) and typed (`yield* conn.recv()`). A last entry, the kernel driving
// raw `Deno.Conn`s, splits the gap between bluelet and plain Deno into the kernel's share
// and the `net/` layer's.
//
// A third group runs the same echoers in memory, on `memoryPair`, with the client a thread
// of the same run: no OS and no second OS thread, so it shows the CPU a round trip costs
// (both ends' work), with far less noise than loopback sockets, next to two floors: the
// same threads handing the message over through channels, and plain async/await handing
// it over through promises.
//
// Run: deno bench --allow-all bench/echo_bench.ts
//
// Each server runs in a worker thread of its own and the client on the main thread, so the
// servers' CPU is not shared with the client's, and the garbage one server leaves (a fresh
// array per 16 KiB `recv`) is not collected while another is measured. Every iteration
// does a fixed number of round trips; `deno bench` reports the time per iteration, so the
// ratio of two servers' times is the inverse ratio of their round trips per second. A last
// loopback group serves the echo with `serveWorkers` in one Worker and in two
// (`reusePort`; Linux, `--unstable-net`).
//
// Every client, in every group, stamps each round's message (first and last byte) and
// checks the echo's, so a server that sends back other bytes than it got fails the bench
// rather than passes it; the check is two stores and two compares per round trip, the
// same for every entry.
import {
  Channel,
  type Connection,
  type Coroutine,
  run,
  server,
  serveWorkers,
  spawn,
} from "../mod.ts";
import { memoryPair } from "../testing/mod.ts";
import { handler as echoer, intoEchoer, plainServer, typedEchoer } from "./_echo_servers.ts";

const MESSAGE_SIZE = 64;
const LARGE_MESSAGE_SIZE = 16 * 1024;
/** The loopback groups: message size, concurrent connections, round trips per connection. */
const CASES = [
  { size: MESSAGE_SIZE, concurrency: 1, roundTrips: 200, n: 150 },
  { size: MESSAGE_SIZE, concurrency: 100, roundTrips: 10, n: 150 },
  { size: LARGE_MESSAGE_SIZE, concurrency: 50, roundTrips: 4, n: 60 },
];

/**
 * For diagnosis, not a product: the kernel alone, driving raw `Deno.Conn` reads and writes
 * from generator threads, with one reused buffer and no copies.
 */
function kernelOnlyServer(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  function* handle(conn: Deno.TcpConn): Coroutine<void> {
    const buffer = new Uint8Array(16 * 1024);
    try {
      while (true) {
        const n: number | null = yield conn.read(buffer);
        if (n === null) break;
        let sent = 0;
        while (sent < n) sent += yield conn.write(buffer.subarray(sent, n));
      }
    } finally {
      conn.close();
    }
  }
  run(function* () {
    while (true) {
      const conn: Deno.TcpConn = yield listener.accept();
      conn.setNoDelay(true);
      yield spawn(handle(conn));
    }
  }());
  return listener.addr.port;
}

/** The servers, each run in a worker of its own. */
type ServerKind = "plain" | "bluelet" | "typed" | "into" | "kernelOnly";

/** Starts one server in this (worker) thread and posts its port. */
function startServer(kind: ServerKind): void {
  const post = (port: number) => (self as unknown as Worker).postMessage(port);
  if (kind === "plain") return post(plainServer());
  if (kind === "kernelOnly") return post(kernelOnlyServer());
  const handler = kind === "bluelet" ? echoer : kind === "typed" ? typedEchoer : intoEchoer;
  run(server("127.0.0.1", 0, handler, {
    onListen: (addr) => post((addr as Deno.NetAddr).port),
  }));
}

/** Starts `kind` in a new worker; gives its port. */
function serverWorker(kind: ServerKind): Promise<number> {
  const url = new URL(import.meta.url);
  url.searchParams.set("server", kind);
  const worker = new Worker(url.href, { type: "module" });
  return new Promise((resolve) => worker.onmessage = (event) => resolve(event.data));
}

/** Marks `message` as round `round`'s, in its first and last bytes. */
function stamp(message: Uint8Array, round: number): void {
  message[0] = message[message.length - 1] = round & 255;
}

/** Throws unless `reply` is the echo of round `round`'s message (its first and last bytes). */
function checkEcho(reply: Uint8Array, round: number): void {
  const mark = round & 255;
  const first = reply[0];
  const last = reply[reply.length - 1];
  if (first !== mark || last !== mark) {
    throw new Error(
      `Cannot echo: round ${round} came back starting ${first} and ending ${last}, not ${mark}`,
    );
  }
}

/** A client connection that does round trips: write a message, read it back whole. */
class Client {
  readonly #conn: Deno.TcpConn;
  readonly #message: Uint8Array;
  readonly #reply: Uint8Array;
  /** Rounds done so far, over all iterations: each round's stamp differs from the last. */
  #round = 0;

  constructor(conn: Deno.TcpConn, size: number) {
    this.#conn = conn;
    this.#message = new Uint8Array(size).fill(42);
    this.#reply = new Uint8Array(size);
    conn.setNoDelay(true);
  }

  async roundTrips(count: number): Promise<void> {
    const message = this.#message;
    const reply = this.#reply;
    for (let i = 0; i < count; i++) {
      const round = this.#round++;
      stamp(message, round);
      // A write may take part of the message: the rest goes in the next.
      let sent = await this.#conn.write(message);
      while (sent < message.length) sent += await this.#conn.write(message.subarray(sent));
      let got = 0;
      while (got < reply.length) {
        const n = await this.#conn.read(reply.subarray(got));
        if (n === null) throw new Error("Cannot echo: the server closed");
        got += n;
      }
      checkEcho(reply, round);
    }
  }
}

async function clients(port: number, count: number, size: number): Promise<Client[]> {
  const conns = await Promise.all(
    Array.from(
      { length: count },
      () => Deno.connect({ hostname: "127.0.0.1", port }),
    ),
  );
  return conns.map((conn) => new Client(conn, size));
}

/** Round trips per iteration on the in-memory connections. */
const MEMORY_ROUND_TRIPS = 10_000;

/** The client side of the in-memory echo: a message out, the whole echo back. */
function* memoryClient(conn: Connection, rounds: number): Coroutine<void> {
  const message = new Uint8Array(MESSAGE_SIZE).fill(42);
  for (let i = 0; i < rounds; i++) {
    stamp(message, i);
    yield conn.sendall(message);
    checkEcho(yield conn.recvExactly(MESSAGE_SIZE), i);
  }
  conn.close();
}

/** A client and an echoer on an in-memory pair, both threads of one run. */
function* memoryEcho(echo: (conn: Connection) => Coroutine<void>): Coroutine<void> {
  const [client, server] = memoryPair();
  yield* spawn(echo(server));
  yield* memoryClient(client, MEMORY_ROUND_TRIPS);
}

/**
 * The floor under any transport inside a run: the same client and server threads handing
 * the message over through two channels, with no connection at all.
 */
function* channelEcho(): Coroutine<void> {
  const requests = new Channel<Uint8Array>(1);
  const replies = new Channel<Uint8Array>(1);
  yield* spawn(function* () {
    const buffer = new Uint8Array(16 * 1024);
    for (let item; !(item = yield* requests.receive()).done;) {
      buffer.set(item.value);
      yield* replies.send(buffer.subarray(0, item.value.length));
    }
  }());
  const message = new Uint8Array(MESSAGE_SIZE).fill(42);
  const reply = new Uint8Array(MESSAGE_SIZE);
  for (let i = 0; i < MEMORY_ROUND_TRIPS; i++) {
    stamp(message, i);
    yield* requests.send(message);
    reply.set((yield* replies.receive()).value!);
    checkEcho(reply, i);
  }
  requests.close();
}

/** The same handoff with plain async/await: two promises per round trip. */
async function plainEcho(): Promise<void> {
  let request = Promise.withResolvers<Uint8Array | null>();
  let reply = Promise.withResolvers<Uint8Array>();
  const server = (async () => {
    const buffer = new Uint8Array(16 * 1024);
    for (;;) {
      const data = await request.promise;
      if (data === null) return;
      request = Promise.withResolvers();
      buffer.set(data);
      reply.resolve(buffer.subarray(0, data.length));
    }
  })();
  const message = new Uint8Array(MESSAGE_SIZE).fill(42);
  const copy = new Uint8Array(MESSAGE_SIZE);
  for (let i = 0; i < MEMORY_ROUND_TRIPS; i++) {
    stamp(message, i);
    request.resolve(message);
    copy.set(await reply.promise);
    reply = Promise.withResolvers();
    checkEcho(copy, i);
  }
  request.resolve(null);
  await server;
}

function memoryBenches(): void {
  // Each `fn` is an `async function`: `deno bench` times a plain function that returns a
  // promise as a synchronous one, without awaiting it (measured: it never finishes).
  const group =
    `echo in memory, client and server in one process, ${MEMORY_ROUND_TRIPS} round trips per iteration`;
  Deno.bench({
    name: "plain async/await handoff (memory, floor)",
    group,
    baseline: true,
    async fn() {
      await plainEcho();
    },
  });
  Deno.bench({
    name: "kernel: two threads, channel handoff (memory, floor)",
    group,
    async fn() {
      await run(channelEcho());
    },
  });
  Deno.bench({
    name: "bluelet Connection, memoryPair (memory)",
    group,
    async fn() {
      await run(memoryEcho(echoer));
    },
  });
  Deno.bench({
    name: "bluelet Connection, memoryPair, typed yield* (memory)",
    group,
    async fn() {
      await run(memoryEcho(typedEchoer));
    },
  });
}

const serverKind = new URL(import.meta.url).searchParams.get("server");
if (serverKind !== null) {
  startServer(serverKind as ServerKind);
} else {
  const servers = [
    ["plain Deno", await serverWorker("plain")],
    ["bluelet server", await serverWorker("bluelet")],
    ["bluelet server, typed yield*", await serverWorker("typed")],
    ["bluelet server, recvInto one array", await serverWorker("into")],
    ["kernel + raw Deno.Conn (diagnostic)", await serverWorker("kernelOnly")],
  ] as const;
  for (const { size, concurrency, roundTrips, n } of CASES) {
    const bytes = size === MESSAGE_SIZE ? `${size} B` : `${size / 1024} KiB`;
    const group = `echo ${bytes}, c=${concurrency}, ${
      concurrency * roundTrips
    } round trips per iteration`;
    for (const [name, port] of servers) {
      const pool = await clients(port, concurrency, size);
      Deno.bench({
        name: `${name} (${bytes}, c=${concurrency})`,
        group,
        baseline: name === "plain Deno",
        warmup: 20,
        n,
        async fn() {
          await Promise.all(
            pool.map((client) => client.roundTrips(roundTrips)),
          );
        },
      });
    }
  }
  await workerBenches();
  memoryBenches();
}

/** The same echo served by `serveWorkers` in one Worker, then in two (the baseline: one). */
async function workerBenches(): Promise<void> {
  const handler = new URL("./_echo_servers.ts", import.meta.url);
  const one = await serveWorkers(handler, { workers: 1 });
  const two = await serveWorkers(handler, { workers: 2 });
  for (const { size, concurrency, roundTrips, n } of CASES.slice(1)) {
    const bytes = size === MESSAGE_SIZE ? `${size} B` : `${size / 1024} KiB`;
    const group = `echo in workers ${bytes}, c=${concurrency}`;
    for (const [name, workers] of [["1 worker", one], ["2 workers", two]] as const) {
      const pool = await clients(workers.port, concurrency, size);
      Deno.bench({
        name: `serveWorkers, ${name} (${bytes}, c=${concurrency})`,
        group,
        baseline: workers === one,
        warmup: 20,
        n,
        async fn() {
          await Promise.all(pool.map((client) => client.roundTrips(roundTrips)));
        },
      });
    }
  }
}
