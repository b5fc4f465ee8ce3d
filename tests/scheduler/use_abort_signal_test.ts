import assert from "node:assert/strict";
import {
  join,
  kill,
  KilledError,
  run,
  shield,
  sleep,
  spawn,
  until,
  useAbortSignal,
  VirtualClock,
  yieldNow,
} from "../../mod.ts";

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

Deno.test("useAbortSignal() of a run aborted with a reason gives that reason, as kill(task, reason) does", async () => {
  // A fetch given the thread's signal then rejects with what the caller aborted with.
  const controller = new AbortController();
  const reasons: unknown[] = [];
  const running = run(
    function* () {
      const task = yield* spawn(function* () {
        const signal = yield* useAbortSignal();
        signal.addEventListener("abort", () => reasons.push(signal.reason));
        yield* until(new Promise<never>(() => {}));
      }());
      const signal = yield* useAbortSignal();
      signal.addEventListener("abort", () => reasons.push(signal.reason));
      yield* join(task);
    }(),
    { signal: controller.signal },
  );
  await new Promise((resolve) => setTimeout(resolve, 0));
  controller.abort("shutting down");
  await assert.rejects(running, (error) => error === "shutting down");
  assert.deepEqual(reasons, ["shutting down", "shutting down"]);
});

Deno.test("useAbortSignal() of a thread a shield spares, which ends on its own after the run's abort, says it has ended", async () => {
  // Not killed: the abort's reason is for the threads the run kills.
  const controller = new AbortController();
  const reasons: unknown[] = [];
  const running = run(
    function* () {
      yield* shield(function* () {
        const helper = yield* spawn(function* () {
          const signal = yield* useAbortSignal();
          signal.addEventListener("abort", () => reasons.push(signal.reason));
          yield* sleep(5);
        }());
        yield* sleep(1);
        controller.abort("shutting down");
        yield* join(helper);
      }());
    }(),
    { clock: new VirtualClock(), signal: controller.signal },
  );
  await assert.rejects(running, (error) => error === "shutting down");
  assert.equal(reasons.length, 1);
  assert.ok(reasons[0] instanceof KilledError, `got ${reasons[0]}`);
  assert.equal((reasons[0] as Error).message, "Thread 1 has ended");
});
