// Run by retention_test.ts with `--v8-flags=--expose-gc`: waits on a promise that never
// settles, from thread after thread that is killed, and says how many of them it keeps.
import { kill, run, sleep, spawn, until } from "../../mod.ts";

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("Run with --v8-flags=--expose-gc");

const never = new Promise<void>(() => {});
// Each kill's reason: the thread keeps it, so it is there as long as the thread is.
const reasons: WeakRef<object>[] = [];
await run(function* () {
  for (let i = 0; i < 200; i++) {
    const task = yield* spawn(until(never));
    yield* sleep(0);
    const reason = new Error(`round ${i}`);
    reasons.push(new WeakRef(reason));
    yield* kill(task, reason);
  }
  // A WeakRef holds its target until the job that made it ends.
  yield* sleep(5);
  gc!();
  const kept = reasons.filter((reason) => reason.deref() !== undefined).length;
  console.log(`killed waits on a promise kept: ${kept > 2 ? kept : "at most two"}`);
}());
