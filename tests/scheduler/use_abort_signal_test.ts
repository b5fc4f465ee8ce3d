import assert from "node:assert/strict";
import { kill, KilledError, run, spawn, until, useAbortSignal, yieldNow } from "../../mod.ts";

Deno.test("useAbortSignal() aborts when the thread is killed, so promise-based work stops", async () => {
  const record: string[] = [];
  await run(function* () {
    const task = yield* spawn(function* () {
      const signal = yield* useAbortSignal();
      signal.addEventListener("abort", () => {
        record.push(`aborted: ${(signal.reason as Error).name}`);
      });
      record.push(`aborted before kill: ${signal.aborted}`);
      yield* until(
        new Promise<void>((_resolve, reject) => {
          signal.addEventListener("abort", () => reject(signal.reason));
        }),
      );
    }());
    yield* yieldNow(); // the child reaches its promise wait
    yield* kill(task);
    record.push("killed");
  }());
  assert.deepEqual(record, ["aborted before kill: false", "aborted: KilledError", "killed"]);
});

Deno.test("useAbortSignal() aborts once the thread has ended", async () => {
  const signal = await run(function* () {
    const task = yield* spawn(useAbortSignal());
    return yield* task;
  }());
  assert.equal(signal.aborted, true);
  assert.ok(signal.reason instanceof KilledError);
});
