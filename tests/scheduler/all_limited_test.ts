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

Deno.test("all(ops, { concurrency }) leaves a thread an operation spawns free-running, as all(ops) does", async () => {
  for (const concurrency of [Infinity, 1]) {
    const record: string[] = [];
    const op = function* (name: string): Coroutine<string> {
      yield* spawn(function* () {
        try {
          yield* sleep(50);
          record.push(`${name}'s background thread finished`);
        } finally {
          record.push(`${name}'s background thread ended`);
        }
      }());
      yield* sleep(1);
      return name;
    };
    await run(
      function* () {
        const names = yield* all([op("a"), op("b")], { concurrency });
        record.push(`all gave ${names.join(",")}`);
        yield* sleep(100);
      }(),
      { clock: new VirtualClock() },
    );
    assert.deepEqual(record, [
      "all gave a,b",
      "a's background thread finished",
      "a's background thread ended",
      "b's background thread finished",
      "b's background thread ended",
    ], `concurrency ${concurrency}`);
  }
});

Deno.test("all(ops, { concurrency }) starts no operation once one has failed, even in that same instant", async () => {
  // op0 fails at 10 in the same instant as op1 ends (op1's timer was armed after op0's):
  // op1's worker must not go on to start op2.
  const record: string[] = [];
  function* op(name: string, fail: boolean): Coroutine<string> {
    record.push(`${name} started`);
    try {
      yield* sleep(10);
      if (fail) throw new Error(`${name} failed`);
      record.push(`${name} done`);
      return name;
    } finally {
      record.push(`${name} ended`);
    }
  }
  await assert.rejects(
    run(all([op("op0", true), op("op1", false), op("op2", false)], { concurrency: 2 }), {
      clock: new VirtualClock(),
    }),
    { message: "op0 failed" },
  );
  assert.deepEqual(record, ["op0 started", "op1 started", "op0 ended", "op1 ended"]);
});

Deno.test("all(ops, { concurrency }) starts no operation while a failure's cleanup kills the others", async () => {
  // op0 fails at 10; op1 and op2 are killed at once, and op1's cleanup takes 20 ms: op2's
  // worker, killed with it, must not start op3 meanwhile.
  const clock = new VirtualClock();
  const record: string[] = [];
  function* op(name: string, ms: number, fail = false): Coroutine<string> {
    record.push(`${name} started at ${clock.now()}`);
    try {
      yield* sleep(ms);
      if (fail) throw new Error(`${name} failed`);
      return name;
    } finally {
      if (name === "op1") yield* sleep(20);
      record.push(`${name} ended at ${clock.now()}`);
    }
  }
  await assert.rejects(
    run(
      all([op("op0", 10, true), op("op1", 100), op("op2", 5 + 10), op("op3", 1)], {
        concurrency: 3,
      }),
      { clock },
    ),
    { message: "op0 failed" },
  );
  assert.deepEqual(record, [
    "op0 started at 0",
    "op1 started at 0",
    "op2 started at 0",
    "op0 ended at 10",
    "op2 ended at 10",
    "op1 ended at 30",
  ]);
});
