import assert from "node:assert/strict";
import {
  all,
  Broadcast,
  Channel,
  type Coroutine,
  end,
  join,
  kill,
  moveOnAfter,
  type Operation,
  race,
  run,
  select,
  Semaphore,
  sleep,
  spawn,
  TimeoutError,
  until,
  VirtualClock,
  withTimeout,
  yieldNow,
} from "../../mod.ts";
import { after } from "./_helpers.ts";

function* failAfter(ms: number, message: string): Coroutine<never> {
  yield* sleep(ms);
  throw new Error(message);
}

Deno.test("withTimeout() gives the result when the coroutine finishes in time", async () => {
  const clock = new VirtualClock();
  const value = await run(withTimeout(100, after(10, "in time")), { clock });
  assert.equal(value, "in time");
  assert.equal(clock.now(), 10, "the timer did not hold the run");
});

Deno.test("withTimeout() kills a late coroutine, runs its finally blocks, then throws TimeoutError", async () => {
  const record: string[] = [];
  const clock = new VirtualClock();
  await run(
    function* () {
      try {
        yield* withTimeout(
          50,
          function* () {
            try {
              yield* sleep(1_000);
            } finally {
              record.push(`cleanup at ${clock.now()}`);
              yield* sleep(5); // a cleanup that itself waits
              record.push(`cleanup finished at ${clock.now()}`);
            }
          }(),
        );
      } catch (error) {
        assert.ok(error instanceof TimeoutError);
        record.push(`${error.name}: ${error.message} at ${clock.now()}`);
      }
    }(),
    { clock },
  );
  assert.deepEqual(record, [
    "cleanup at 50",
    "cleanup finished at 55",
    "TimeoutError: Operation timed out after 50 ms waiting on sleep until 1000 at 55",
  ]);
});

Deno.test("withTimeout() of a coroutine says what the coroutine waited on when its time ran out", async () => {
  const channel = new Channel<number>();
  function* receiver(): Coroutine<unknown> {
    return yield* channel.receive();
  }
  function* delegator(): Coroutine<unknown> {
    return yield* join(yield* spawn(receiver()));
  }
  const messages: string[] = [];
  for (const operation of [receiver, delegator]) {
    await run(withTimeout(10, operation()), { clock: new VirtualClock() }).catch((error) =>
      messages.push(`${error.name}: ${error.message}`)
    );
  }
  assert.deepEqual(messages, [
    "TimeoutError: Operation timed out after 10 ms waiting on receive(Channel)",
    "TimeoutError: Operation timed out after 10 ms waiting on join(thread 3)",
  ]);
});

Deno.test("a negative time limit has run out already, and says 0 ms, not a negative time", async () => {
  const record: string[] = [];
  const clock = new VirtualClock();
  await run(
    function* () {
      for (
        const operation of [sleep(10), new Channel<number>().receive()] as Operation<unknown>[]
      ) {
        try {
          yield* withTimeout(-5, operation);
        } catch (error) {
          record.push(`${(error as Error).message} at ${clock.now()}`);
        }
      }
      const moved = yield* moveOnAfter(-5, sleep(10));
      record.push(`timed out: ${moved.timedOut} at ${clock.now()}`);
    }(),
    { clock },
  );
  assert.deepEqual(record, [
    "Operation timed out after 0 ms waiting on sleep until 10 at 0",
    "Operation timed out after 0 ms waiting on receive(Channel) at 0",
    "timed out: true at 0",
  ]);
});

Deno.test("withTimeout() passes the coroutine's own error through", async () => {
  await assert.rejects(
    run(withTimeout(100, failAfter(10, "own error")), { clock: new VirtualClock() }),
    new Error("own error"),
  );
});

Deno.test("withTimeout() accepts a single event, such as a promise wait", async () => {
  const value = await run(withTimeout(1_000, until(Promise.resolve("from a promise"))));
  assert.equal(value, "from a promise");
});

Deno.test("withTimeout() refuses a duration that is not a finite number", () => {
  // A coroutine and a leaf operation (a channel receive) alike.
  for (
    const operation of [after(1, "x"), new Channel<string>(0).receive()] as Operation<unknown>[]
  ) {
    for (const ms of [NaN, Infinity]) {
      assert.throws(
        () => withTimeout(ms, operation),
        new RangeError(
          `Cannot limit an operation's time: duration must be a finite number of milliseconds, got ${ms}`,
        ),
      );
    }
  }
});

Deno.test("all() gives every result in order, whatever order they finish in", async () => {
  const clock = new VirtualClock();
  const [a, b, c] = await run(all([after(30, "a"), after(10, 2), after(20, true)]), { clock });
  const typed: [string, number, boolean] = [a, b, c];
  assert.deepEqual(typed, ["a", 2, true]);
  assert.equal(clock.now(), 30);
});

Deno.test("all() of nothing gives an empty list", async () => {
  assert.deepEqual(await run(all([])), []);
});

Deno.test("all() throws the first failure after killing the others and running their finally blocks", async () => {
  const record: string[] = [];
  const clock = new VirtualClock();
  await run(
    function* () {
      try {
        yield* all([
          after(100, "slow", record),
          failAfter(10, "fast failure"),
          after(5, "quick", record),
        ]);
      } catch (error) {
        record.push(`caught ${(error as Error).message} at ${clock.now()}`);
      }
    }(),
    { clock },
  );
  assert.deepEqual(record, [
    "quick done",
    "quick finally",
    "slow finally",
    "caught fast failure at 10",
  ]);
});

Deno.test("all() whose child fails at once does not end the run before all() collects the error", async () => {
  const value = await run(
    function* () {
      try {
        yield* all([failAfter(0, "instant"), after(10, "other")]);
        return "no error";
      } catch (error) {
        return (error as Error).message;
      }
    }(),
    { clock: new VirtualClock() },
  );
  assert.equal(value, "instant");
});

Deno.test("race() gives the first result and kills the losers, whose finally blocks run first", async () => {
  const record: string[] = [];
  const clock = new VirtualClock();
  const winner = await run(
    function* () {
      const value = yield* race([after(30, "slow", record), after(10, "fast", record)]);
      record.push(`race returned ${value}`);
      return value;
    }(),
    { clock },
  );
  assert.equal(winner, "fast");
  assert.deepEqual(record, ["fast done", "fast finally", "slow finally", "race returned fast"]);
});

Deno.test("race() throws when the first to finish failed", async () => {
  await assert.rejects(
    run(race([after(30, "slow"), failAfter(10, "first failure")]), { clock: new VirtualClock() }),
    new Error("first failure"),
  );
});

Deno.test("race() refuses an empty list with a RangeError", () => {
  assert.throws(() => race([]), new RangeError("Cannot race: no operations were given"));
});

Deno.test("all(), race() and select() refuse what is not an array with a TypeError, at the call", () => {
  // A Set or an iterator is an easy slip (an iterator helper's map, say): refused where it
  // is made, rather than run as nothing, which deadlocked with "waits on all of undefined".
  const set = new Set([after(1, "a")]);
  const hint = "(spread an iterable into one, as in [...items])";
  const bad = set as unknown as [];
  assert.throws(
    () => all(bad),
    new TypeError(`Cannot run all: operations must be an array, got an object (Set) ${hint}`),
  );
  assert.throws(
    () => race(bad),
    new TypeError(`Cannot race: operations must be an array, got an object (Set) ${hint}`),
  );
  assert.throws(
    () => select(bad),
    new TypeError(`Cannot select: cases must be an array, got an object (Set) ${hint}`),
  );
  assert.throws(
    () => all([], { concurrency: "2" as unknown as number }),
    new TypeError('Cannot run all: concurrency must be a number, got the string "2"'),
  );
  assert.throws(
    () => new Channel("3" as unknown as number),
    new TypeError('Cannot create channel: capacity must be a number, got the string "3"'),
  );
  assert.throws(
    () => new Semaphore("2" as unknown as number),
    new TypeError('Cannot create semaphore: permits must be a number, got the string "2"'),
  );
  assert.throws(
    () => new Broadcast({ capacity: "4" as unknown as number }),
    new TypeError('Cannot create broadcast: capacity must be a number, got the string "4"'),
  );
});

Deno.test("a thread killed inside yield* withTimeout() does not resume after it (no resurrection)", async () => {
  const record: string[] = [];
  await run(
    function* () {
      const task = yield* spawn(function* () {
        try {
          yield* withTimeout(1_000, after(500, "inner", record));
          record.push("resurrected after withTimeout");
        } catch (error) {
          record.push(`resurrected into catch: ${(error as Error).message}`);
        }
      }());
      yield* sleep(10);
      yield* kill(task);
      record.push("killed");
    }(),
    { clock: new VirtualClock() },
  );
  assert.deepEqual(record, ["inner finally", "killed"]);
});

Deno.test("killing a thread inside all() kills all() 's children too, running their finally blocks", async () => {
  const record: string[] = [];
  await run(
    function* () {
      const task = yield* spawn(all([after(100, "x", record), after(200, "y", record)]));
      yield* sleep(10);
      yield* kill(task);
      record.push("killed");
    }(),
    { clock: new VirtualClock() },
  );
  assert.deepEqual(record, ["x finally", "y finally", "killed"]);
});

Deno.test("TimeoutError is an Error with its own name and keeps its cause", () => {
  const cause = new Error("why");
  const error = new TimeoutError("Connect timed out", { cause });
  assert.ok(error instanceof Error);
  assert.equal(error.name, "TimeoutError");
  assert.equal(error.cause, cause);
});

Deno.test("end(value) given to all, race, withTimeout, moveOnAfter and select is an operation that gives its value", async () => {
  const clock = new VirtualClock();
  const results = await run(
    function* () {
      return [
        yield* race([end("race"), sleep(10)]),
        yield* withTimeout(10, end("withTimeout")),
        yield* all([end("all"), end("all again")]),
        yield* all([end("limited"), end("limited again")], { concurrency: 1 }),
        yield* moveOnAfter(10, end("moveOnAfter")),
        yield* select([new Channel<string>().receive(), end("select")]),
        clock.now(),
      ];
    }(),
    { clock },
  );
  assert.deepEqual(results, [
    "race",
    "withTimeout",
    ["all", "all again"],
    ["limited", "limited again"],
    { timedOut: false, value: "moveOnAfter" },
    { index: 1, value: "select" },
    0,
  ]);
});

Deno.test("moveOnAfter() whose caller is killed after the operation failed hands the error to the killer", async (t) => {
  // One turn after the failure the caller was woken but has not run; two turns after, it
  // took the failure in and waits (shielded) for its timer thread to end. Either way it
  // can no longer throw the error, so its killer gets it, as withTimeout's would.
  for (const turns of [1, 2]) {
    await t.step(`killed ${turns} turn(s) after the failure`, async () => {
      const record: string[] = [];
      const failure = new Error("the operation's error");
      await run(
        function* () {
          const caller = yield* spawn(moveOnAfter(
            10,
            function* (): Coroutine<never> {
              yield* sleep(1);
              record.push("operation throws");
              throw failure;
            }(),
          ));
          yield* sleep(1);
          for (let i = 0; i < turns; i++) yield* yieldNow();
          try {
            yield* kill(caller);
            record.push("kill returned");
          } catch (error) {
            record.push(`killer got ${error === failure ? "the operation's error" : error}`);
          }
        }(),
        { clock: new VirtualClock() },
      );
      assert.deepEqual(record, ["operation throws", "killer got the operation's error"]);
    });
  }
});
