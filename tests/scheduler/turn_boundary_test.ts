// Where a thread's turn ends (its step budget used up) must never change what an event
// does: a kill between two turns finds an event either done, with its result taken in, or
// not begun. Each test sweeps the number of steps before the event, so that for some count
// the budget runs out exactly there.
import assert from "node:assert/strict";
import {
  call,
  Channel,
  type Coroutine,
  kill,
  race,
  run,
  shield,
  sleep,
  spawn,
  type Task,
  until,
  VirtualClock,
  yieldNow,
} from "../../mod.ts";

function* empty(): Coroutine<void> {}

Deno.test("finally { yield* shield(op) } runs op whatever step the kill lands on", async () => {
  const failures: string[] = [];
  for (let extra = 0; extra < 2; extra++) {
    for (let calls = 490; calls < 530; calls++) {
      const record: string[] = [];
      await run(
        function* () {
          for (let i = 0; i < extra; i++) yield* until(() => 0); // one step, no give-way
          const tasks: Task<void>[] = [];
          tasks.push(
            yield* spawn(function* (): Coroutine<void> {
              try {
                for (let i = 0; i < calls; i++) yield call(empty());
              } finally {
                yield* shield(function* () {
                  yield* sleep(1);
                  record.push("goodbye sent");
                }());
                record.push("finally done");
              }
            }()),
          );
          yield* spawn(kill(tasks[0])); // queued behind the victim
        }(),
        { clock: new VirtualClock() },
      );
      if (!record.includes("goodbye sent")) {
        failures.push(`extra=${extra} calls=${calls}: ${JSON.stringify(record)}`);
      }
    }
  }
  assert.deepEqual(failures, []);
});

Deno.test("a race killed as it takes its answer in hands the loser's cleanup error to the killer", async () => {
  const failures: string[] = [];
  for (let turns = 1; turns <= 3; turns++) {
    for (let before = 0; before < 1100; before++) {
      const record: string[] = [];
      let answered = false;
      const fast = function* (): Coroutine<string> {
        for (let i = 0; i < 3; i++) yield* yieldNow();
        answered = true;
        return "fast";
      };
      const loser = function* (): Coroutine<string> {
        try {
          yield* sleep(1_000_000);
          return "slow";
        } finally {
          yield* sleep(5);
          record.push("loser cleaned up");
          // deno-lint-ignore no-unsafe-finally -- the point: a cleanup that fails
          throw new Error("loser cleanup failed");
        }
      };
      let outcome = "none";
      try {
        await run(
          function* () {
            for (let i = 0; i < before; i++) yield* until(() => 0);
            const tasks: Task<string>[] = [];
            tasks.push(yield* spawn(race([fast(), loser()])));
            yield* spawn(function* () {
              let seen = 0;
              while (!answered || ++seen < turns) yield* yieldNow();
              try {
                yield* kill(tasks[0]);
                record.push(`kill returned; loser done: ${record.includes("loser cleaned up")}`);
              } catch (error) {
                record.push(`killer got: ${(error as Error).message}`);
              }
            }());
          }(),
          { clock: new VirtualClock() },
        );
        outcome = "run ok";
      } catch (error) {
        outcome = `run rejected: ${(error as Error).message}`;
      }
      // The loser's cleanup error must reach someone: the killer, the race's joiner, or the run.
      const reached = record.some((r) => r.includes("loser cleanup failed")) ||
        outcome.includes("loser cleanup failed");
      if (!reached) {
        failures.push(`turns=${turns} before=${before}: ${outcome} ${JSON.stringify(record)}`);
      }
    }
  }
  assert.deepEqual(failures, []);
});

Deno.test("a thread killed before the kernel took in its until(promise) leaves no unhandled rejection", async () => {
  let unhandled = 0;
  const onUnhandled = (event: PromiseRejectionEvent) => {
    event.preventDefault();
    unhandled++;
  };
  globalThis.addEventListener("unhandledrejection", onUnhandled);
  try {
    let unwound = 0;
    for (let calls = 480; calls < 540; calls++) {
      await run(function* () {
        const tasks: Task<void>[] = [];
        tasks.push(
          yield* spawn(function* (): Coroutine<void> {
            for (let i = 0; i < calls; i++) yield call(empty());
            try {
              yield* until(Promise.reject(new Error("rejected after the kill")));
            } finally {
              unwound++;
            }
          }()),
        );
        yield* spawn(kill(tasks[0]));
      }());
    }
    await new Promise((resolve) => setTimeout(resolve, 0)); // rejections are reported by now
    assert.ok(unwound > 0);
    assert.equal(unhandled, 0);
  } finally {
    globalThis.removeEventListener("unhandledrejection", onUnhandled);
  }
});

Deno.test("a thread that gave way before its event still makes progress on later turns", async (t) => {
  const items = new Channel<number>(100_000);
  for (let i = 0; i < 100_000; i++) items.trySend(i);
  const events: Record<string, () => unknown> = {
    "a call": () => call(empty()),
    "a Bluelet-style receive": () => items.receive(),
  };
  for (const [name, event] of Object.entries(events)) {
    await t.step(name, async () => {
      let progress = 0;
      const seen: number[] = [];
      await run(function* () {
        let stop = false;
        yield* spawn(function* (): Coroutine<void> {
          // Runs until its budget ends at one of these yields: it then gives way in Handle.
          while (!stop) {
            yield event();
            progress++;
          }
        }());
        // Each turn of this thread is 1 + 2 * 511 = 1023 resumptions: the step budget
        // (1024) less one.
        for (let round = 0; round < 200; round++) {
          for (let i = 0; i < 511; i++) yield call(empty());
          if (round === 20 || round === 199) seen.push(progress);
          yield* yieldNow();
        }
        stop = true;
      }());
      assert.ok(seen[1] > seen[0], `its progress stayed at ${seen[0]} for 180 rounds`);
    });
  }
});

Deno.test("race() kills a loser woken in the same instant before it runs again", async () => {
  const failures: string[] = [];
  for (let before = 990; before < 1030; before++) {
    const record: string[] = [];
    const op = function* (name: string): Coroutine<string> {
      yield* sleep(10); // both timers are due in the same instant
      record.push(`${name} ran`);
      return name;
    };
    const winner = await run(
      function* () {
        for (let i = 0; i < before; i++) yield* until(() => 0); // one step each, no give-way
        return yield* race([op("a"), op("b")]);
      }(),
      { clock: new VirtualClock() },
    );
    if (record.length !== 1) failures.push(`before=${before}: ${winner} ${JSON.stringify(record)}`);
  }
  assert.deepEqual(failures, []);
});

Deno.test("a kill never lands between until(fn) and the value fn gave", async () => {
  const failures: string[] = [];
  for (let calls = 490; calls < 530; calls++) {
    const record: string[] = [];
    const items = [1, 2, 3];
    await run(
      function* () {
        const tasks: Task<void>[] = [];
        tasks.push(
          yield* spawn(function* (): Coroutine<void> {
            for (let i = 0; i < calls; i++) yield call(empty());
            const item = yield* until(() => items.shift()); // takes an item
            record.push(`got ${item}`);
          }()),
        );
        yield* spawn(kill(tasks[0])); // queued behind the victim
      }(),
      { clock: new VirtualClock() },
    );
    if (items.length === 2 && !record.includes("got 1")) {
      failures.push(`calls=${calls}: item 1 taken, never received`);
    }
  }
  assert.deepEqual(failures, []);
});

/**
 * Runs a victim thread that takes `calls` filler steps, then `last`, with a killer queued
 * behind it; gives what its joiner caught, or the run's rejection, as `Name: message`.
 */
async function killedAfter(calls: number, last: () => Coroutine<unknown>): Promise<string> {
  let outcome = "ok";
  try {
    await run(
      function* () {
        const victim = yield* spawn(function* (): Coroutine<void> {
          for (let i = 0; i < calls; i++) yield call(empty());
          yield* last();
        }());
        try {
          yield* spawn(kill(victim)); // queued behind the victim
          yield* victim;
        } catch (e) {
          outcome = `${(e as Error).name}: ${(e as Error).message}`;
        }
      }(),
      { clock: new VirtualClock() },
    );
  } catch (e) {
    outcome = `run: ${(e as Error).name}: ${(e as Error).message}`;
  }
  return outcome;
}

Deno.test("an error thrown by until(fn) is not swallowed by a kill at the turn boundary", async () => {
  const failures: string[] = [];
  for (let calls = 490; calls < 530; calls++) {
    let threw = false;
    const outcome = await killedAfter(calls, function* () {
      yield* until(() => {
        threw = true;
        throw new Error("fn failed");
      });
    });
    if (threw && !outcome.includes("fn failed")) failures.push(`calls=${calls}: ${outcome}`);
  }
  assert.deepEqual(failures, []);
});

Deno.test("a misuse error is not swallowed by a kill at the turn boundary", async (t) => {
  // Events that take effect with the code that yields them (a kill, a shield) and a value
  // that is no event at all are answered before the thread gives way: a misuse's TypeError
  // is that answer, and a kill queued behind must not drop it. (`kill([...])` is a call, a
  // frame of its own, which the thread may give way before: then the kill finds it undone.)
  const misuses: [string, () => Coroutine<unknown>][] = [
    ["kill(42)", function* () {
      yield* kill(42 as never);
    }],
    ["shield(42)", function* () {
      yield* shield(42 as never);
    }],
    ["yield 42", function* () {
      yield 42;
    }],
  ];
  for (const [name, misuse] of misuses) {
    await t.step(name, async () => {
      const failures: string[] = [];
      for (let calls = 490; calls < 530; calls++) {
        let reached = false;
        const outcome = await killedAfter(calls, function* () {
          reached = true; // these events are answered in the step that yields them
          yield* misuse();
        });
        if (reached && !outcome.includes("TypeError")) failures.push(`calls=${calls}: ${outcome}`);
      }
      assert.deepEqual(failures, []);
    });
  }
});

Deno.test("a thread looping on caught misuses still gives way", async () => {
  // The misuse's error must survive a give-way (see above) without the thread keeping its
  // turn for as long as it goes on erring.
  const record: string[] = [];
  await run(function* () {
    let otherRan = false;
    yield* spawn(function* (): Coroutine<void> {
      otherRan = true;
      record.push("other ran");
    }());
    let misuses = 0;
    while (!otherRan && misuses < 10_000) {
      try {
        yield* kill(42 as never);
      } catch (error) {
        if (!(error instanceof TypeError)) throw error;
        misuses++;
      }
    }
    record.push(misuses < 5_000 ? "gave way soon" : `gave way after ${misuses} misuses`);
  }());
  assert.deepEqual(record, ["other ran", "gave way soon"]);
});

Deno.test("a kill that overtakes a misuse's error at the turn boundary still runs finally { yield* shield(op) }", async () => {
  const failures: string[] = [];
  for (let calls = 490; calls < 530; calls++) {
    let reached = false;
    const record: string[] = [];
    const outcome = await killedAfter(calls, function* () {
      try {
        reached = true;
        yield* kill(42 as never);
      } finally {
        yield* shield(function* () {
          yield* sleep(1);
          record.push("goodbye sent");
        }());
      }
    });
    if (reached && !record.includes("goodbye sent")) {
      failures.push(`calls=${calls}: ${JSON.stringify(record)} ${outcome}`);
    }
  }
  assert.deepEqual(failures, []);
});
