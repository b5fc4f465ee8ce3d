// deno task soak [--minutes 10] [--workers 16] [--verbose]
//
// Connection churn against `server` for N minutes: clean exchanges, resets, slow readers,
// idle clients the idle limit closes, and clients that reset before they are accepted.
// Samples RSS and heap every few seconds and prints their growth after the warm-up (the
// first fifth of the run). Any error is counted and fails the run.
import net from "node:net";
import {
  connect,
  type Connection,
  type Coroutine,
  run,
  server,
  sleep,
  spawn,
  until,
  withTimeout,
} from "../mod.ts";

const USAGE = "usage: deno task soak [--minutes N] [--workers N] [--verbose]";
const args = Deno.args;
if (args.includes("--help") || args.includes("-h")) {
  console.log(USAGE);
  Deno.exit(0);
}
/** Says what is wrong with the command line, with the usage, and exits with 2. */
function usageError(message: string): never {
  console.error(`error: ${message}\n${USAGE}`);
  Deno.exit(2);
}
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--minutes" || args[i] === "--workers") i++;
  else if (args[i] !== "--verbose") usageError(`Unknown argument: ${args[i]}`);
}
const option = (name: string, fallback: number, integer: boolean) => {
  const at = args.indexOf(`--${name}`);
  if (at < 0) return fallback;
  const value = Number(args[at + 1]);
  if (args[at + 1] === undefined || !(value > 0) || !Number.isFinite(value)) {
    usageError(`--${name} must be a positive number, got ${args[at + 1] ?? "nothing"}`);
  }
  if (integer && !Number.isInteger(value)) {
    usageError(`--${name} must be a whole number, got ${args[at + 1]}`);
  }
  return value;
};
const MINUTES = option("minutes", 1, false);
const WORKERS = option("workers", 16, true);
const IDLE_MS = 300;
const SAMPLE_MS = 5000;

const counts = { exchange: 0, reset: 0, slow: 0, idle: 0, early: 0, errors: 0 };
const errors: string[] = [];
const fail = (where: string, error: unknown) => {
  counts.errors++;
  if (errors.length < 10) errors.push(`${where}: ${error}`);
};

function* echoer(conn: Connection): Coroutine<void> {
  for (;;) {
    const data = yield* conn.recv(16384);
    if (data.length === 0) return;
    yield* conn.sendall(data);
  }
}

const payload = new Uint8Array(256 * 1024).map((_, i) => i & 0xff);

/** One client's visit, of the kind `i` picks. */
function* visit(port: number, i: number): Coroutine<void> {
  const kind = i % 20;
  if (kind === 0) { // resets before it is accepted
    const socket = net.connect(port, "127.0.0.1");
    yield* until(
      new Promise((resolve, reject) => {
        socket.once("connect", resolve).once("error", reject);
      }),
    );
    const closed = new Promise((resolve) => socket.once("close", resolve));
    socket.resetAndDestroy();
    yield* until(closed);
    counts.early++;
    return;
  }
  const conn = yield* connect("127.0.0.1", port);
  try {
    if (kind === 1) { // idle: the server closes it
      equal((yield* withTimeout(IDLE_MS * 10, conn.recv(1))).length, 0, "idle end");
      counts.idle++;
    } else if (kind === 2) { // resets with a reply unread
      yield* conn.sendall(payload.subarray(0, 4096));
      yield* sleep(1);
      counts.reset++;
    } else if (kind === 3) { // a slow reader of 256 KiB
      yield* spawn(function* () {
        yield* conn.sendall(payload);
      }());
      let received = 0;
      while (received < payload.length) {
        received += (yield* conn.recv(8192)).length;
        yield* sleep(1);
      }
      counts.slow++;
    } else { // a clean exchange
      const size = 1 + (i * 97) % 4096;
      yield* conn.sendall(payload.subarray(0, size));
      const echoed = yield* conn.recvExactly(size);
      equal(echoed[size - 1], (size - 1) & 0xff, "echoed byte");
      yield* conn.closeWrite();
      equal((yield* conn.recv(1)).length, 0, "clean end");
      counts.exchange++;
    }
  } finally {
    conn.close();
  }
}

function equal(actual: unknown, expected: unknown, what: string): void {
  if (actual !== expected) throw new Error(`${what}: got ${actual}, expected ${expected}`);
}

interface Sample {
  seconds: number;
  rss: number;
  heap: number;
}

const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
const samples: Sample[] = [];
const started = performance.now();
const sample = () => {
  // With --v8-flags=--expose-gc (the task passes it), the heap is measured after a full
  // collection, so its figure is what is live, not what is not yet collected.
  (globalThis as { gc?: () => void }).gc?.();
  const { rss, heapUsed } = Deno.memoryUsage();
  const seconds = (performance.now() - started) / 1000;
  samples.push({ seconds, rss, heap: heapUsed });
  if (args.includes("--verbose")) {
    console.log(`  ${seconds.toFixed(0)} s: RSS ${mb(rss)} MB, heap ${mb(heapUsed)} MB`);
  }
};

const shutdown = new AbortController();
await run(function* () {
  let port = 0;
  yield* spawn(server("127.0.0.1", 0, echoer, {
    idleTimeout: IDLE_MS,
    signal: shutdown.signal,
    onListen: (addr) => port = (addr as Deno.NetAddr).port,
    onError: (error) => fail("server", error),
  }));
  yield* sleep(0);
  const end = started + MINUTES * 60_000;
  let next = 0;
  const workers = [];
  for (let w = 0; w < WORKERS; w++) {
    workers.push(
      yield* spawn(function* () {
        while (performance.now() < end) {
          try {
            yield* visit(port, next++);
          } catch (error) {
            fail("client", error);
          }
        }
      }()),
    );
  }
  sample();
  while (performance.now() < end) {
    yield* sleep(Math.min(SAMPLE_MS, Math.max(1, end - performance.now())));
    sample();
  }
  shutdown.abort();
}());

const warm = samples.filter((s) => s.seconds >= MINUTES * 12);
/** The median of the first and of the last few samples after the warm-up. */
const growth = (key: "rss" | "heap") => {
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const n = Math.max(1, Math.min(5, Math.floor(warm.length / 4)));
  const first = median(warm.slice(0, n).map((s) => s[key]));
  const last = median(warm.slice(-n).map((s) => s[key]));
  return { first, last, percent: ((last - first) / first) * 100 };
};
const rss = growth("rss");
const heap = growth("heap");
const visits = counts.exchange + counts.reset + counts.slow + counts.idle + counts.early;
console.log(`soak: ${MINUTES} min, ${WORKERS} workers, ${visits} connections`);
console.log(
  `  exchanges ${counts.exchange}, resets ${counts.reset}, slow readers ${counts.slow}, ` +
    `idle closed ${counts.idle}, reset before accept ${counts.early}`,
);
console.log(
  `  RSS ${mb(rss.first)} -> ${mb(rss.last)} MB (${rss.percent.toFixed(1)}%), ` +
    `heap ${mb(heap.first)} -> ${mb(heap.last)} MB (${heap.percent.toFixed(1)}%) after warm-up`,
);
console.log(`  errors ${counts.errors}`);
for (const line of errors) console.log(`    ${line}`);
Deno.exit(counts.errors === 0 ? 0 : 1);
