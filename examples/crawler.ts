// deno run --allow-net --allow-read --allow-run --allow-write examples/crawler.ts [--chart crawler.svg] [URL...]
//
// Bluelet's crawler comparison: fetch a list of URLs several ways and time each way.
//
//   sequential  one `fetch` after another
//   async       `Promise.all` over `fetch`, the idiomatic reference
//   workers     one Deno Worker per request (Deno's threads)
//   processes   one `deno` subprocess per request, run as a pool of `--pool N` at a time
//               (default: one per CPU), like Python's `multiprocessing.Pool.map`
//   bluelet     one coroutine per request in a single `run`, with a small HTTP/1.1 GET
//               client written on bluelet's sockets (examples/_http_client.ts)
//
// It prints one line per strategy (`sequential: 4.62 seconds`), checks that every strategy
// got the same bodies, and with `--chart FILE` also draws the table as an SVG bar chart.
// With no URLs it starts a local server that answers each request after `--delay MS`
// (default 200, like a remote API) and crawls `--count N` (default 20) URLs on it, so it
// needs no network beyond loopback. `--strategies a,b` runs only some strategies.
// `--timeout MS` (default 30 s) is how long one URL may take, its whole body included.
// A timing demo, not a hardened crawler: the bluelet client follows no redirect, and no
// strategy limits a body's size, or how many connections it opens at once.
//
// Outside this repository, import from "jsr:@bluelet/bluelet" instead of "../mod.ts".
import * as bluelet from "../mod.ts";
import {
  DEFAULT_TIMEOUT_MS,
  FetchError,
  type FetchReply,
  type FetchRequest,
  fetchText,
} from "./_crawler_fetch.ts";
import { HttpClientError, httpGet } from "./_http_client.ts";
import { CommandError, runCommand, UsageError } from "./_command.ts";

// ---------------------------------------------------------------------------------------
// The local delayed server

/** A local HTTP server that answers like a slow remote API. */
export interface DelayedServer {
  /** Its base URL, e.g. `http://127.0.0.1:43512`. */
  readonly origin: string;
  /**
   * URLs of `count` distinct items on it.
   *
   * @param count How many.
   * @returns `origin/items/0` ... `origin/items/{count-1}`.
   */
  urls(count: number): string[];
  /** Stops it, waiting for requests in flight. */
  close(): Promise<void>;
  /** Same as {@linkcode close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options for {@linkcode startDelayedServer}. */
export interface DelayedServerOptions {
  /**
   * How long each response waits, in milliseconds.
   *
   * @default {200}
   */
  delayMs?: number;
}

/**
 * The body the delayed server sends for `path`: deterministic, a few hundred bytes, so every
 * strategy can be checked against every other.
 *
 * @param path The request path.
 * @returns The JSON body.
 */
export function bodyFor(path: string): string {
  const n = Number(/^\/items\/(\d+)$/.exec(path)?.[1] ?? -1);
  const words = Array.from(
    { length: 8 + (n >= 0 ? n % 7 : 0) * 8 },
    (_, i) => `w${(n * 31 + i * 7) % 101}`,
  );
  return JSON.stringify({ path, id: n, text: words.join(" ") }) + "\n";
}

/**
 * Starts the delayed server on 127.0.0.1 at a free port. Even items are sent with a
 * `Content-Length`, odd ones chunked, so an HTTP client is exercised both ways.
 *
 * @param options How slow it is.
 * @returns The running server.
 */
export function startDelayedServer(
  options: DelayedServerOptions = {},
): Promise<DelayedServer> {
  const delayMs = options.delayMs ?? 200;
  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen(addr) {
        const origin = `http://${addr.hostname}:${addr.port}`;
        const close = async () => {
          await server.shutdown();
        };
        resolve({
          origin,
          urls: (count) => Array.from({ length: count }, (_, i) => `${origin}/items/${i}`),
          close,
          [Symbol.asyncDispose]: close,
        });
      },
    }, async (request) => {
      await new Promise((wake) => setTimeout(wake, delayMs));
      const path = new URL(request.url).pathname;
      const status = path.startsWith("/items/") ? 200 : 404;
      const body = new TextEncoder().encode(bodyFor(path));
      const headers = { "content-type": "application/json" };
      if (Number(path.slice(7)) % 2 === 0) {
        return new Response(body, { status, headers });
      }
      const half = body.length >> 1;
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(body.subarray(0, half));
          controller.enqueue(body.subarray(half));
          controller.close();
        },
      });
      return new Response(stream, { status, headers });
    });
  });
}

// ---------------------------------------------------------------------------------------
// The strategies: each takes the URLs and gives their bodies, in the same order

/** Options every strategy accepts. */
export interface StrategyOptions {
  /**
   * How many subprocesses the `processes` strategy runs at once.
   *
   * @default {navigator.hardwareConcurrency}
   */
  pool?: number;
  /**
   * How long one URL may take, its whole body included, in milliseconds.
   *
   * @default {30000}
   */
  timeoutMs?: number;
}

/** A way of crawling. */
export type Strategy = (
  urls: readonly string[],
  options?: StrategyOptions,
) => Promise<string[]>;

/** One `fetch` after another. */
export async function runSequential(
  urls: readonly string[],
  options: StrategyOptions = {},
): Promise<string[]> {
  const bodies: string[] = [];
  for (const url of urls) bodies.push(await fetchText(url, options.timeoutMs));
  return bodies;
}

/**
 * Every `fetch` at once, with `Promise.all`. One that fails stops the others, and they
 * have ended when it rejects: nothing of the crawl is left running.
 */
export async function runAsync(
  urls: readonly string[],
  options: StrategyOptions = {},
): Promise<string[]> {
  const stop = new AbortController();
  const fetches = urls.map((url) => fetchText(url, options.timeoutMs, stop.signal));
  try {
    return await Promise.all(fetches);
  } catch (error) {
    stop.abort();
    await Promise.allSettled(fetches);
    throw error;
  }
}

const FETCHER = new URL("./_crawler_fetch.ts", import.meta.url);

function fetchInWorker(url: string, timeoutMs: number): Promise<string> {
  const worker = new Worker(FETCHER, { type: "module" });
  return new Promise<string>((resolve, reject) => {
    worker.onmessage = ({ data }: MessageEvent<FetchReply>) => {
      if (data.ok) resolve(data.body);
      else reject(new FetchError(data.error));
    };
    worker.onerror = (event) => {
      event.preventDefault();
      reject(new Error(`Cannot fetch ${url} in a worker: ${event.message}`));
    };
    worker.postMessage({ url, timeoutMs } satisfies FetchRequest);
  }).finally(() => worker.terminate());
}

/** One Worker per request, all at once, like the seed's one thread per request. */
export function runWorkers(
  urls: readonly string[],
  options: StrategyOptions = {},
): Promise<string[]> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return Promise.all(urls.map((url) => fetchInWorker(url, timeoutMs)));
}

async function fetchInProcess(
  url: string,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<string> {
  signal.throwIfAborted();
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--no-config",
      "--no-lock",
      `--allow-net=${new URL(url).host}`,
      FETCHER.href,
      url,
      `${timeoutMs}`,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal, // killed if another URL failed
  }).output();
  if (!output.success) {
    const why = new TextDecoder().decode(output.stderr).trim();
    throw new FetchError(`${why} (in a subprocess, which exited with code ${output.code})`);
  }
  return new TextDecoder().decode(output.stdout);
}

/**
 * Maps `items` through `fn` with at most `size` calls in flight, results in input order:
 * what Python's `multiprocessing.Pool(size).map` does.
 *
 * @param items The inputs.
 * @param size How many calls may run at once (at least 1).
 * @param fn The asynchronous function.
 * @param onFailure Called at the first failure, after which no more calls start; the
 * calls still running are waited for.
 * @returns The results, in the order of `items`.
 */
export async function poolMap<T, R>(
  items: readonly T[],
  size: number,
  fn: (item: T) => Promise<R>,
  onFailure?: (error: unknown) => void,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | null = null;
  async function worker(): Promise<void> {
    while (next < items.length && failure === null) {
      const i = next++;
      try {
        results[i] = await fn(items[i]);
      } catch (error) {
        if (failure === null) {
          failure = { error };
          onFailure?.(error);
        }
      }
    }
  }
  const workers = Math.max(1, Math.min(size, items.length));
  // Every call has ended when this returns or throws, a failed one's siblings too.
  await Promise.all(Array.from({ length: workers }, worker));
  if (failure !== null) throw (failure as { error: unknown }).error;
  return results;
}

/** One subprocess per request, `options.pool` at a time. */
export function runProcesses(
  urls: readonly string[],
  options: StrategyOptions = {},
): Promise<string[]> {
  const size = options.pool ?? navigator.hardwareConcurrency ?? 4;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const stop = new AbortController();
  return poolMap(urls, size, (url) => fetchInProcess(url, timeoutMs, stop.signal), () => {
    stop.abort(); // the subprocesses still running are killed
  });
}

function* fetchCoroutine(url: string, timeoutMs: number): bluelet.Coroutine<string> {
  let response;
  try {
    response = yield* bluelet.withTimeout(timeoutMs, httpGet(url));
  } catch (error) {
    if (!(error instanceof bluelet.TimeoutError)) throw error;
    throw new FetchError(`Cannot fetch ${url}: no answer within ${timeoutMs} ms`, {
      cause: error,
    });
  }
  if (response.status < 200 || response.status > 299) {
    throw new FetchError(`Cannot fetch ${url}: HTTP status ${response.status}`);
  }
  return new TextDecoder().decode(response.body);
}

/** One coroutine per request, in a single run: the seed's Bluelet crawler. */
export function runBluelet(
  urls: readonly string[],
  options: StrategyOptions = {},
): Promise<string[]> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return bluelet.run(function* (): bluelet.Coroutine<string[]> {
    const tasks: bluelet.Task<string>[] = [];
    for (const url of urls) {
      tasks.push(yield* bluelet.spawn(fetchCoroutine(url, timeoutMs)));
    }
    const bodies: string[] = [];
    for (const task of tasks) bodies.push(yield* bluelet.join(task));
    return bodies;
  }());
}

/** Every strategy by name, in the order the table shows them. */
export const STRATEGIES: Readonly<Record<string, Strategy>> = {
  sequential: runSequential,
  async: runAsync,
  workers: runWorkers,
  processes: runProcesses,
  bluelet: runBluelet,
};

// ---------------------------------------------------------------------------------------
// Output: the seed's table, the result check and the chart

/** How long one strategy took and what it got. */
export interface Timing {
  /** The strategy's name. */
  name: string;
  /** Wall-clock time in seconds. */
  seconds: number;
  /** The bodies it fetched, in URL order. */
  bodies: string[];
}

/**
 * Runs each strategy in turn over `urls` and times it.
 *
 * @param urls The URLs to crawl.
 * @param names Which strategies, by name.
 * @param options Passed to each strategy.
 * @returns One timing per strategy, in the order of `names`.
 */
export async function crawl(
  urls: readonly string[],
  names: readonly string[] = Object.keys(STRATEGIES),
  options: StrategyOptions = {},
): Promise<Timing[]> {
  const timeoutMs = options.timeoutMs;
  if (
    timeoutMs !== undefined &&
    !(Number.isInteger(timeoutMs) && timeoutMs >= 1 && timeoutMs <= MAX_TIMER_MS)
  ) {
    throw new RangeError(
      `Cannot crawl: timeoutMs must be an integer from 1 to ${MAX_TIMER_MS}, got ${timeoutMs}`,
    );
  }
  const timings: Timing[] = [];
  for (const name of names) {
    const strategy = Object.hasOwn(STRATEGIES, name) ? STRATEGIES[name] : undefined;
    if (!strategy) throw new TypeError(`Unknown strategy: ${name}`);
    const start = performance.now();
    let bodies: string[];
    try {
      bodies = await strategy(urls, options);
    } catch (error) {
      // A URL that gives no answer is the user's to see in one line; anything else is a bug.
      if (
        !(error instanceof FetchError || error instanceof bluelet.NetError ||
          error instanceof HttpClientError)
      ) {
        throw error;
      }
      throw new CommandError(`Cannot crawl with ${name}: ${error.message}`, { cause: error });
    }
    timings.push({ name, seconds: (performance.now() - start) / 1000, bodies });
  }
  return timings;
}

/**
 * The seed's output: one `name: 4.62 seconds` line per strategy.
 *
 * @param timings What {@linkcode crawl} measured.
 * @returns The lines, joined with newlines.
 */
export function formatTable(timings: readonly Timing[]): string {
  return timings.map((t) => `${t.name}: ${t.seconds.toFixed(2)} seconds`).join(
    "\n",
  );
}

/**
 * Checks that every strategy got the same bodies as the first one.
 *
 * @param urls The URLs crawled, for the message.
 * @param timings What {@linkcode crawl} measured.
 * @throws {Error} Naming the first strategy and URL that differ.
 */
export function checkSameBodies(
  urls: readonly string[],
  timings: readonly Timing[],
): void {
  const [reference, ...others] = timings;
  for (const other of others) {
    for (let i = 0; i < urls.length; i++) {
      if (other.bodies[i] !== reference.bodies[i]) {
        throw new Error(
          `Strategies disagree: ${other.name} got a different body than ${reference.name} for ${
            urls[i]
          }`,
        );
      }
    }
  }
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Draws the timings as a horizontal bar chart, one labelled bar per strategy.
 *
 * @param timings What {@linkcode crawl} measured.
 * @param title The chart's title.
 * @returns A standalone SVG document.
 */
export function renderChart(
  timings: readonly Pick<Timing, "name" | "seconds">[],
  title: string,
): string {
  const labelWidth = 110, barMax = 400, barHeight = 26, gap = 10, top = 50;
  const width = labelWidth + barMax + 110;
  const height = top + timings.length * (barHeight + gap) + 10;
  const longest = Math.max(...timings.map((t) => t.seconds), 1e-9);
  const rows = timings.map((t, i) => {
    const y = top + i * (barHeight + gap);
    const w = Math.max(1, Math.round((t.seconds / longest) * barMax));
    const mid = y + barHeight / 2 + 5;
    return [
      `  <text x="${labelWidth - 10}" y="${mid}" text-anchor="end">${escapeXml(t.name)}</text>`,
      `  <rect x="${labelWidth}" y="${y}" width="${w}" height="${barHeight}" fill="${
        t.name === "bluelet" ? "#1f6feb" : "#8b949e"
      }"/>`,
      `  <text x="${labelWidth + w + 8}" y="${mid}">${t.seconds.toFixed(2)} s</text>`,
    ].join("\n");
  });
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="14">`,
    `  <title>${escapeXml(title)}</title>`,
    `  <text x="${width / 2}" y="28" text-anchor="middle" font-size="16" font-weight="bold">${
      escapeXml(title)
    }</text>`,
    ...rows,
    `</svg>`,
    ``,
  ].join("\n");
}

// ---------------------------------------------------------------------------------------
// The program

/** The crawler's command-line options. */
export interface CrawlerArgs {
  /** URLs to crawl; empty means: start the local delayed server. */
  urls: string[];
  /** Items to crawl on the local server. */
  count: number;
  /** The local server's delay in milliseconds. */
  delayMs: number;
  /** Subprocesses at once for `processes`. */
  pool: number;
  /** How long one URL may take, in milliseconds. */
  timeoutMs: number;
  /** Where to write the SVG chart, if anywhere. */
  chart: string | undefined;
  /** Which strategies to run, in order. */
  strategies: string[];
}

/** The longest time a `setTimeout` waits: past it, the timer fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** `url`, if it is one every strategy can fetch (the bluelet client speaks http: only). */
function checkedUrl(url: string): string {
  if (!URL.canParse(url)) throw new UsageError(`Not a URL: ${url}`);
  if (new URL(url).protocol !== "http:") {
    throw new UsageError(`Cannot crawl ${url}: only http: URLs are supported`);
  }
  return url;
}

/**
 * Parses the crawler's arguments.
 *
 * @param args `[--count N] [--delay MS] [--pool N] [--timeout MS] [--chart FILE] [--strategies a,b] [URL...]`
 * @returns The options.
 * @throws {UsageError} On an unknown flag or strategy, an empty list of them, or a bad number.
 */
export function parseArgs(args: readonly string[]): CrawlerArgs {
  const parsed: CrawlerArgs = {
    urls: [],
    count: 20,
    delayMs: 200,
    pool: navigator.hardwareConcurrency ?? 4,
    timeoutMs: DEFAULT_TIMEOUT_MS,
    chart: undefined,
    strategies: Object.keys(STRATEGIES),
  };
  const number = (flag: string, value: string | undefined, min: number, max = Infinity) => {
    const n = Number(value);
    if (value === undefined || !Number.isInteger(n) || n < min) {
      throw new UsageError(`${flag} needs an integer >= ${min}, got ${value}`);
    }
    if (n > max) {
      throw new UsageError(`${flag} needs an integer from ${min} to ${max}, got ${value}`);
    }
    return n;
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--count") parsed.count = number(arg, args[++i], 1);
    else if (arg === "--delay") parsed.delayMs = number(arg, args[++i], 0, MAX_TIMER_MS);
    else if (arg === "--pool") parsed.pool = number(arg, args[++i], 1);
    else if (arg === "--timeout") parsed.timeoutMs = number(arg, args[++i], 1, MAX_TIMER_MS);
    else if (arg === "--chart") parsed.chart = args[++i];
    else if (arg === "--strategies") {
      parsed.strategies = (args[++i] ?? "").split(",").filter(Boolean);
      if (parsed.strategies.length === 0) {
        throw new UsageError(`--strategies needs at least one strategy, got "${args[i] ?? ""}"`);
      }
      for (const name of parsed.strategies) {
        if (!Object.hasOwn(STRATEGIES, name)) { // not `in`: "toString" is no strategy
          throw new UsageError(`Unknown strategy: ${name}`);
        }
      }
    } else if (arg.startsWith("-")) throw new UsageError(`Unknown flag: ${arg}`);
    else parsed.urls.push(checkedUrl(arg));
  }
  if (parsed.chart === "" || (args.at(-1) === "--chart")) {
    throw new UsageError("--chart needs a file name");
  }
  return parsed;
}

/**
 * Runs the comparison and prints it.
 *
 * @param args The command-line arguments.
 * @returns The process exit code: 0, or 1 if the strategies disagree.
 */
export async function main(args: readonly string[]): Promise<number> {
  const options = parseArgs(args);
  // Said before the crawl, not after it.
  const chart = options.chart;
  if (
    chart !== undefined &&
    Deno.permissions.querySync({ name: "write", path: chart }).state !== "granted"
  ) {
    throw new CommandError(
      `Cannot write the chart to ${chart}: no write permission (run with --allow-write=${chart})`,
    );
  }
  let server: DelayedServer | undefined;
  let urls = options.urls;
  if (urls.length === 0) {
    server = await startDelayedServer({ delayMs: options.delayMs });
    urls = server.urls(options.count);
    console.log(
      `Crawling ${urls.length} URLs on ${server.origin} (${options.delayMs} ms each)`,
    );
  } else console.log(`Crawling ${urls.length} URLs`);
  try {
    const timings = await crawl(urls, options.strategies, {
      pool: options.pool,
      timeoutMs: options.timeoutMs,
    });
    console.log(formatTable(timings));
    if (options.chart !== undefined) {
      const title = `Fetching ${urls.length} URLs` +
        (server ? ` (${options.delayMs} ms each)` : "");
      await Deno.writeTextFile(options.chart, renderChart(timings, title));
    }
    try {
      checkSameBodies(urls, timings);
    } catch (error) {
      console.error((error as Error).message);
      return 1;
    }
    console.log(
      `All ${timings.length} strategies got the same ${urls.length} bodies.`,
    );
    if (options.chart !== undefined) {
      console.log(`Chart written to ${options.chart}`);
    }
    return 0;
  } finally {
    await server?.close();
  }
}

if (import.meta.main) {
  await runCommand(
    main,
    "deno task crawler [--count N] [--delay MS] [--pool N] [--timeout MS] [--chart FILE] [--strategies a,b] [URL...]",
  );
}
