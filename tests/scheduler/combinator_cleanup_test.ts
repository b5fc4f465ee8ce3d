// `all`, `race` and `withTimeout` kill their losers and wait for them; that cleanup must
// reach every loser, lose no error, and not be cut short when the caller is killed.
import assert from "node:assert/strict";
import {
  all,
  Channel,
  type Coroutine,
  DeadlockError,
  kill,
  moveOnAfter,
  type Operation,
  race,
  run,
  shield,
  sleep,
  spawn,
  taskGroup,
  TimeoutError,
  VirtualClock,
  withTimeout,
  yieldNow,
} from "../../mod.ts";
import { after } from "./_helpers.ts";

function* failingAfter(ms: number, error: Error): Coroutine<never> {
  yield* sleep(ms);
  throw error;
}

/** Sleeps long; its finally records, then throws `cleanupError` if given. */
function* loser(record: string[], name: string, cleanupError?: Error): Coroutine<string> {
  try {
    yield* sleep(1_000_000);
    record.push(`${name} ran to completion (wrong)`);
    return name;
  } finally {
    record.push(`${name} finally`);
    // deno-lint-ignore no-unsafe-finally -- the point: a cleanup that fails
    if (cleanupError !== undefined) throw cleanupError;
  }
}

// deno-lint-ignore require-yield -- a coroutine that ends in its first step
function* at<T>(value: T): Coroutine<T> {
  return value;
}

// deno-lint-ignore require-yield -- a coroutine that fails in its first step
function* failing(message: string): Coroutine<never> {
  throw new Error(message);
}

Deno.test("race() kills every loser even when one loser's finally throws", async () => {
  const record: string[] = [];
  const cleanup = new Error("cleanup failed");
  const clock = new VirtualClock();
  const error = await run(
    function* () {
      let caught: unknown;
      try {
        yield* race([after(1, "winner"), loser(record, "first", cleanup), loser(record, "second")]);
      } catch (error) {
        caught = error;
        record.push("race threw");
      }
      yield* sleep(2_000_000); // a loser left running would finish meanwhile
      return caught;
    }(),
    { clock },
  );
  assert.equal(error, cleanup, "the winner succeeded, so the cleanup error is the error");
  assert.deepEqual(record, ["first finally", "second finally", "race threw"]);
  assert.equal(clock.now(), 2_000_001);
});

Deno.test("all() gives the real error with the cleanup error chained to it", async () => {
  const record: string[] = [];
  const real = new Error("child failed");
  const cleanup = new Error("cleanup failed");
  const error = await run(
    all([failingAfter(1, real), loser(record, "first", cleanup), loser(record, "second")]),
    { clock: new VirtualClock() },
  ).catch((e) => e);
  assert.ok(error instanceof SuppressedError, `got ${error}`);
  assert.equal(error.suppressed, real, "the real error is kept");
  assert.equal(error.error, cleanup, "the cleanup error is chained, newest outermost");
  assert.deepEqual(record, ["first finally", "second finally"]);
});

Deno.test("all() chains several cleanup errors, none dropped", async () => {
  const record: string[] = [];
  const real = new Error("child failed");
  const first = new Error("first cleanup failed");
  const second = new Error("second cleanup failed");
  const error = await run(
    all([failingAfter(1, real), loser(record, "a", first), loser(record, "b", second)]),
    { clock: new VirtualClock() },
  ).catch((e) => e);
  assert.ok(error instanceof SuppressedError);
  assert.equal(error.suppressed, real);
  const cleanups = error.error;
  assert.ok(cleanups instanceof SuppressedError);
  assert.deepEqual([cleanups.error, cleanups.suppressed], [second, first]);
});

Deno.test("withTimeout() around race() waits for the losers' slow cleanup before it throws", async () => {
  const record: string[] = [];
  const clock = new VirtualClock();
  function* slowLoser(): Coroutine<string> {
    try {
      yield* sleep(1_000_000);
      return "slow loser";
    } finally {
      record.push(`slow loser finally starts at ${clock.now()}`);
      yield* sleep(100);
      record.push(`slow loser finally ends at ${clock.now()}`);
    }
  }
  const error = await run(
    function* () {
      try {
        yield* withTimeout(50, race([after(10, "winner"), slowLoser(), loser(record, "other")]));
      } catch (error) {
        record.push(`caught ${(error as Error).name} at ${clock.now()}`);
        return error;
      }
      return "no error";
    }(),
    { clock },
  );
  assert.ok(error instanceof TimeoutError);
  assert.deepEqual(record, [
    "slow loser finally starts at 10",
    "other finally", // the losers are killed at once, not one after the other
    "slow loser finally ends at 110",
    "caught TimeoutError at 110",
  ]);
});

Deno.test("withTimeout() chains a cleanup error to its TimeoutError", async () => {
  const record: string[] = [];
  const cleanup = new Error("cleanup failed");
  const error = await run(withTimeout(5, loser(record, "slow", cleanup)), {
    clock: new VirtualClock(),
  }).catch((e) => e);
  assert.ok(error instanceof SuppressedError);
  assert.equal(error.error, cleanup);
  assert.ok(error.suppressed instanceof TimeoutError);
  assert.deepEqual(record, ["slow finally"]);
});

Deno.test("race() over channel receives loses no item when two are woken at once", async () => {
  const channel = new Channel<string>(0);
  const record: string[] = [];
  await run(function* () {
    yield* spawn(function* () {
      yield* yieldNow();
      record.push(`sent a: ${channel.trySend("a")}`);
      record.push(`sent b: ${channel.trySend("b")}`);
    }());
    const first = yield* race([channel.receive(), channel.receive()]);
    record.push(`race got ${first.value}`);
    const second = yield* channel.receive();
    record.push(`then got ${second.value}`);
  }());
  assert.deepEqual(record, ["sent a: true", "sent b: true", "race got a", "then got b"]);
});

Deno.test("race() over channel receives loses no item when three are woken at once", async () => {
  // The winner kills every loser before any of them runs again: killed one after the
  // other, the third loser ran while the second unwound, took its item, and lost it.
  const channel = new Channel<string>(0);
  const record: string[] = [];
  await run(
    function* () {
      yield* spawn(function* () {
        yield* yieldNow();
        for (const item of ["a", "b", "c"]) record.push(`sent ${item}: ${channel.trySend(item)}`);
      }());
      const first = yield* race([channel.receive(), channel.receive(), channel.receive()]);
      record.push(`race got ${first.value}`);
      for (let i = 0; i < 2; i++) record.push(`then got ${(yield* channel.receive()).value}`);
    }(),
    { clock: new VirtualClock() },
  );
  assert.deepEqual(record, [
    "sent a: true",
    "sent b: true",
    "sent c: true",
    "race got a",
    "then got b",
    "then got c",
  ]);
});

Deno.test("a DeadlockError names every loser a race's cleanup waits for", async () => {
  const channel = new Channel<string>(0);
  function* stuckInCleanup(): Coroutine<void> {
    try {
      yield* sleep(1_000_000);
    } finally {
      yield* channel.receive(); // nobody ever sends
    }
  }
  const error = await run(race([after(1, "winner"), stuckInCleanup(), stuckInCleanup()]), {
    clock: new VirtualClock(),
  }).catch((e) => e);
  assert.ok(error instanceof DeadlockError, `got ${error}`);
  assert.match(
    error.message,
    /thread 1 waits on kill\(thread 2, thread 3\); thread 2 waits on receive\(Channel\); thread 3 waits on receive\(Channel\)/,
  );
});

Deno.test("a race's winner killed while it waits for the losers drops no loser's cleanup error", async () => {
  // At 1 the winner kills both losers at once: the first one's cleanup fails at once, the
  // second's takes 100 ms. At 2 the group fails and kills the winner as it waits. The
  // first loser's error, handed to nobody now, reaches the group, beside the group's own.
  const clock = new VirtualClock();
  function* slowLoser(): Coroutine<void> {
    try {
      yield* sleep(1_000_000);
    } finally {
      yield* sleep(100);
    }
  }
  const error = await run(
    taskGroup(function* (group) {
      yield* group.spawn(
        race([after(1, "winner"), loser([], "fast", new Error("fast cleanup")), slowLoser()]),
      );
      yield* group.spawn(failingAfter(2, new Error("boom")));
    }),
    { clock },
  ).catch((e) => e);
  const messages: string[] = [];
  for (
    let e = error;
    e !== undefined;
    e = e instanceof SuppressedError ? e.suppressed : undefined
  ) {
    messages.push(e instanceof SuppressedError ? e.error.message : e.message);
  }
  assert.deepEqual(messages.sort(), ["boom", "fast cleanup"]);
});

Deno.test("withTimeout() on a channel receive loses no item sent as the time runs out", async () => {
  const channel = new Channel<string>(0);
  const record: string[] = [];
  await run(
    function* () {
      yield* spawn(function* () {
        yield* sleep(10);
        record.push(`sent: ${channel.trySend("late")}`);
      }());
      try {
        const got = yield* withTimeout(10, channel.receive());
        record.push(`got ${got.value} in time`);
      } catch (error) {
        record.push((error as Error).name);
        record.push(`left in the channel: ${channel.tryReceive()?.value}`);
      }
    }(),
    { clock: new VirtualClock() },
  );
  // Either answer is right; losing the item is not.
  assert.ok(
    JSON.stringify(record) === JSON.stringify(["sent: true", "got late in time"]) ||
      JSON.stringify(record) ===
        JSON.stringify(["sent: true", "TimeoutError", "left in the channel: late"]) ||
      JSON.stringify(record) ===
        JSON.stringify(["sent: false", "TimeoutError", "left in the channel: undefined"]) ||
      JSON.stringify(record) ===
        JSON.stringify(["TimeoutError", "left in the channel: undefined", "sent: false"]),
    record.join(" | "),
  );
});

Deno.test("a scope that ends while a thread it owns is in race()'s cleanup ends well", async (t) => {
  // The scope kills what it owns when it ends: the race's helper threads too, the winner
  // among them while it kills the losers. The race's caller is killed as well, and no
  // error of anyone's: the scope ends with its value, a task group with its body's.
  const noop = () => function* () {}();
  for (const yields of [1, 2, 3, 4]) {
    await t.step(`a scope, ending after ${yields} yields`, async () => {
      const value = await run(function* () {
        const scope = yield* spawn(
          function* () {
            yield* spawn(function* () {
              yield* race([noop(), noop(), all([noop()])]);
            }());
            for (let i = 0; i < yields; i++) yield* yieldNow();
            return "scope done";
          }(),
          { scope: true },
        );
        return yield* scope;
      }());
      assert.equal(value, "scope done");
    });
    await t.step(`a task group, ending after ${yields} yields`, async () => {
      const value = await run(taskGroup(function* () {
        yield* spawn(function* () {
          yield* race([noop(), noop(), all([noop()])]);
        }());
        for (let i = 0; i < yields; i++) yield* yieldNow();
        return "body done";
      }));
      assert.equal(value, "body done");
    });
  }
  await t.step("moveOnAfter around a task group whose child races", async () => {
    const result = await run(
      moveOnAfter(
        1,
        taskGroup(function* (group) {
          yield* group.spawn(function* () {
            for (;;) {
              yield* sleep(1);
              yield* race([noop(), noop(), all([noop()])]);
            }
          }());
        }),
      ),
      { clock: new VirtualClock() },
    );
    assert.deepEqual(result, { timedOut: true, value: undefined });
  });
});

Deno.test("a combinator's caller killed while the losers clean up: the killer gets what their cleanup threw", async (t) => {
  // The answer is known and the losers are being killed (a shielded cleanup) when the
  // caller is killed: the kill waits for the cleanup, and what it throws (and an error
  // `all` was about to throw) goes to the killer, not nowhere.
  const loser = () =>
    function* (): Coroutine<void> {
      try {
        yield* sleep(100);
      } finally {
        yield* shield(sleep(5));
        // deno-lint-ignore no-unsafe-finally -- the point: a cleanup that fails
        throw new Error("X: the loser's cleanup");
      }
    }();
  const cases: [string, () => Operation<unknown>, string][] = [
    ["race", () => race([sleep(0), loser()]), "X: the loser's cleanup"],
    [
      "all",
      () => all([failingAfter(0, new Error("E: all's child")), loser()]),
      "X: the loser's cleanup, after E: all's child",
    ],
    ["withTimeout", () => withTimeout(0, loser()), "X: the loser's cleanup, after timed out"],
  ];
  for (const [name, operation, expected] of cases) {
    await t.step(name, async () => {
      let got = "nothing";
      await run(
        function* () {
          const victim = yield* spawn(operation());
          yield* sleep(2); // the combinator waits for the loser's cleanup now
          try {
            yield* kill(victim);
          } catch (error) {
            got = error instanceof SuppressedError
              ? `${error.error.message}, after ${
                (error.suppressed as Error).name === "TimeoutError"
                  ? "timed out"
                  : (error.suppressed as Error).message
              }`
              : (error as Error).message;
          }
        }(),
        { clock: new VirtualClock() },
      );
      assert.equal(got, expected);
    });
  }
});

Deno.test("the losers are killed before any of them runs again", async (t) => {
  // The first branch decides in its first step; the others were ready to run, and would
  // fail in theirs. They are all killed at once, before any runs: none fails, and the
  // combinator's answer is the first branch's alone.
  await t.step("race", async () => {
    assert.equal(
      await run(race([at("winner"), at(undefined), failing("a loser failed")])),
      "winner",
    );
  });
  await t.step("all", async () => {
    await assert.rejects(
      run(all([failing("first"), at(undefined), failing("second")])),
      (error) => {
        assert.ok(!(error instanceof SuppressedError), `got ${error}`);
        assert.equal((error as Error).message, "first");
        return true;
      },
    );
  });
});

Deno.test("a combinator's caller killed after its children failed, before it took the answer in, drops no error", async () => {
  // all()'s child has thrown, and the answer waits for the caller to run again; another
  // thread's error ends the run first, killing the caller. The child's error is not
  // dropped: it goes to the kill's killer (here the run), chained.
  const record: string[] = [];
  await assert.rejects(
    run(function* () {
      yield* spawn(function* () {
        yield* spawn(failing("S: another thread's"));
      }());
      record.push("all begins");
      yield* all([failing("A: all's child")]);
    }()),
    (error) => {
      assert.ok(error instanceof SuppressedError, `got ${error}`);
      const messages = [(error.error as Error).message, (error.suppressed as Error).message];
      assert.deepEqual(messages.sort(), ["A: all's child", "S: another thread's"]);
      return true;
    },
  );
  assert.deepEqual(record, ["all begins"]);
});

Deno.test("a withTimeout caller killed while the timed-out operation cleans up: its killer gets no TimeoutError", async () => {
  // The timeout is withTimeout's own answer, not an error of anyone's: a caller killed
  // before it could throw it has nothing to hand on, and its kill ends without an error.
  const record: string[] = [];
  await run(
    function* () {
      const caller = yield* spawn(withTimeout(
        1,
        function* (): Coroutine<void> {
          try {
            yield* sleep(100);
          } finally {
            yield* shield(sleep(5)); // the operation's slow cleanup
            record.push("operation cleaned up");
          }
        }(),
      ));
      yield* sleep(2); // the time ran out at 1; the cleanup goes on until 6
      yield* kill(caller);
      record.push(`caller killed, killed ${caller.killed}`);
    }(),
    { clock: new VirtualClock() },
  );
  assert.deepEqual(record, ["operation cleaned up", "caller killed, killed true"]);
});

Deno.test("a DeadlockError names the first five losers a race's cleanup waits for, and counts the rest", async () => {
  const channel = new Channel<string>(0);
  function* stuckInCleanup(): Coroutine<void> {
    try {
      yield* sleep(1_000_000);
    } finally {
      yield* channel.receive(); // nobody ever sends
    }
  }
  const losers = Array.from({ length: 8 }, stuckInCleanup);
  const error = await run(race([after(1, "winner"), ...losers]), {
    clock: new VirtualClock(),
  }).catch((e) => e);
  assert.ok(error instanceof DeadlockError, `got ${error}`);
  assert.match(
    error.message,
    /thread 1 waits on kill\(thread 2, thread 3, thread 4, thread 5, thread 6, 3 more\);/,
  );
});
