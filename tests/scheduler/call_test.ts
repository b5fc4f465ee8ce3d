import assert from "node:assert/strict";
import { call, type Coroutine, end, join, run, sleep, spawn, VirtualClock } from "../../mod.ts";

function* double(x: number): Coroutine<number> {
  yield* sleep(1);
  return x * 2;
}

Deno.test("call() gives the sub-coroutine's return value, typed through yield*", async () => {
  const result = await run(
    function* () {
      const typed: number = yield* call(double(20));
      return typed + 2;
    }(),
    { clock: new VirtualClock() },
  );
  assert.equal(result, 42);
});

Deno.test("yielding a generator object directly is a call (Bluelet style)", async () => {
  const result = await run(
    function* (): Coroutine<number> {
      const x = yield double(21);
      return x;
    }(),
    { clock: new VirtualClock() },
  );
  assert.equal(result, 42);
});

Deno.test("call() propagates an exception through three levels to a try/catch at the top", async () => {
  const record: string[] = [];
  function* level3(): Coroutine<never> {
    yield* sleep(1);
    throw new RangeError("deep failure");
  }
  function* level2(): Coroutine<void> {
    try {
      yield call(level3());
    } finally {
      record.push("level2 finally");
    }
  }
  function* level1(): Coroutine<void> {
    yield level2();
    record.push("unreachable");
  }
  await run(
    function* (): Coroutine<void> {
      try {
        yield call(level1());
      } catch (error) {
        record.push(`caught ${(error as Error).name}: ${(error as Error).message}`);
      }
    }(),
    { clock: new VirtualClock() },
  );
  assert.deepEqual(record, ["level2 finally", "caught RangeError: deep failure"]);
});

Deno.test("an error escaping three levels of calls in a spawned thread reaches its joiner", async () => {
  function* inner(): Coroutine<never> {
    yield* sleep(5);
    throw new Error("from the third level");
  }
  function* middle(): Coroutine<void> {
    yield inner();
  }
  function* outer(): Coroutine<void> {
    yield middle();
  }
  const message = await run(
    function* () {
      const task = yield* spawn(outer());
      try {
        yield* join(task);
        return "no error";
      } catch (error) {
        return (error as Error).message;
      }
    }(),
    { clock: new VirtualClock() },
  );
  assert.equal(message, "from the third level");
});

Deno.test("call() handles a chain of 100,000 nested calls without growing the JS stack", async () => {
  function* nest(depth: number): Coroutine<number> {
    if (depth === 0) return 0;
    const below: number = yield nest(depth - 1);
    return below + 1;
  }
  assert.equal(await run(nest(100_000)), 100_000);
});

Deno.test("call() throws a TypeError at the yield point for a non-generator", async () => {
  const message = await run(function* () {
    try {
      // @ts-expect-error: a generator function, not a generator object
      yield* call(double);
      return "no error";
    } catch (error) {
      assert.ok(error instanceof TypeError);
      return error.message;
    }
  }());
  assert.equal(
    message,
    "Cannot call coroutine: generator function double is not a generator; call it to make one, as in double()",
  );
});

Deno.test("yielding something that is not an event, generator or promise throws a TypeError there", async () => {
  const messages = await run(function* (): Coroutine<string[]> {
    const out: string[] = [];
    // An object that looks like an event (a `kind`, a `start`) is not one either.
    const lookalike = { kind: 11, description: "fake", start: () => null, finish: () => 1 };
    function* work() {}
    for (const bad of [42, "text", { x: 1 }, null, lookalike, undefined, work]) {
      try {
        yield bad;
      } catch (error) {
        assert.ok(error instanceof TypeError);
        out.push(error.message);
      }
    }
    return out;
  }());
  assert.deepEqual(messages, [
    "Cannot handle yielded value: number 42 is not an event, a generator or a promise",
    'Cannot handle yielded value: the string "text" is not an event, a generator or a promise',
    "Cannot handle yielded value: an object (Object) is not an event, a generator or a promise",
    "Cannot handle yielded value: null is not an event, a generator or a promise",
    "Cannot handle yielded value: an object (Object) is not an event, a generator or a promise",
    "Cannot handle yielded value: undefined is not an event, a generator or a promise",
    "Cannot handle yielded value: generator function work is not an event, a generator or a promise; call it to make one, as in work()",
  ]);
});

Deno.test("end() finishes only the called coroutine, runs its finally, and gives the caller its value", async () => {
  const record: string[] = [];
  function* find(xs: number[]): Coroutine<number> {
    try {
      for (const x of xs) {
        record.push(`look at ${x}`);
        if (x > 2) yield end(x);
      }
      return -1;
    } finally {
      record.push("find finally");
    }
  }
  const found = await run(function* (): Coroutine<number> {
    const value = yield find([1, 3, 5]);
    record.push(`caller got ${value}`);
    return value;
  }());
  assert.equal(found, 3);
  assert.deepEqual(record, ["look at 1", "look at 3", "find finally", "caller got 3"]);
});

Deno.test("end() without a value gives undefined, and ends a spawned thread with it", async () => {
  const value = await run(function* () {
    const task = yield* spawn(function* (): Coroutine<string> {
      yield end();
      return "unreachable";
    }());
    return yield* join(task);
  }());
  assert.equal(value, undefined);
});
