// deno bench --allow-all bench/crawler_bench.ts
//
// The crawler comparison under `deno bench`: 20 requests to a local server that answers
// each after 100 ms, fetched five ways, with `bluelet` as the baseline so the summary says
// how many times faster or slower every other strategy is. Expected shape, as in
// Bluelet's seed: sequential about 20 times slower; bluelet and async close together;
// workers and processes behind them by their start-up costs. The whole bench takes about
// a minute on 2 cores.
import {
  bodyFor,
  runAsync,
  runBluelet,
  runProcesses,
  runSequential,
  runWorkers,
  startDelayedServer,
  type Strategy,
} from "../examples/crawler.ts";

const REQUESTS = 20;
const DELAY_MS = 100;

const server = await startDelayedServer({ delayMs: DELAY_MS });
const urls = server.urls(REQUESTS);
/** What the server sends for each URL: every strategy must give exactly these bodies. */
const expected = urls.map((url) => bodyFor(new URL(url).pathname));
globalThis.addEventListener("unload", () => {
  void server.close();
});

function bench(
  name: string,
  strategy: Strategy,
  n: number,
  warmup: number,
  baseline = false,
): void {
  Deno.bench({ name, group: "crawler", baseline, n, warmup }, async () => {
    const bodies = await strategy(urls);
    if (bodies.length !== REQUESTS) throw new Error(`${name} lost bodies`);
    for (let i = 0; i < REQUESTS; i++) {
      if (bodies[i] !== expected[i]) {
        throw new Error(`${name} got a different body than the server sent for ${urls[i]}`);
      }
    }
  });
}

bench("bluelet", runBluelet, 40, 5, true);
bench("async", runAsync, 40, 5);
bench("workers", runWorkers, 20, 2);
bench("processes", runProcesses, 10, 1);
bench("sequential", runSequential, 5, 1);
