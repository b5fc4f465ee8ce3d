import assert from "node:assert/strict";
import {
  type Coroutine,
  Lock,
  moveOnAfter,
  run,
  sleep,
  spawn,
  until,
  VirtualClock,
  withTimeout,
  yieldNow,
} from "../../mod.ts";

Deno.test("sleep() wakes threads in deadline order, and equal deadlines in the order they were set", async () => {
  const record: string[] = [];
  const clock = new VirtualClock();
  await run(
    function* () {
      for (const [name, ms] of [["c", 30], ["a", 10], ["b1", 20], ["b2", 20]] as const) {
        yield* spawn(function* () {
          yield* sleep(ms);
          record.push(`${name}@${clock.now()}`);
        }());
      }
    }(),
    { clock },
  );
  assert.deepEqual(record, ["a@10", "b1@20", "b2@20", "c@30"]);
});

Deno.test("VirtualClock jumps over an hour of sleeps instantly and lands exactly on each deadline", async () => {
  const clock = new VirtualClock(1_000);
  const seen: number[] = [];
  await run(
    function* () {
      for (let i = 0; i < 3; i++) {
        yield* sleep(60 * 60 * 1000);
        seen.push(clock.now());
      }
    }(),
    { clock },
  );
  assert.deepEqual(seen, [3_601_000, 7_201_000, 10_801_000]);
});

Deno.test("VirtualClock does not jump while a promise is pending", async () => {
  const record: string[] = [];
  const clock = new VirtualClock();
  let resolveOutside!: () => void;
  const outside = new Promise<void>((resolve) => resolveOutside = resolve);
  const running = run(
    function* () {
      yield* spawn(function* () {
        yield* sleep(1_000);
        record.push(`sleeper woke at ${clock.now()}`);
      }());
      yield* until(outside);
      record.push(`promise settled at ${clock.now()}`);
    }(),
    { clock },
  );
  // Let the event loop turn a few times: the clock must stay put meanwhile.
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(clock.now(), 0);
  resolveOutside();
  await running;
  assert.deepEqual(record, ["promise settled at 0", "sleeper woke at 1000"]);
});

Deno.test("sleep() with real time wakes after a shorter real timer set at the same moment", async () => {
  const record: string[] = [];
  const outside = setTimeout(() => record.push("5 ms timer"), 5);
  try {
    await run(function* () {
      yield* sleep(20);
      record.push("20 ms sleep");
    }());
  } finally {
    clearTimeout(outside);
  }
  assert.deepEqual(record, ["5 ms timer", "20 ms sleep"]);
});

Deno.test("sleep() refuses a duration that is not a finite number", () => {
  for (const bad of [NaN, Infinity, -Infinity]) assert.throws(() => sleep(bad), RangeError);
  assert.throws(
    () => sleep(NaN),
    new RangeError("Cannot sleep: duration must be a finite number of milliseconds, got NaN"),
  );
  // Not a number at all: a TypeError, which says what it got rather than "got 10".
  assert.throws(
    () => sleep("10" as unknown as number),
    new TypeError('Cannot sleep: duration must be a number of milliseconds, got the string "10"'),
  );
  assert.throws(
    () => withTimeout(undefined as unknown as number, sleep(1)),
    new TypeError(
      "Cannot limit an operation's time: duration must be a number of milliseconds, got undefined",
    ),
  );
  assert.throws(
    () => moveOnAfter("5" as unknown as number, sleep(1)),
    new TypeError(
      'Cannot move on after a deadline: duration must be a number of milliseconds, got the string "5"',
    ),
  );
});

Deno.test("sleep(0) and negative durations only let other threads run", async () => {
  const record: string[] = [];
  const clock = new VirtualClock();
  await run(
    function* () {
      yield* spawn(function* () {
        record.push("other");
      }());
      yield* sleep(0);
      record.push("after sleep(0)");
      yield* sleep(-5);
      record.push(`after sleep(-5) at ${clock.now()}`);
    }(),
    { clock },
  );
  assert.deepEqual(record, ["other", "after sleep(0)", "after sleep(-5) at 0"]);
});

Deno.test("VirtualClock refuses a start that is not finite, or past where milliseconds are told apart", () => {
  for (const start of [NaN, Infinity, 2 ** 53, -(2 ** 53)]) {
    assert.throws(
      () => new VirtualClock(start),
      new RangeError(
        `Cannot create virtual clock: start must be a finite number within ±2^53 - 1 ms, got ${start}`,
      ),
    );
  }
  assert.equal(new VirtualClock(Number.MAX_SAFE_INTEGER - 10).now(), Number.MAX_SAFE_INTEGER - 10);
});

Deno.test("on a virtual clock, a sleep past 2^53 - 1 ms is a RangeError, and a time limit that far off never ends", async () => {
  // Past 2^53 a double no longer tells one millisecond from the next: a sleep there would
  // take no time at all, and a time limit there would end at once.
  const clock = new VirtualClock(Number.MAX_SAFE_INTEGER - 10);
  const lock = new Lock();
  const record: string[] = [];
  function* releaseSoon(): Coroutine<void> {
    yield* lock.acquire();
    for (let i = 0; i < 3; i++) yield* yieldNow();
    lock.release();
  }
  function* busy(): Coroutine<string> {
    for (let i = 0; i < 3; i++) yield* yieldNow();
    return "done";
  }
  await run(
    function* () {
      yield* sleep(10);
      record.push(`slept to ${clock.now()}`);
      try {
        yield* sleep(1);
      } catch (error) {
        record.push(`sleep(1): ${(error as Error).name}: ${(error as Error).message}`);
      }
      for (
        const [name, limited] of [
          ["withTimeout(1, acquire)", () => withTimeout(1, lock.acquire())],
          ["moveOnAfter(1, acquire)", () => moveOnAfter(1, lock.acquire())],
          ["withTimeout(1, coroutine)", () => withTimeout(1, busy())],
          ["moveOnAfter(1, coroutine)", () => moveOnAfter(1, busy())],
        ] as const
      ) {
        yield* spawn(releaseSoon());
        yield* yieldNow(); // the lock is taken, and given back a few turns later
        const result = yield* limited();
        record.push(`${name}: ${JSON.stringify(result) ?? "acquired"}`);
        if (lock.locked) lock.release();
      }
    }(),
    { clock },
  );
  const at = Number.MAX_SAFE_INTEGER;
  assert.deepEqual(record, [
    `slept to ${at}`,
    `sleep(1): RangeError: Cannot sleep for 1 ms: the virtual clock would pass 2^53 - 1 ms (it is at ${at} ms)`,
    "withTimeout(1, acquire): acquired",
    'moveOnAfter(1, acquire): {"timedOut":false}',
    'withTimeout(1, coroutine): "done"',
    'moveOnAfter(1, coroutine): {"timedOut":false,"value":"done"}',
  ]);
  assert.equal(clock.now(), at);
});

Deno.test("VirtualClock with an autojump threshold past setTimeout's limit does not jump at once", async () => {
  const clock = new VirtualClock(0, { autojumpThreshold: 2 ** 31 });
  const record: string[] = [];
  await run(
    function* () {
      yield* spawn(function* () {
        yield* sleep(1000);
        record.push(`the sleeper woke at ${clock.now()}, after the promise`);
      }());
      // A promise pending for 50 real ms: the clock must hold still meanwhile.
      yield* until(new Promise((resolve) => setTimeout(resolve, 50)));
      record.push(`the promise settled at ${clock.now()}`);
    }(),
    { clock },
  );
  assert.deepEqual(record, [
    "the promise settled at 0",
    "the sleeper woke at 1000, after the promise",
  ]);
});

Deno.test("VirtualClock with an autojump threshold jumps while a promise between threads is pending", async () => {
  const record: string[] = [];
  const clock = new VirtualClock(0, { autojumpThreshold: 1 });
  const { promise, resolve } = Promise.withResolvers<string>();
  const got = await run(
    function* () {
      yield* spawn(function* () {
        yield* sleep(1000);
        record.push(`resolving at ${clock.now()}`);
        resolve("ready");
      }());
      const value = yield* until(promise);
      record.push(`got ${value} at ${clock.now()}`);
      return value;
    }(),
    { clock },
  );
  assert.equal(got, "ready");
  assert.deepEqual(record, ["resolving at 1000", "got ready at 1000"]);
});

Deno.test("VirtualClock refuses a negative autojump threshold", () => {
  assert.throws(() => new VirtualClock(0, { autojumpThreshold: -1 }), {
    name: "RangeError",
    message:
      "Cannot create virtual clock: autojumpThreshold must be a non-negative number of milliseconds, got -1",
  });
});

Deno.test("a VirtualClock serves one run at a time: a second run with it rejects, a later one may use it", async () => {
  const clock = new VirtualClock();
  const { promise, resolve } = Promise.withResolvers<void>();
  const first = run(
    function* () {
      yield* until(promise); // the clock holds still while it waits
      yield* sleep(10);
    }(),
    { clock },
  );
  await assert.rejects(
    run(sleep(1), { clock }),
    new TypeError(
      "Cannot run with this virtual clock: another run uses it (use one clock per run)",
    ),
  );
  resolve();
  await first;
  await run(sleep(5), { clock });
  assert.equal(clock.now(), 15);
});
