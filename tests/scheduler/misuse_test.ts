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
