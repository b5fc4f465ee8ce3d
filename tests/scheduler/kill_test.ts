import assert from "node:assert/strict";
import {
  call,
  Channel,
  type Coroutine,
  DeadlockError,
  join,
  kill,
  KilledError,
  race,
  run,
  sleep,
  spawn,
  type Task,
  until,
  VirtualClock,
  yieldNow,
} from "../../mod.ts";

Deno.test("kill() during a call unwinds the whole stack, innermost finally first", async () => {
  const record: string[] = [];
  function* level(n: number): Coroutine<void> {
    try {
      if (n === 3) yield* sleep(60_000);
      else yield level(n + 1);
      record.push(`level ${n} body finished`);
    } finally {
      record.push(`level ${n} finally`);
    }
  }
  const clock = new VirtualClock();
  await run(
    function* () {
      const task = yield* spawn(level(1));
      yield* sleep(10);
      yield* kill(task);
      record.push("kill returned");
    }(),
    { clock },
  );
  assert.deepEqual(record, [
    "level 3 finally",
    "level 2 finally",
    "level 1 finally",
    "kill returned",
  ]);
  assert.equal(clock.now(), 10, "the killed sleep's timer no longer holds the run");
});

Deno.test("kill() waits for a finally that yields (say, a goodbye) to run to its end", async () => {
  const record: string[] = [];
  function* sendGoodbye(): Coroutine<string> {
    yield* sleep(5);
    record.push("goodbye sent");
    return "bye";
  }
  await run(
    function* () {
      const task = yield* spawn(function* () {
        try {
          yield* sleep(60_000);
        } finally {
          record.push("cleanup starts");
          const word: string = yield sendGoodbye(); // a call made from inside the dying finally
          record.push(`cleanup got ${word}`);
        }
      }());
      yield* sleep(1);
      yield* kill(task);
      record.push("kill returned");
    }(),
    { clock: new VirtualClock() },
  );
  assert.deepEqual(record, ["cleanup starts", "goodbye sent", "cleanup got bye", "kill returned"]);
});

Deno.test("kill() lets a finally catch an error from its own yields and go on unwinding", async () => {
  const record: string[] = [];
  await run(
    function* () {
      const task = yield* spawn(function* () {
        try {
          try {
            yield* sleep(60_000);
          } finally {
            try {
              yield* until(Promise.reject(new Error("goodbye failed")));
            } catch (error) {
              record.push(`inner finally caught: ${(error as Error).message}`);
            }
          }
        } finally {
          record.push("outer finally");
        }
      }());
      yield* sleep(1);
      yield* kill(task);
      record.push("kill returned");
    }(),
    { clock: new VirtualClock() },
  );
  assert.deepEqual(record, [
    "inner finally caught: goodbye failed",
    "outer finally",
    "kill returned",
  ]);
});

Deno.test("kill() throws the error a finally threw, and the target's joiners get it too", async () => {
  const record: string[] = [];
  const cleanupFailure = new Error("cleanup failed");
  await run(
    function* () {
      const task = yield* spawn(function* () {
        try {
          try {
            yield* sleep(60_000);
          } finally {
            // deno-lint-ignore no-unsafe-finally -- the point of this test is a finally that throws
            throw cleanupFailure;
          }
        } finally {
          record.push("outer finally still runs");
        }
      }());
      const joiner = yield* spawn(function* () {
        try {
          yield* join(task);
        } catch (error) {
          record.push(`joiner got cleanup error: ${error === cleanupFailure}`);
        }
      }());
      yield* sleep(1);
      try {
        yield* kill(task);
      } catch (error) {
        record.push(`killer got cleanup error: ${error === cleanupFailure}`);
      }
      yield* join(joiner);
    }(),
    { clock: new VirtualClock() },
  );
  assert.deepEqual(record, [
    "outer finally still runs",
    "joiner got cleanup error: true",
    "killer got cleanup error: true",
  ]);
});

Deno.test("kill() of a finished thread does nothing", async () => {
  const value = await run(function* () {
    const task = yield* spawn(function* () {
      return "finished";
    }());
    yield* yieldNow();
    yield* kill(task);
    yield* kill(task);
    return yield* join(task);
  }());
  assert.equal(value, "finished");
});

Deno.test("kill() of a thread that never ran skips its body", async () => {
  const record: string[] = [];
  await run(function* () {
    const task = yield* spawn(function* () {
      record.push("body ran");
      yield* yieldNow();
    }());
    yield* kill(task);
    record.push(`killed, done=${task.done}`);
  }());
  assert.deepEqual(record, ["killed, done=true"]);
});

Deno.test("kill() of a thread waiting on a promise ignores the promise's later outcome", async () => {
  const record: string[] = [];
  let resolveLater!: (value: string) => void;
  const later = new Promise<string>((resolve) => resolveLater = resolve);
  await run(function* () {
    const task = yield* spawn(function* () {
      try {
        record.push(`resumed with ${yield* until(later)}`);
      } finally {
        record.push("waiter finally");
      }
    }());
    yield* yieldNow();
    yield* kill(task);
    resolveLater("too late");
    yield* until(later);
    yield* yieldNow();
  }());
  assert.deepEqual(record, ["waiter finally"]);
});

Deno.test("kill() of a joiner takes it off the joined thread, whose later error then ends the run", async () => {
  const record: string[] = [];
  const failure = new Error("nobody joins me anymore");
  await assert.rejects(
    run(
      function* () {
        const failing = yield* spawn(function* (): Coroutine<void> {
          yield* sleep(10);
          throw failure;
        }());
        const joiner = yield* spawn(function* () {
          try {
            yield* join(failing);
          } finally {
            record.push("joiner killed");
          }
        }());
        yield* sleep(1);
        yield* kill(joiner);
        yield* sleep(100);
        record.push("unreachable");
      }(),
      { clock: new VirtualClock() },
    ),
    (error) => error === failure,
  );
  assert.deepEqual(record, ["joiner killed"]);
});

Deno.test("kill() of itself unwinds the calling thread at once", async () => {
  const record: string[] = [];
  function* selfKiller(): Coroutine<void> {
    try {
      yield kill(me);
      record.push("unreachable");
    } finally {
      record.push("self finally");
    }
  }
  const me = selfKiller();
  await run(function* () {
    yield spawn(me);
    try {
      yield join(me);
    } catch (error) {
      record.push((error as Error).name);
    }
  }());
  assert.deepEqual(record, ["self finally", "KilledError"]);
});

Deno.test("kill() while the target is already dying waits for the same unwinding", async () => {
  const record: string[] = [];
  await run(
    function* () {
      const task = yield* spawn(function* () {
        try {
          yield* sleep(60_000);
        } finally {
          yield* sleep(10);
          record.push("cleanup done");
        }
      }());
      yield* sleep(1);
      const first = yield* spawn(function* () {
        yield* kill(task);
        record.push("first killer resumed");
      }());
      const second = yield* spawn(function* () {
        yield* yieldNow();
        yield* kill(task);
        record.push("second killer resumed");
      }());
      yield* join(first);
      yield* join(second);
    }(),
    { clock: new VirtualClock() },
  );
  assert.deepEqual(record, ["cleanup done", "first killer resumed", "second killer resumed"]);
});

Deno.test("a thread killed while joining gets no stale wake-up when the joined thread ends", async () => {
  const record: string[] = [];
  await run(
    function* () {
      const slow = yield* spawn(function* () {
        yield* sleep(10);
        return "slow done";
      }());
      const joiner = yield* spawn(function* () {
        try {
          yield* join(slow);
        } finally {
          yield* sleep(20); // still dying when `slow` ends
          record.push("joiner cleanup done");
        }
      }());
      yield* sleep(1);
      yield* kill(joiner);
      record.push(yield* join(slow));
    }(),
    { clock: new VirtualClock() },
  );
  assert.deepEqual(record, ["joiner cleanup done", "slow done"]);
});

Deno.test("KilledError keeps its cause", () => {
  const cause = new Error("root cause");
  const error = new KilledError("Thread 3 was killed", { cause });
  assert.equal(error.cause, cause);
});

Deno.test("kill() reports every failing finally block, chained innermost first", async () => {
  const inner = new Error("inner cleanup failed");
  const outer = new Error("outer cleanup failed");
  function* level(n: number): Coroutine<void> {
    try {
      if (n === 2) yield* sleep(60_000);
      else yield level(n + 1);
    } finally {
      // deno-lint-ignore no-unsafe-finally -- the point: cleanups that fail
      throw n === 2 ? inner : outer;
    }
  }
  const caught = await run(
    function* () {
      const task = yield* spawn(level(1));
      yield* sleep(1);
      try {
        yield* kill(task);
      } catch (error) {
        return error;
      }
      return "no error";
    }(),
    { clock: new VirtualClock() },
  );
  assert.ok(caught instanceof SuppressedError, `got ${caught}`);
  assert.equal(caught.error, outer);
  assert.equal(caught.suppressed, inner);
});

Deno.test("killing a thread that waits on a promise keeps the kernel's count of pending promises right", async () => {
  const clock = new VirtualClock();
  // Bounded: with a wrong count the clock never jumps again and the run would hang.
  const limit = new AbortController();
  const timer = setTimeout(() => limit.abort(new Error("the run hung")), 5000);
  await assert.rejects(
    run(
      function* () {
        const waiter = yield* spawn(until(new Promise(() => {})));
        yield* yieldNow();
        yield* kill(waiter);
        yield* sleep(1000); // the clock jumps: no promise is pending any more
        const pair: Task<void>[] = [];
        pair.push(
          yield* spawn(function* () {
            yield* yieldNow();
            yield* join(pair[1]);
          }()),
        );
        pair.push(yield* spawn(join(pair[0])));
        yield* join(pair[0]);
      }(),
      { clock, signal: limit.signal },
    ),
    DeadlockError,
  ).finally(() => clearTimeout(timer));
  assert.equal(clock.now(), 1000);
});

Deno.test("a task says whether its thread was killed, not whether it failed with a KilledError", async () => {
  const seen = await run(
    function* () {
      const returned = yield* spawn(sleep(1));
      const failed = yield* spawn(function* () {
        yield* sleep(1);
        throw new KilledError("not a kill: an error of that name");
      }());
      const killed = yield* spawn(sleep(1000));
      const before = [returned.killed, failed.killed, killed.killed];
      yield* kill(killed);
      try {
        yield* join(failed);
      } catch {
        // its own error
      }
      yield* join(returned);
      return { before, after: [returned.killed, failed.killed, killed.killed] };
    }(),
    { clock: new VirtualClock() },
  );
  assert.deepEqual(seen, { before: [false, false, false], after: [false, false, true] });
});

Deno.test("a thread killed before it could throw the error of a thread it joined does not drop it", async () => {
  const record: string[] = [];
  await assert.rejects(
    run(
      function* () {
        const failing = yield* spawn(function* () {
          yield* sleep(10);
          throw new Error("joined thread failed");
        }());
        const joiner = yield* spawn(function* () {
          try {
            yield* join(failing);
          } catch (error) {
            record.push(`joiner caught "${(error as Error).message}" (wrong)`);
          } finally {
            record.push("joiner finally");
          }
        }());
        yield* sleep(1);
        yield* sleep(9); // wakes right after the failure (its timer is older), before the joiner runs
        yield* kill(joiner);
        record.push("the kill returned (wrong)");
      }(),
      { clock: new VirtualClock() },
    ),
    { message: "joined thread failed" },
  );
  assert.deepEqual(record, ["joiner finally"]);
});

Deno.test("a thread killed before it could throw the cleanup error of a thread it killed does not drop it", async () => {
  const record: string[] = [];
  await assert.rejects(
    run(
      function* () {
        const target = yield* spawn(function* () {
          try {
            yield* sleep(1000);
          } finally {
            yield* sleep(10);
            // deno-lint-ignore no-unsafe-finally -- the point: a cleanup that fails
            throw new Error("cleanup failed");
          }
        }());
        const killer = yield* spawn(function* () {
          try {
            yield* kill(target);
          } catch (error) {
            record.push(`killer caught "${(error as Error).message}" (wrong)`);
          } finally {
            record.push("killer finally");
          }
        }());
        yield* sleep(1);
        yield* sleep(9); // wakes right after the cleanup failed, before the killer runs
        yield* kill(killer);
        record.push("the kill returned (wrong)");
      }(),
      { clock: new VirtualClock() },
    ),
    { message: "cleanup failed" },
  );
  assert.deepEqual(record, ["killer finally"]);
});

Deno.test("of two threads joining a failed one, one killed before it threw the error: the other takes it", async () => {
  const record: string[] = [];
  await run(
    function* () {
      const failing = yield* spawn(function* () {
        yield* sleep(10);
        throw new Error("joined thread failed");
      }());
      const first = yield* spawn(function* () {
        try {
          yield* join(failing);
        } catch (error) {
          record.push(`first caught "${(error as Error).message}"`);
        }
      }());
      const second = yield* spawn(function* () {
        try {
          yield* join(failing);
        } finally {
          record.push("second finally");
        }
      }());
      yield* sleep(1);
      yield* sleep(9); // wakes right after the failure, before either joiner runs
      yield* kill(second);
      yield* join(first);
      record.push("the run goes on");
    }(),
    { clock: new VirtualClock() },
  );
  assert.deepEqual(record, [
    'first caught "joined thread failed"',
    "second finally",
    "the run goes on",
  ]);
});

Deno.test("a joined error a thread caught is not routed again when a later wait hands it the same error", async () => {
  const failure = new Error("shared failure");
  // A promise that settles when told, synchronously, inside another thread's step: so the
  // joiner is queued with the error, not yet resumed, when it is killed.
  let reject!: (error: unknown) => void;
  class SettlesWhenTold extends Promise<unknown> {
    // deno-lint-ignore no-explicit-any
    override then(_?: unknown, onRejected?: ((error: unknown) => any) | null): any {
      reject = (error) => onRejected?.(error);
      return this;
    }
  }
  const record: string[] = [];
  await run(
    function* () {
      const failing = yield* spawn(function* () {
        yield* yieldNow();
        throw failure;
      }());
      const joiner = yield* spawn(function* () {
        try {
          yield* join(failing);
        } catch {
          record.push("joiner caught it");
        }
        yield new SettlesWhenTold(() => {}); // fails with the same error object
        record.push("joiner resumed (wrong)");
      }());
      while (reject === undefined) yield* yieldNow();
      reject(failure);
      yield* kill(joiner);
      record.push("the run goes on");
    }(),
    { clock: new VirtualClock() },
  );
  assert.deepEqual(record, ["joiner caught it", "the run goes on"]);
});

Deno.test("a thread whose kill of another ends the run is killed there, not left to catch that kill's error", async () => {
  const record: string[] = [];
  const caught = await run(
    function* () {
      const failing = yield* spawn(function* () {
        yield* sleep(10);
        throw new Error("joined thread failed");
      }());
      const joiner = yield* spawn(function* () {
        try {
          yield* join(failing);
        } finally {
          // deno-lint-ignore no-unsafe-finally -- the point: a cleanup that fails
          throw new Error("joiner's cleanup failed");
        }
      }());
      yield* sleep(10);
      yield* yieldNow(); // the joiner is handed the error, and queued
      try {
        yield* kill(joiner); // nobody else takes that error: the run ends with it
      } catch (error) {
        record.push(`caught "${(error as Error).message}" (wrong)`);
      } finally {
        record.push("finally");
      }
      record.push("went on (wrong)");
    }(),
    { clock: new VirtualClock() },
  ).catch((error) => error);
  assert.deepEqual(record, ["finally"]);
  assert.ok(caught instanceof SuppressedError, String(caught));
  assert.deepEqual(
    [(caught.error as Error).message, (caught.suppressed as Error).message],
    ["joiner's cleanup failed", "joined thread failed"],
  );
});

Deno.test("what a killed thread's finally spawns ends with it, whatever the kill (a scope closing, a plain kill)", async (t) => {
  function* lingering(record: string[], clock: VirtualClock): Coroutine<void> {
    try {
      yield* sleep(100_000);
      record.push("the late helper ran to its end (wrong)");
    } finally {
      record.push(`the late helper ended at ${clock.now()}`);
    }
  }
  function* member(record: string[], clock: VirtualClock): Coroutine<void> {
    try {
      yield* sleep(100_000);
    } finally {
      yield* spawn(lingering(record, clock));
      yield* sleep(1);
      record.push(`the member's finally ends at ${clock.now()}`);
    }
  }
  await t.step("a scope that closes", async () => {
    const clock = new VirtualClock();
    const record: string[] = [];
    await run(
      function* () {
        const scope = yield* spawn(
          function* () {
            yield* spawn(member(record, clock));
            yield* sleep(10);
          }(),
          { scope: true },
        );
        yield* scope;
        record.push(`the scope ended at ${clock.now()}`);
      }(),
      { clock },
    );
    assert.deepEqual(record, [
      "the member's finally ends at 11",
      "the late helper ended at 11",
      "the scope ended at 11",
    ]);
  });
  await t.step("a plain kill", async () => {
    const clock = new VirtualClock();
    const record: string[] = [];
    await run(
      function* () {
        const victim = yield* spawn(member(record, clock));
        yield* sleep(10);
        yield* kill(victim);
        record.push(`the kill returned at ${clock.now()}`);
      }(),
      { clock },
    );
    // Killed as its spawner ends: the killer, which waits for its target only, may run first.
    assert.deepEqual(record, [
      "the member's finally ends at 11",
      "the kill returned at 11",
      "the late helper ended at 11",
    ]);
  });
});

Deno.test("kill(tasks) kills every target at once and throws their cleanup errors once all have ended", async () => {
  const clock = new VirtualClock();
  const record: string[] = [];
  function* worker(name: string, goodbyeMs: number, fails: boolean): Coroutine<void> {
    try {
      yield* sleep(60_000);
    } finally {
      record.push(`${name} cleans up at ${clock.now()}`);
      yield* sleep(goodbyeMs);
      record.push(`${name} done at ${clock.now()}`);
      // deno-lint-ignore no-unsafe-finally -- the point: a cleanup that fails
      if (fails) throw new Error(`${name} failed`);
    }
  }
  await run(
    function* () {
      const a = yield* spawn(worker("a", 30, true));
      const b = yield* spawn(worker("b", 10, false));
      const c = yield* spawn(worker("c", 20, true));
      const finished = yield* spawn(sleep(0));
      yield* sleep(1);
      try {
        yield* kill([a, finished, b, c]);
      } catch (error) {
        // In the targets' order, the last outermost, whatever order they ended in.
        assert.ok(error instanceof SuppressedError);
        record.push(`caught ${error.error.message} after ${error.suppressed.message}`);
      }
      record.push(`kill returned at ${clock.now()}`);
    }(),
    { clock },
  );
  assert.deepEqual(record, [
    "a cleans up at 1",
    "b cleans up at 1",
    "c cleans up at 1",
    "b done at 11",
    "c done at 21",
    "a done at 31",
    "caught c failed after a failed",
    "kill returned at 31",
  ]);
});

Deno.test("kill(tasks) gives its reason to every target, skips finished ones, and does nothing for none", async () => {
  const causes = await run(
    function* () {
      yield* kill([]);
      const targets = [yield* spawn(sleep(1000)), yield* spawn(sleep(1000))];
      const done = yield* spawn(function* () {}());
      yield* yieldNow();
      const reason = new Error("shutting down");
      yield* kill([...targets, done], reason);
      const causes: unknown[] = [];
      for (const target of targets) {
        try {
          yield* join(target);
        } catch (error) {
          assert.ok(error instanceof KilledError);
          causes.push(error.cause === reason);
        }
      }
      return [...causes, done.killed];
    }(),
    { clock: new VirtualClock() },
  );
  assert.deepEqual(causes, [true, true, false]);
});

Deno.test("kill(tasks) with something that is not a task throws a TypeError and kills nobody", async () => {
  const record: string[] = [];
  await run(
    function* () {
      const target = yield* spawn(function* () {
        yield* sleep(10);
        record.push("target ran to its end");
      }());
      try {
        yield* kill([target, "not a task" as unknown as Task<void>]);
      } catch (error) {
        assert.ok(error instanceof TypeError);
        record.push(error.message);
      }
    }(),
    { clock: new VirtualClock() },
  );
  assert.deepEqual(record, [
    'Cannot kill thread: the string "not a task" is not a task or a spawned generator',
    "target ran to its end",
  ]);
});

Deno.test("a thread killed before it could throw the cleanup errors of the threads it killed at once does not drop them", async () => {
  const record: string[] = [];
  const error = await run(
    function* () {
      const targets: Task<void>[] = [];
      for (const name of ["first", "second"]) {
        targets.push(
          yield* spawn(function* () {
            try {
              yield* sleep(1000);
            } finally {
              yield* sleep(10);
              // deno-lint-ignore no-unsafe-finally -- the point: a cleanup that fails
              throw new Error(`${name} cleanup failed`);
            }
          }()),
        );
      }
      const killer = yield* spawn(function* () {
        try {
          yield* kill(targets);
        } catch (error) {
          record.push(`killer caught ${error} (wrong)`);
        } finally {
          record.push("killer finally");
        }
      }());
      yield* sleep(1);
      yield* sleep(9); // wakes right after the cleanups failed, before the killer runs
      yield* kill(killer);
      record.push("the kill returned (wrong)");
    }(),
    { clock: new VirtualClock() },
  ).catch((e) => e);
  assert.deepEqual(record, ["killer finally"]);
  assert.ok(error instanceof SuppressedError, `got ${error}`);
  assert.deepEqual(
    [error.error.message, error.suppressed.message],
    ["second cleanup failed", "first cleanup failed"],
  );
});

Deno.test("kill(tasks) with a target named twice kills it once and throws its cleanup error once", async () => {
  const record: string[] = [];
  await run(
    function* () {
      const target = yield* spawn(function* () {
        try {
          yield* sleep(1000);
        } finally {
          record.push("target cleans up");
          // deno-lint-ignore no-unsafe-finally -- the point: a cleanup that fails
          throw new Error("cleanup failed");
        }
      }());
      yield* yieldNow();
      try {
        yield* kill([target, target]);
      } catch (error) {
        record.push(
          `caught ${error instanceof SuppressedError ? "a chain" : (error as Error).message}`,
        );
      }
    }(),
    { clock: new VirtualClock() },
  );
  assert.deepEqual(record, ["target cleans up", "caught cleanup failed"]);
});

Deno.test("a kill between two turns finds the event the thread yielded undone, never done and lost", async (t) => {
  // A thread that uses up its step budget gives way; a thread queued behind it then kills
  // it. What it yielded last must either take effect and reach it, or not take effect.
  await t.step("a receive: no item leaves the channel for nobody", async () => {
    const total = 5000;
    const channel = new Channel<number>(total);
    for (let i = 0; i < total; i++) channel.trySend(i);
    const received: number[] = [];
    await run(function* () {
      const tasks: Task<void>[] = [];
      tasks.push(
        yield* spawn(function* (): Coroutine<void> {
          for (;;) {
            const item = (yield channel.receive()) as { value: number }; // through the kernel
            received.push(item.value);
          }
        }()),
      );
      yield* spawn(function* () {
        yield* kill(tasks[0]); // runs once the receiver's turn ends
      }());
    }());
    let left = 0;
    while (channel.tryReceive() !== undefined) left++;
    assert.ok(received.length > 0 && received.length < total, `received ${received.length}`);
    assert.equal(received.length + left, total);
  });
  await t.step("a spawn: no child outlives a race killed while it starts them", async () => {
    const clock = new VirtualClock();
    let started = 0;
    let cleaned = 0;
    function* operation(): Coroutine<void> {
      started++;
      try {
        yield* sleep(1_000_000);
      } finally {
        cleaned++;
      }
    }
    await run(
      function* () {
        const tasks: Task<void>[] = [];
        tasks.push(yield* spawn(race(Array.from({ length: 3000 }, operation))));
        yield* spawn(function* () {
          yield* kill(tasks[0]); // runs once the racer's turn ends, amid its spawns
        }());
      }(),
      { clock },
    );
    assert.ok(started > 0 && started < 3000, `started ${started}`);
    assert.equal(cleaned, started);
    assert.equal(clock.now(), 0);
  });
});

Deno.test("a thread killed before the kernel took in the promise it yielded leaves no unhandled rejection", async () => {
  // For one of these counts, the thread's step budget runs out just as it yields the
  // promise: it gives way first, and the kill finds the promise not yet waited on.
  function* empty(): Coroutine<void> {}
  for (let calls = 0; calls < 1100; calls++) {
    const record: string[] = [];
    await run(function* () {
      const tasks: Task<void>[] = [];
      tasks.push(
        yield* spawn(function* (): Coroutine<void> {
          for (let i = 0; i < calls; i++) yield call(empty());
          try {
            yield Promise.reject(new Error("rejected after the kill"));
          } finally {
            record.push("victim unwound");
          }
        }()),
      );
      yield* spawn(kill(tasks[0]));
    }());
    assert.ok(record.length <= 1);
  }
});

Deno.test("a finally that ends in continue runs the rest of its frame as cleanup, waits included; one that ends in return ends only its frame", async () => {
  const record: string[] = [];
  const clock = new VirtualClock();
  await run(
    function* () {
      function* inner(): Coroutine<number> {
        try {
          yield* sleep(100);
        } finally {
          record.push("inner finally returns");
          // deno-lint-ignore no-unsafe-finally
          return 5;
        }
      }
      const caller = yield* spawn(function* () {
        record.push(`caller got ${yield* call(inner())}`); // never: the kill goes on
      }());
      yield* sleep(10);
      yield* kill(caller);
      record.push("first kill done");
      const looping = yield* spawn(function* () {
        for (let i = 0; i < 3; i++) {
          try {
            yield* sleep(100);
          } finally {
            record.push(`finally ${i} at ${clock.now()}`);
            // deno-lint-ignore no-unsafe-finally
            if (i < 2) continue;
          }
        }
        record.push("after the loop");
        yield* sleep(5);
        record.push(`frame ends at ${clock.now()}`);
      }());
      yield* sleep(10);
      yield* kill(looping);
      record.push(`second kill done at ${clock.now()}`);
    }(),
    { clock },
  );
  // The kernel cannot tell a yield after the `finally` from one in it: the sleeps after the
  // `continue` are cleanup, waited for whole.
  assert.deepEqual(record, [
    "inner finally returns",
    "first kill done",
    "finally 0 at 20",
    "finally 1 at 120",
    "finally 2 at 220",
    "after the loop",
    "frame ends at 225",
    "second kill done at 225",
  ]);
});
