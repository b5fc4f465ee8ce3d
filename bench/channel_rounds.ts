// deno run --allow-all bench/channel_rounds.ts [rounds]
//
// The ping-pongs of bench/channel_bench.ts, bluelet's `Channel` against the promise queue,
// alternated round by round in one process: a steadier ratio than `deno bench` gives on a
// busy machine, where one run's averages swing by a tenth or more with the load. Prints,
// for each capacity, the median time per round of each side and the median of the rounds'
// ratios (below 1: bluelet took less time).
import { ITEMS, pingPongBluelet, pingPongPromises } from "./_ping_pong.ts";

const ROUNDS = Number(Deno.args[0] ?? 30);
const WARM_UP = 5;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

async function timed(fn: () => Promise<number>): Promise<number> {
  const start = performance.now();
  const sum = await fn();
  if (sum !== ITEMS) throw new Error(`Expected ${ITEMS}, got ${sum}`);
  return performance.now() - start;
}

for (const capacity of [0, 16]) {
  for (let i = 0; i < WARM_UP; i++) {
    await pingPongBluelet(capacity);
    await pingPongPromises(capacity);
  }
  const bluelet: number[] = [];
  const promises: number[] = [];
  const ratios: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const b = await timed(() => pingPongBluelet(capacity));
    const p = await timed(() => pingPongPromises(capacity));
    bluelet.push(b);
    promises.push(p);
    ratios.push(b / p);
  }
  console.log(
    `Channel(${capacity}): bluelet ${median(bluelet).toFixed(1)} ms, promise queue ${
      median(promises).toFixed(1)
    } ms per round; bluelet/promise queue ${median(ratios).toFixed(2)}`,
  );
}
