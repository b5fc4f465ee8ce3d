import assert from "node:assert/strict";
import { all, type Coroutine, kill, run, sleep, spawn, VirtualClock } from "../../mod.ts";

function* job(name: string, ms: number, record: string[], clock: VirtualClock): Coroutine<string> {
  record.push(`${name} starts at ${clock.now()}`);
  try {
    yield* sleep(ms);
    return name.toUpperCase();
  } finally {
    record.push(`${name} ends at ${clock.now()}`);
  }
}

Deno.test("all(ops, { concurrency }) runs at most n at once, starts each as a slot frees, keeps the order", async () => {
  const record: string[] = [];
  const clock = new VirtualClock();
  const results = await run(
    all([
      job("a", 30, record, clock),
      job("b", 10, record, clock),
      job("c", 10, record, clock),
      job("d", 5, record, clock),
    ], { concurrency: 2 }),
    { clock },
  );
  assert.deepEqual(results, ["A", "B", "C", "D"]);
  assert.deepEqual(record, [
    "a starts at 0",
    "b starts at 0",
    "b ends at 10",
    "c starts at 10",
    "c ends at 20",
    "d starts at 20",
    "d ends at 25",
    "a ends at 30",
  ]);
});

Deno.test("all(ops, { concurrency }): a failure kills the running ones and starts no more", async () => {
  const record: string[] = [];
  const clock = new VirtualClock();
  await assert.rejects(
    run(
      all([
        job("a", 30, record, clock),
        function* () {
          yield* sleep(5);
          throw new Error("b failed");
        }(),
        job("c", 10, record, clock),
      ], { concurrency: 2 }),
      { clock },
    ),
    { message: "b failed" },
  );
  assert.deepEqual(record, ["a starts at 0", "a ends at 5"]);
});

Deno.test("all(ops, { concurrency }): killing the caller kills the running ones", async () => {
  const record: string[] = [];
  const clock = new VirtualClock();
  await run(
    function* () {
      const task = yield* spawn(
        all([job("a", 30, record, clock), job("b", 30, record, clock)], { concurrency: 1 }),
      );
      yield* sleep(10);
      yield* kill(task);
    }(),
    { clock },
  );
  assert.deepEqual(record, ["a starts at 0", "a ends at 10"]);
});

Deno.test("all(ops, { concurrency }) rejects a bad limit and accepts none to run", async () => {
  assert.throws(() => all([], { concurrency: 0 }), RangeError);
  assert.throws(() => all([], { concurrency: 1.5 }), RangeError);
  assert.deepEqual(await run(all([], { concurrency: 3 })), []);
});
