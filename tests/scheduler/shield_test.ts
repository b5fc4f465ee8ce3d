// `shield(op)`: a kill that arrives while `op` runs waits for it to end, then takes effect.
import assert from "node:assert/strict";
import {
  all,
  type Coroutine,
  DeadlockError,
  Event,
  join,
  kill,
  KilledError,
  Lock,
  run,
  shield,
  sleep,
  spawn,
  type Task,
  taskGroup,
  useAbortSignal,
  VirtualClock,
  withTimeout,
} from "../../mod.ts";
import { Primitive, SUSPEND } from "../../scheduler/lowlevel.ts";

function* step(record: string[], clock: VirtualClock, name: string, ms: number): Coroutine<string> {
  yield* sleep(ms);
  record.push(`${name} at ${clock.now()}`);
  return name;
}

Deno.test("shield() makes a kill wait for the shielded operation, then take effect", async () => {
  const record: string[] = [];
  const clock = new VirtualClock();
  await run(
    function* () {
      const worker = yield* spawn(function* () {
        try {
          const got = yield* shield(step(record, clock, "shielded work", 50));
          record.push(`after the shield with ${got} (wrong)`);
        } finally {
          record.push(`worker finally at ${clock.now()}`);
        }
      }());
      yield* sleep(10);
      record.push("kill starts at 10");
      yield* kill(worker);
      record.push(`kill done at ${clock.now()}`);
    }(),
    { clock },
  );
  assert.deepEqual(record, [
    "kill starts at 10",
    "shielded work at 50",
    "worker finally at 50",
    "kill done at 50",
  ]);
});

Deno.test("shield() serves two killers at once, and nested shields wait for the outermost", async () => {
  const record: string[] = [];
  const clock = new VirtualClock();
  await run(
    function* () {
      const worker = yield* spawn(function* () {
        try {
          yield* shield(function* () {
            yield* shield(step(record, clock, "inner", 20));
            yield* step(record, clock, "outer", 20);
          }());
        } finally {
          record.push(`worker finally at ${clock.now()}`);
        }
      }());
      const killers = [];
      for (const name of ["first", "second"]) {
        killers.push(
          yield* spawn(function* () {
            yield* sleep(name === "first" ? 5 : 25);
            yield* kill(worker);
            record.push(`${name} killer done at ${clock.now()}`);
          }()),
        );
      }
      for (const killer of killers) yield* join(killer);
    }(),
    { clock },
  );
  assert.deepEqual(record, [
    "inner at 20",
    "outer at 40",
    "worker finally at 40",
    "first killer done at 40",
    "second killer done at 40",
  ]);
});

Deno.test("shield() in the finally of a thread already being killed runs to its end", async () => {
  const record: string[] = [];
  const clock = new VirtualClock();
  await run(
    function* () {
      const worker = yield* spawn(function* () {
        try {
          yield* sleep(1_000_000);
        } finally {
          record.push(`cleanup starts at ${clock.now()}`);
          yield* shield(step(record, clock, "goodbye", 30));
          record.push("cleanup ends");
        }
      }());
      yield* sleep(10);
      yield* kill(worker);
      record.push(`killed at ${clock.now()}`);
    }(),
    { clock },
  );
  assert.deepEqual(record, [
    "cleanup starts at 10",
    "goodbye at 40",
    "cleanup ends",
    "killed at 40",
  ]);
});

Deno.test("shield() that throws: the error reaches the caller, or the killer if a kill waited", async (t) => {
  const failure = new Error("shielded work failed");
  function* failing(): Coroutine<never> {
    yield* sleep(20);
    throw failure;
  }
  await t.step("with no kill, the caller catches it", async () => {
    const caught = await run(
      function* () {
        try {
          yield* shield(failing());
        } catch (error) {
          return error;
        }
        return "no error";
      }(),
      { clock: new VirtualClock() },
    );
    assert.equal(caught, failure);
  });
  await t.step("with a kill waiting, the killer gets it", async () => {
    const record: string[] = [];
    const caught = await run(
      function* () {
        const worker = yield* spawn(function* () {
          try {
            yield* shield(failing());
          } catch {
            record.push("worker caught it (wrong: it is being killed)");
          } finally {
            record.push("worker finally");
          }
        }());
        yield* sleep(5);
        try {
          yield* kill(worker);
        } catch (error) {
          return error;
        }
        return "no error";
      }(),
      { clock: new VirtualClock() },
    );
    assert.equal(caught, failure);
    assert.deepEqual(record, ["worker finally"]);
  });
});

Deno.test("kill() with a reason: joiners get it as the KilledError's cause, and the thread's signal as its reason", async () => {
  const reason = new Error("client went away");
  let signalReason: unknown;
  const caught = await run(
    function* () {
      const worker = yield* spawn(function* () {
        const signal = yield* useAbortSignal();
        signal.addEventListener("abort", () => signalReason = signal.reason);
        yield* sleep(1_000_000);
      }());
      const joiner = yield* spawn(function* () {
        try {
          yield* join(worker);
        } catch (error) {
          return error;
        }
        return "no error";
      }());
      yield* sleep(1);
      yield* kill(worker, reason);
      return yield* join(joiner);
    }(),
    { clock: new VirtualClock() },
  );
  assert.ok(caught instanceof KilledError);
  assert.equal(caught.cause, reason);
  assert.equal(signalReason, reason);
});

Deno.test("shield(withTimeout(...)) finishes whatever tears its thread down: a run failure, an abort, a scope's kill", async (t) => {
  function* goodbye(record: string[], clock: VirtualClock): Coroutine<void> {
    try {
      yield* sleep(20);
      record.push(`goodbye sent at ${clock.now()}`);
    } finally {
      record.push("goodbye finally");
    }
  }
  function* worker(record: string[], clock: VirtualClock): Coroutine<void> {
    try {
      // Under way when the teardown starts: its helper threads (withTimeout's) must finish.
      yield* shield(withTimeout(1000, goodbye(record, clock)));
      record.push("after the shield (wrong)");
    } finally {
      record.push("worker finally done");
    }
  }
  await t.step("another thread fails and ends the run", async () => {
    const record: string[] = [];
    const clock = new VirtualClock();
    await assert.rejects(
      run(
        function* () {
          yield* spawn(worker(record, clock));
          yield* sleep(5);
          throw new Error("unrelated failure");
        }(),
        { clock },
      ),
      { message: "unrelated failure" },
    );
    assert.deepEqual(record, ["goodbye sent at 20", "goodbye finally", "worker finally done"]);
  });
  await t.step("the run's signal is aborted", async () => {
    const record: string[] = [];
    const clock = new VirtualClock();
    const controller = new AbortController();
    await assert.rejects(
      run(
        function* () {
          yield* spawn(function* () {
            yield* sleep(5);
            controller.abort(new Error("shutdown"));
          }());
          yield* worker(record, clock);
        }(),
        { clock, signal: controller.signal },
      ),
      { message: "shutdown" },
    );
    assert.deepEqual(record, ["goodbye sent at 20", "goodbye finally", "worker finally done"]);
  });
  await t.step("the scope it belongs to is killed", async () => {
    const record: string[] = [];
    const clock = new VirtualClock();
    await run(
      function* () {
        const scope = yield* spawn(
          function* () {
            yield* spawn(worker(record, clock));
            yield* sleep(1000);
          }(),
          { scope: true },
        );
        yield* sleep(5);
        yield* kill(scope);
        record.push(`kill(scope) returned at ${clock.now()}`);
      }(),
      { clock },
    );
    assert.deepEqual(record, [
      "goodbye sent at 20",
      "goodbye finally",
      "worker finally done",
      "kill(scope) returned at 20",
    ]);
  });
});

Deno.test("a deadlock inside a shield is still a DeadlockError", async () => {
  const lock = new Lock({ name: "db" });
  await assert.rejects(
    run(
      function* () {
        yield* lock.acquire();
        try {
          yield* sleep(1);
        } finally {
          yield* shield(lock.acquire()); // the thread already holds it: stuck for ever
        }
      }(),
      { clock: new VirtualClock() },
    ),
    (error) => {
      assert.ok(error instanceof DeadlockError, `got ${error}`);
      assert.match(error.message, /thread 0 waits on acquire\(Lock "db"\)/);
      return true;
    },
  );
});

Deno.test("a teardown stuck in a shield keeps the error that began it, chained to the DeadlockError", async () => {
  // A child fails; the group kills its sibling, whose shielded cleanup waits on a lock the
  // group's caller holds while it waits on the group: stuck for ever. The run kills through
  // the sibling's shield, and the group ends with the child's error, which is not dropped.
  const lock = new Lock({ name: "db" });
  await assert.rejects(
    run(
      function* () {
        yield* lock.withLock(taskGroup(function* (group) {
          yield* group.spawn(function* () {
            try {
              yield* sleep(1000);
            } finally {
              yield* shield(lock.acquire());
            }
          }());
          yield* group.spawn(function* () {
            yield* sleep(10);
            throw new Error("boom");
          }());
        }));
      }(),
      { clock: new VirtualClock() },
    ),
    (error) => {
      assert.ok(error instanceof SuppressedError, `got ${error}`);
      assert.equal((error.error as Error).message, "boom");
      assert.ok(error.suppressed instanceof DeadlockError, `got ${error.suppressed}`);
      assert.match(error.suppressed.message, /waits on acquire\(Lock "db"\)/);
      return true;
    },
  );
});

Deno.test("a run that gives up on a thread stuck in a shield cancels the wait it leaves", async () => {
  // Exactly one of `finish` and `cancel` is called once `start` returned: a run that gives
  // up on a thread calls `cancel`, so a lock's queue, say, lets the thread go.
  const record: string[] = [];
  class Forever extends Primitive<void> {
    readonly description = "forever";
    start(): typeof SUSPEND {
      record.push("start");
      return SUSPEND;
    }
    finish(): void {
      record.push("finish");
    }
    cancel(): void {
      record.push("cancel");
    }
  }
  const forever = new Forever();
  await assert.rejects(
    run(function* () {
      yield* shield(forever);
    }()),
    DeadlockError,
  );
  assert.deepEqual(record, ["start", "cancel"]);
  assert.equal(forever.busy, false);
});

Deno.test("a thread a shield spawned is spared by a teardown until that shield ends, not a later one", async (t) => {
  function* worker(record: string[], clock: VirtualClock, every: number): Coroutine<void> {
    try {
      for (;;) {
        yield* sleep(every);
        record.push(`helper works at ${clock.now()}`);
      }
    } finally {
      record.push(`helper killed at ${clock.now()}`);
    }
  }
  await t.step("killed when the shield ends, though its spawner's finally goes on", async () => {
    const clock = new VirtualClock();
    const record: string[] = [];
    await assert.rejects(
      run(
        function* () {
          yield* spawn(function* () {
            try {
              yield* shield(function* () {
                yield* spawn(worker(record, clock, 25));
                yield* sleep(20);
                record.push(`shield ends at ${clock.now()}`);
              }());
            } finally {
              yield* sleep(100);
              record.push(`spawner's finally ends at ${clock.now()}`);
            }
          }());
          yield* sleep(5);
          throw new Error("the run fails");
        }(),
        { clock },
      ),
      { message: "the run fails" },
    );
    assert.deepEqual(record, [
      "shield ends at 20",
      "helper killed at 20",
      "spawner's finally ends at 120",
    ]);
  });
  await t.step("not spared for a later shield as deep", async () => {
    const clock = new VirtualClock();
    const record: string[] = [];
    await assert.rejects(
      run(
        function* () {
          yield* spawn(function* () {
            yield* shield(spawn(worker(record, clock, 10)));
            yield* sleep(5);
            yield* shield(sleep(50));
          }());
          yield* sleep(12);
          throw new Error("the run fails");
        }(),
        { clock },
      ),
      { message: "the run fails" },
    );
    assert.deepEqual(record, ["helper works at 10", "helper killed at 12"]);
  });
});

for (const nested of [false, true]) {
  Deno.test(`a shielded operation's helper lives until the shield ends (nested: ${nested})`, async () => {
    const clock = new VirtualClock();
    const record: string[] = [];
    const log = (s: string) => record.push(`${clock.now()} ${s}`);
    const error = await run(
      function* () {
        yield* spawn(function* (): Coroutine<void> {
          yield* shield(function* () {
            let h: Task<void> | undefined;
            const start = function* () {
              h = yield* spawn(function* () {
                yield* sleep(3);
                log("helper done");
              }());
            };
            if (nested) yield* shield(start());
            else yield* start();
            try {
              yield* h!;
              log("joined");
            } catch (e) {
              log(`join threw ${(e as Error).constructor.name}`);
            }
          }());
        }());
        yield* sleep(1);
        throw new Error("boom");
      }(),
      { clock },
    ).catch((e) => e);
    assert.equal(error.message, "boom");
    assert.deepEqual(record, ["3 helper done", "3 joined"]);
  });
}

Deno.test("an error rethrown from inside a shield reaches the killer, or withTimeout's caller, where a finally would drop it", async (t) => {
  function* failThenRollBack(record: string[], clock: VirtualClock): Coroutine<void> {
    try {
      throw new Error("database down");
    } catch (error) {
      yield* shield(function* () {
        yield* sleep(5);
        record.push(`rolled back at ${clock.now()}`);
        throw error;
      }());
    }
  }
  await t.step(
    "withTimeout: the deadline waits for the rollback, and the caller gets both",
    async () => {
      const record: string[] = [];
      const clock = new VirtualClock();
      const caught = await run(
        function* () {
          try {
            yield* withTimeout(3, failThenRollBack(record, clock));
          } catch (error) {
            return error;
          }
          return "no error";
        }(),
        { clock },
      );
      assert.deepEqual(record, ["rolled back at 5"]);
      assert.ok(caught instanceof SuppressedError);
      assert.equal((caught.error as Error).message, "database down");
      assert.equal((caught.suppressed as Error).name, "TimeoutError");
    },
  );
  await t.step("kill: the killer gets the error", async () => {
    const record: string[] = [];
    const clock = new VirtualClock();
    const caught = await run(
      function* () {
        const worker = yield* spawn(failThenRollBack(record, clock));
        yield* sleep(2);
        try {
          yield* kill(worker);
        } catch (error) {
          return error;
        }
        return "no error";
      }(),
      { clock },
    );
    assert.deepEqual(record, ["rolled back at 5"]);
    assert.equal((caught as Error).message, "database down");
  });
});

Deno.test("a deadlock inside a shield kills through it: the thread's finally blocks run, and release the lock it holds", async () => {
  const lock = new Lock({ name: "db" });
  const record: string[] = [];
  await assert.rejects(
    run(
      function* () {
        try {
          yield* shield(lock.withLock(function* () {
            try {
              yield* lock.acquire(); // held already by this thread: stuck for ever
            } finally {
              record.push("inner finally");
            }
          }()));
        } finally {
          record.push("outer finally");
        }
      }(),
      { clock: new VirtualClock() },
    ),
    (error) => {
      assert.ok(error instanceof DeadlockError, `got ${error}`);
      assert.match(error.message, /thread 0 waits on acquire\(Lock "db"\)/);
      return true;
    },
  );
  assert.deepEqual(record, ["inner finally", "outer finally"]);
  assert.equal(lock.locked, false);
});

Deno.test("a teardown stuck in a shield, then in the finally the kill goes on to, is one deadlock on top of the run's error", async () => {
  const record: string[] = [];
  const outcome = await run(
    function* () {
      yield* spawn(function* () {
        try {
          yield* shield(new Event().wait());
        } finally {
          record.push("finally runs");
          yield* new Event().wait(); // stuck again: given up on
        }
      }());
      yield* sleep(1);
      throw new Error("boom");
    }(),
    { clock: new VirtualClock() },
  ).then(() => "resolved", (error) => error);
  assert.deepEqual(record, ["finally runs"]);
  assert.ok(outcome instanceof SuppressedError, `got ${outcome}`);
  assert.ok(outcome.error instanceof DeadlockError, `got ${outcome.error}`);
  assert.equal((outcome.suppressed as Error).message, "boom");
});

Deno.test("a deadlock kills through one stuck shield at a time, oldest first: a shield that can then end is not cut short", async () => {
  // B holds the lock in a shield, waiting for ever; A's shielded flush needs the lock. Killed
  // through its shield, B lets the lock go, and A's flush then ends on its own.
  const record: string[] = [];
  const lock = new Lock({ name: "journal" });
  const outcome = await run(
    function* () {
      yield* spawn(function* () {
        yield* shield(lock.withLock(function* () {
          try {
            yield* new Event().wait();
          } finally {
            record.push("B lets the lock go");
          }
        }()));
      }());
      yield* sleep(1);
      yield* spawn(function* () {
        yield* shield(function* () {
          yield* lock.acquire();
          try {
            record.push("A's shielded flush done");
          } finally {
            lock.release();
          }
        }());
      }());
      yield* sleep(1);
      throw new Error("boom");
    }(),
    { clock: new VirtualClock() },
  ).then(() => "resolved", (error) => error);
  assert.deepEqual(record, ["B lets the lock go", "A's shielded flush done"]);
  assert.ok(outcome instanceof SuppressedError, `got ${outcome}`);
  assert.ok(outcome.error instanceof DeadlockError, `got ${outcome.error}`);
  assert.equal((outcome.suppressed as Error).message, "boom");
});

Deno.test("a deadlock kills through a shield holding a kill back before one a kill's cleanup entered: that cleanup can then end", async () => {
  // A, older and killed, flushes in a shielded cleanup that needs the lock; B, newer, holds
  // it in a shield that holds B's kill back, waiting for ever. Killed through first, B
  // lets the lock go, and A's cleanup ends on its own.
  const record: string[] = [];
  const lock = new Lock({ name: "journal" });
  const outcome = await run(
    function* () {
      yield* spawn(function* () {
        try {
          yield* new Event().wait();
        } finally {
          yield* shield(function* () {
            yield* lock.acquire();
            try {
              record.push("A's shielded flush done");
            } finally {
              lock.release();
            }
          }());
        }
      }());
      yield* sleep(1);
      yield* spawn(function* () {
        yield* shield(lock.withLock(function* () {
          try {
            yield* new Event().wait();
          } finally {
            record.push("B lets the lock go");
          }
        }()));
      }());
      yield* sleep(1);
      throw new Error("boom");
    }(),
    { clock: new VirtualClock() },
  ).then(() => "resolved", (error) => error);
  assert.deepEqual(record, ["B lets the lock go", "A's shielded flush done"]);
  assert.ok(outcome instanceof SuppressedError, `got ${outcome}`);
  assert.ok(outcome.error instanceof DeadlockError, `got ${outcome.error}`);
  assert.equal((outcome.suppressed as Error).message, "boom");
});

Deno.test("a deadlock kills through only the shields stuck when the teardown first stuck: a cleanup that retries forever still ends", async () => {
  // Each helper the finally retries enters a stuck shield of its own: killing through
  // those too would go on for ever.
  let spawned = 0;
  const outcome = await run(
    function* () {
      yield* spawn(function* () {
        try {
          yield* shield(new Event().wait());
        } finally {
          for (let i = 0; i < 1000; i++) {
            spawned++;
            const helper = yield* spawn(shield(new Event().wait()));
            try {
              yield* join(helper);
              break;
            } catch {
              // retry
            }
          }
        }
      }());
      yield* sleep(1);
      throw new Error("boom");
    }(),
    { clock: new VirtualClock() },
  ).then(() => "resolved", (error) => error);
  assert.equal(spawned, 1);
  assert.ok(outcome instanceof SuppressedError, `got ${outcome}`);
  assert.ok(outcome.error instanceof DeadlockError, `got ${outcome.error}`);
});

Deno.test("a deadlock whose teardown fails, then sticks, is one DeadlockError", async () => {
  const record: string[] = [];
  const outcome = await run(
    function* () {
      yield* spawn(function* () {
        try {
          yield* shield(new Event().wait());
        } finally {
          record.push("shielded child's finally");
        }
      }());
      yield* spawn(function* () {
        try {
          yield* new Event().wait();
        } finally {
          // deno-lint-ignore no-unsafe-finally
          throw new Error("cleanup failed");
        }
      }());
      yield* new Event().wait(); // the root is stuck too: the whole run deadlocks
    }(),
    { clock: new VirtualClock() },
  ).then(() => "resolved", (error) => error);
  assert.deepEqual(record, ["shielded child's finally"]);
  // The cleanup's error on top of the one deadlock.
  assert.ok(outcome instanceof SuppressedError, `got ${outcome}`);
  assert.equal((outcome.error as Error).message, "cleanup failed");
  assert.ok(outcome.suppressed instanceof DeadlockError, `got ${outcome.suppressed}`);
});

Deno.test("a deadlock kills through a leaf's shield before that of the thread waiting for it: all() keeps its child's error", async () => {
  // all()'s shielded cleanup waits for the loser it kills, whose shield waits for ever:
  // killed through first, the loser lets all() end, with the error that began it.
  const record: string[] = [];
  const outcome = await run(
    function* () {
      yield* all([
        function* () {
          yield* sleep(5);
          throw new Error("child failed");
        }(),
        function* () {
          try {
            yield* shield(new Event().wait());
          } finally {
            record.push("loser's finally");
          }
        }(),
      ]);
    }(),
    { clock: new VirtualClock() },
  ).then(() => "resolved", (error) => error);
  assert.deepEqual(record, ["loser's finally"]);
  assert.ok(outcome instanceof SuppressedError, `got ${outcome}`);
  assert.equal((outcome.error as Error).message, "child failed");
  assert.ok(outcome.suppressed instanceof DeadlockError, `got ${outcome.suppressed}`);
});

Deno.test("a deadlock kills through a shield that a kill's own cleanup entered: all() keeps its child's error", async () => {
  // The loser's kill began first, and its finally entered the shield that sticks: the
  // thread is unwinding already, and all()'s cleanup waits for it. Killed through first,
  // the loser ends, and all() ends with the error that began it.
  const record: string[] = [];
  const outcome = await run(
    function* () {
      yield* all([
        function* () {
          yield* sleep(5);
          throw new Error("child failed");
        }(),
        function* () {
          try {
            yield* sleep(1000);
          } finally {
            record.push("loser's cleanup starts");
            yield* shield(new Event().wait());
            record.push("never: cut short");
          }
        }(),
      ]);
    }(),
    { clock: new VirtualClock() },
  ).then(() => "resolved", (error) => error);
  assert.deepEqual(record, ["loser's cleanup starts"]);
  assert.ok(outcome instanceof SuppressedError, `got ${outcome}`);
  assert.equal((outcome.error as Error).message, "child failed");
  assert.ok(outcome.suppressed instanceof DeadlockError, `got ${outcome.suppressed}`);
});

Deno.test("a deadlock with thousands of threads stuck in shields kills through them all, each finally once", async () => {
  // The first 64 one at a time, the rest at once (each look walks every thread).
  let finallies = 0;
  const outcome = await run(
    function* () {
      for (let i = 0; i < 3000; i++) {
        yield* spawn(function* () {
          try {
            yield* shield(new Event().wait());
          } finally {
            finallies++;
          }
        }());
      }
      yield* sleep(1);
      throw new Error("boom");
    }(),
    { clock: new VirtualClock() },
  ).then(() => "resolved", (error) => error);
  assert.equal(finallies, 3000);
  assert.ok(outcome instanceof SuppressedError, `got ${outcome}`);
  assert.ok(outcome.error instanceof DeadlockError, `got ${outcome.error}`);
  assert.equal((outcome.suppressed as Error).message, "boom");
});
