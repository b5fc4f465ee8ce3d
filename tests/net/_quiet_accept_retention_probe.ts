// Run by retention_test.ts with `--v8-flags=--expose-gc`: accepts on a quiet listener
// with a time limit, over and over, and says how many of the accepting threads are kept.
import { kill, Listener, run, sleep, spawn } from "../../mod.ts";

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("Run with --v8-flags=--expose-gc");

const ROUNDS = 200;
// Each kill's reason: the thread keeps it, so it is there as long as the thread is.
const reasons: WeakRef<object>[] = [];
await run(function* () {
  using listener = new Listener("127.0.0.1", 0);
  // The first accept stays in flight; each later thread waits on it, then is killed.
  for (let i = 0; i < ROUNDS; i++) {
    const task = yield* spawn(listener.accept());
    yield* sleep(0);
    const reason = new Error(`round ${i}`);
    reasons.push(new WeakRef(reason));
    yield* kill(task, reason);
  }
  // A WeakRef holds its target until the job that made it ends.
  yield* sleep(5);
  gc!();
  const kept = reasons.filter((reason) => reason.deref() !== undefined).length;
  console.log(`killed accepts on a quiet listener kept: ${kept > 2 ? kept : "at most two"}`);
}());
