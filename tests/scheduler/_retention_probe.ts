// Run by retention_test.ts with `--v8-flags=--expose-gc`: says which objects a task that
// outlived its thread still keeps alive, one `name: kept|collected` line each.
import { run, spawn, type Task } from "../../mod.ts";

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("Run with --v8-flags=--expose-gc");

// deno-lint-ignore require-yield -- a thread that ends in its first step
function* child(payload: Uint8Array): Generator<never, number> {
  return payload.length;
}

let task: Task<number> | undefined;
let generatorRef: WeakRef<object> | undefined;
let payloadRef: WeakRef<object> | undefined;
await run(function* () {
  let payload: Uint8Array | undefined = new Uint8Array(1024);
  let generator: Generator<never, number> | undefined = child(payload);
  generatorRef = new WeakRef(generator);
  payloadRef = new WeakRef(payload);
  task = yield* spawn(generator);
  generator = payload = undefined;
  yield* task;
}());
// A WeakRef holds its target until the job that made it ends.
await new Promise((resolve) => setTimeout(resolve, 0));
gc();
console.log(`task: ${task!.done ? "done" : "running"}`);
console.log(`generator: ${generatorRef!.deref() === undefined ? "collected" : "kept"}`);
console.log(`its locals: ${payloadRef!.deref() === undefined ? "collected" : "kept"}`);
