// Run by retention_test.ts with `--v8-flags=--expose-gc`: a killed thread's `finally` starts
// many helpers that end on their own while it goes on; says whether the first one's result
// is still kept alive, as `first helper's result: kept|collected`.
import { type Coroutine, kill, run, sleep, spawn, type Task, yieldNow } from "../../mod.ts";

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("Run with --v8-flags=--expose-gc");

// deno-lint-ignore require-yield -- a helper that ends in its first step
function* helper(): Coroutine<Uint8Array> {
  return new Uint8Array(1024);
}

let firstResult: WeakRef<object> | undefined;
let verdict = "";
await run(function* () {
  const worker: Task<void> = yield* spawn(function* (): Coroutine<void> {
    try {
      yield* sleep(1);
    } finally {
      for (let i = 0; i < 1000; i++) {
        const task = yield* spawn(helper());
        const result = yield* task;
        if (i === 0) firstResult = new WeakRef(result);
      }
      // Let the WeakRef's job end, then look while this thread still runs.
      yield* sleep(1);
      gc!();
      verdict = firstResult!.deref() === undefined ? "collected" : "kept";
    }
  }());
  yield* yieldNow(); // the worker begins: its `finally` is entered when it is killed
  yield* kill(worker);
}());
console.log(`first helper's result: ${verdict}`);
