// `spawn(op, { scope: true })`: a thread that owns the threads spawned inside it.
import assert from "node:assert/strict";
import { type Coroutine, kill, run, shield, sleep, spawn, VirtualClock } from "../../mod.ts";

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

Deno.test("an error escaping a thread of a scope fails the scope, not the run: no catch in it can swallow the error", async () => {
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
            record.push(`scope caught "${(error as Error).message}" (wrong)`);
          } finally {
            record.push(`scope finally at ${clock.now()}`);
          }
          return "scope done (wrong)";
        }(),
        { scope: true },
      );
      try {
        return yield* scope;
      } catch (error) {
        return `joiner got "${(error as Error).message}"`;
      }
    }(),
    { clock },
  );
  assert.deepEqual(record, ["scope finally at 10"]);
  assert.equal(value, 'joiner got "grandchild failed"');
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

Deno.test("an error from a thread of a scope waits for the scope's shield to end, then fails the scope", async () => {
  const record: string[] = [];
  const clock = new VirtualClock();
  const caught = await run(
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
            record.push(`caught "${(error as Error).message}" (wrong)`);
          } finally {
            record.push(`scope finally at ${clock.now()}`);
          }
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
    { clock },
  );
  assert.deepEqual(record, ["shield done at 20", "scope finally at 20"]);
  assert.equal(caught, "helper failed");
});

Deno.test("a scope's thread failing while a kill of the scope waits for its shield: neither is lost", async () => {
  const record: string[] = [];
  const clock = new VirtualClock();
  const caught = await run(
    function* () {
      const scope = yield* spawn(
        function* () {
          yield* spawn(failAfter(5, "helper failed"));
          try {
            yield* shield(sleep(20));
          } finally {
            record.push(`scope finally at ${clock.now()}`);
          }
        }(),
        { scope: true },
      );
      yield* sleep(1);
      try {
        yield* kill(scope);
      } catch (error) {
        return (error as Error).message;
      }
      return "the kill returned normally";
    }(),
    { clock },
  );
  assert.deepEqual(record, ["scope finally at 20"]);
  assert.equal(caught, "helper failed");
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

Deno.test("spawn's owner puts a thread in a given scope; one that names no live scope is a TypeError", async () => {
  const record: string[] = [];
  const clock = new VirtualClock();
  const errors = await run(
    function* () {
      const scope = yield* spawn(sleep(10), { scope: true });
      // Spawned from outside the scope, it still belongs to it: killed when it ends.
      yield* spawn(sleeper(record, "owned"), { owner: scope });
      const plain = yield* spawn(sleep(1));
      const messages: string[] = [];
      for (const owner of [plain, "a string", scope]) {
        if (owner === scope) yield* scope;
        try {
          yield* spawn(sleep(1), { owner: owner as typeof scope });
        } catch (error) {
          messages.push(`${(error as Error).name}: ${(error as Error).message}`);
        }
      }
      return messages;
    }(),
    { clock },
  );
  assert.deepEqual(record, ["owned finally"]);
  assert.deepEqual(errors, [
    "TypeError: Cannot spawn coroutine in thread 3: it is not a scope",
    'TypeError: Cannot spawn coroutine: the owner must be the task of a scope thread, got the string "a string"',
    "TypeError: Cannot spawn coroutine in scope thread 1: it has ended",
  ]);
});
