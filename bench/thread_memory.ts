// deno run --v8-flags=--expose-gc bench/thread_memory.ts
//
// Heap bytes per sleeping thread: 20,000 threads each asleep in `yield sleep(1000)` (the
// thread, its generator and its timer), after a full collection. The task handle `spawn`
// gives is dropped, as a server drops its handlers' handles, so it is not counted: the
// thread does not hold it. Then heap bytes per ended thread whose task is still held:
// 20,000 threads that each returned a number, their tasks kept in an array.
import { run, sleep, spawn, type Task, VirtualClock } from "../mod.ts";

const THREADS = 20_000;
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("Run with --v8-flags=--expose-gc");

function* sleeper(): Generator<unknown, void, unknown> {
  yield sleep(1000);
}

function* ended(i: number): Generator<unknown, number, unknown> {
  yield sleep(1);
  return i;
}

await run(
  function* () {
    gc();
    const before = Deno.memoryUsage().heapUsed;
    for (let i = 0; i < THREADS; i++) yield* spawn(sleeper());
    yield sleep(1); // every thread is asleep now
    gc();
    const after = Deno.memoryUsage().heapUsed;
    console.log(`heap per sleeping thread: ${Math.round((after - before) / THREADS)} bytes`);
  }(),
  { clock: new VirtualClock() },
);

await run(
  function* () {
    const tasks: Task<number>[] = new Array(THREADS);
    gc();
    const before = Deno.memoryUsage().heapUsed;
    for (let i = 0; i < THREADS; i++) tasks[i] = yield* spawn(ended(i));
    yield sleep(2); // every thread has ended
    gc();
    const after = Deno.memoryUsage().heapUsed;
    console.log(
      `heap per ended thread whose task is held: ${Math.round((after - before) / THREADS)} bytes`,
    );
    if (tasks.some((task) => !task.done)) throw new Error("Expected every thread to have ended");
  }(),
  { clock: new VirtualClock() },
);
