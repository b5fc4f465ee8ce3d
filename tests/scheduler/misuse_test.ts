// Misuse gets a clear error at the yield point; it never corrupts a thread or escapes the
// scheduler.
import assert from "node:assert/strict";
import { call, type Coroutine, run, spawn, until, VirtualClock, yieldNow } from "../../mod.ts";

Deno.test("a thenable whose then() throws is an error at the yield point", async (t) => {
  const failure = new Error("then exploded");
  const thenable = {
    then(): never {
      throw failure;
    },
  };
  await t.step("yielded Bluelet-style", async () => {
    const caught = await run(function* () {
      try {
        yield thenable;
      } catch (error) {
        return error;
      }
      return "no error";
    }());
    assert.equal(caught, failure);
  });
  await t.step("through until()", async () => {
    const caught = await run(function* () {
      try {
        yield* until(thenable as unknown as PromiseLike<void>);
      } catch (error) {
        return error;
      }
      return "no error";
    }());
    assert.equal(caught, failure);
  });
});

Deno.test("a generator already running as a thread cannot be driven again", async () => {
  const messages = await run(
    function* (): Coroutine<string[]> {
      const out: string[] = [];
      const child = function* () {
        yield* yieldNow();
      }();
      yield* spawn(child);
      for (const attempt of [() => child, () => call(child)]) {
        try {
          yield attempt();
        } catch (error) {
          assert.ok(error instanceof TypeError);
          out.push(error.message);
        }
      }
      const error = await_(run(child));
      out.push(yield* until(error));
      return out;
    }(),
    { clock: new VirtualClock() },
  );
  assert.deepEqual(messages, [
    "Cannot call coroutine: it is already running as thread 1",
    "Cannot call coroutine: it is already running as thread 1",
    "Cannot run coroutine: it is already running as thread 1",
  ]);
});

function await_(promise: Promise<unknown>): Promise<string> {
  return promise.then(() => "no error", (error) => (error as Error).message);
}

Deno.test("a thenable that calls back at once, or twice, resumes its thread once, with its first value", async () => {
  const atOnce = {
    then(resolve: (value: string) => void): void {
      resolve("called back inside then()");
    },
  };
  let callAgain: ((value: string) => void) | undefined;
  const twice = {
    then(resolve: (value: string) => void): void {
      callAgain = resolve;
      queueMicrotask(() => resolve("first call"));
    },
  };
  const values = await run(function* (): Coroutine<string[]> {
    const first = (yield atOnce) as string;
    const second = (yield twice) as string;
    // The second call lands while the thread waits on something else: ignored.
    const later = new Promise<string>((resolve) => setTimeout(() => resolve("the promise's"), 20));
    setTimeout(() => callAgain!("second call (stale)"), 5);
    const third = (yield later) as string;
    return [first, second, third];
  }());
  assert.deepEqual(values, ["called back inside then()", "first call", "the promise's"]);
});

Deno.test("a yielded object whose then getter throws is an error at the yield point", async () => {
  const failure = new Error("then getter failed");
  const weird = {
    get then(): never {
      throw failure;
    },
  };
  const caught = await run(function* () {
    yield* yieldNow();
    try {
      yield weird;
    } catch (error) {
      return error;
    }
    return "no error";
  }());
  assert.equal(caught, failure);
  assert.equal(
    await await_(run(until(() => weird as unknown as PromiseLike<void>))),
    "then getter failed",
  );
});

Deno.test("an async generator is refused with a TypeError that says what to do", async () => {
  let steps = 0;
  async function* fetchAll(): AsyncGenerator<number, number> {
    steps++;
    yield 1;
    return 2;
  }
  const expected =
    "an async generator: bluelet runs function* generators; consume it in an async function and wait with until()";
  const messages = await run(function* (): Coroutine<string[]> {
    const out: string[] = [];
    for (const attempt of [() => fetchAll(), () => spawn(fetchAll() as never)]) {
      try {
        yield attempt();
      } catch (error) {
        assert.ok(error instanceof TypeError);
        out.push(error.message);
      }
    }
    return out;
  }());
  assert.deepEqual(messages, [
    `Cannot handle yielded value: ${expected}`,
    `Cannot spawn coroutine: ${expected}`,
  ]);
  assert.equal(
    await await_(run(fetchAll() as never)),
    `Cannot run coroutine: ${expected}`,
  );
  assert.equal(steps, 0);
});
