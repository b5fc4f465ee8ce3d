// `spawn(op, { scope: true })`: a thread that owns the threads spawned inside it.
import assert from "node:assert/strict";
import { type Coroutine, run, shield, sleep, spawn, VirtualClock } from "../../mod.ts";

function* failAfter(ms: number, message: string): Coroutine<never> {
  yield* sleep(ms);
  throw new Error(message);
}

function* sleeper(record: string[], name: string): Coroutine<void> {
  try {
    yield* sleep(1_000_000);
    record.push(`${name} woke (wrong)`);
  } finally {
    record.push(`${name} finally`);
  }
}

Deno.test("an error escaping a thread of a scope is thrown into the scope, not the run", async () => {
  const record: string[] = [];
  const clock = new VirtualClock();
  const value = await run(
    function* () {
      const scope = yield* spawn(
        function* () {
          yield* spawn(function* () {
            // A thread spawned by a thread of the scope belongs to it too.
            yield* spawn(failAfter(10, "grandchild failed"));
            yield* sleep(1_000_000);
          }());
          try {
            yield* sleep(1_000_000);
          } catch (error) {
            record.push(`scope caught "${(error as Error).message}" at ${clock.now()}`);
          }
          return "scope done";
        }(),
        { scope: true },
      );
      return yield* scope;
    }(),
    { clock },
  );
  assert.equal(value, "scope done");
  assert.deepEqual(record, ['scope caught "grandchild failed" at 10']);
});

Deno.test("a scope that ends kills the threads it owns and waits for their finally blocks", async () => {
  const record: string[] = [];
  await run(
    function* () {
      const scope = yield* spawn(
        function* () {
          yield* spawn(sleeper(record, "first"));
          yield* spawn(sleeper(record, "second"));
          yield* sleep(5);
          record.push("scope body ends");
        }(),
        { scope: true },
      );
      yield* scope;
      record.push("joiner sees the scope end");
    }(),
    { clock: new VirtualClock() },
  );
  assert.deepEqual(record, [
    "scope body ends",
    "first finally",
    "second finally",
    "joiner sees the scope end",
  ]);
});

Deno.test("a scope's own uncaught error goes to its joiner, after its threads are gone", async () => {
  const record: string[] = [];
  const caught = await run(
    function* () {
      const scope = yield* spawn(
        function* () {
          yield* spawn(sleeper(record, "helper"));
          yield* spawn(failAfter(5, "helper failed"));
          yield* sleep(1_000_000); // not caught here: the scope fails with it
        }(),
        { scope: true },
      );
      try {
        yield* scope;
      } catch (error) {
        return (error as Error).message;
      }
      return "no error";
    }(),
    { clock: new VirtualClock() },
  );
  assert.equal(caught, "helper failed");
  assert.deepEqual(record, ["helper finally"]);
});

Deno.test("an error from a thread of a scope waits for the scope's shield to end", async () => {
  const record: string[] = [];
  const clock = new VirtualClock();
  await run(
    function* () {
      const scope = yield* spawn(
        function* () {
          yield* spawn(failAfter(5, "helper failed"));
          try {
            yield* shield(function* () {
              yield* sleep(20);
              record.push(`shield done at ${clock.now()}`);
            }());
            record.push("after the shield (wrong)");
          } catch (error) {
            record.push(`caught "${(error as Error).message}" at ${clock.now()}`);
          }
        }(),
        { scope: true },
      );
      yield* scope;
    }(),
    { clock },
  );
  assert.deepEqual(record, ["shield done at 20", 'caught "helper failed" at 20']);
});

Deno.test("without a scope, an unjoined thread's error still ends the run", async () => {
  await assert.rejects(
    run(
      function* () {
        yield* spawn(failAfter(5, "orphan failed"));
        yield* sleep(1_000_000);
      }(),
      { clock: new VirtualClock() },
    ),
    /orphan failed/,
  );
});

Deno.test("a closing scope takes in its last thread's cleanup error before it ends", async () => {
  const first = new Error("first");
  const cleanup = new Error("cleanup");
  const caught = await run(
    function* () {
      const scope = yield* spawn(
        function* () {
          yield* spawn(function* () {
            try {
              yield* sleep(1000);
            } finally {
              // deno-lint-ignore no-unsafe-finally -- the point: a cleanup that fails
              throw cleanup;
            }
          }());
          yield* spawn(failAfter(10, "first"));
          yield* sleep(2000);
        }(),
        { scope: true },
      );
      try {
        yield* scope;
      } catch (error) {
        return error;
      }
      return "no error";
    }(),
    { clock: new VirtualClock() },
  );
  assert.ok(caught instanceof SuppressedError, `got ${caught}`);
  assert.equal(caught.error, cleanup);
  assert.equal((caught.suppressed as Error).message, first.message);
});
