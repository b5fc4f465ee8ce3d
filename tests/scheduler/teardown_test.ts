// A run that ends (an abort, or an error nobody joins) kills every thread, and their
// `finally` blocks may use every operation the library offers while it does.
import assert from "node:assert/strict";
import {
  all,
  Channel,
  type Coroutine,
  DeadlockError,
  join,
  kill,
  type Operation,
  race,
  run,
  shield,
  sleep,
  spawn,
  type Task,
  taskGroup,
  TimeoutError,
  VirtualClock,
  withTimeout,
  yieldNow,
} from "../../mod.ts";
import { after } from "./_helpers.ts";

/** A thread whose `finally` says goodbye with every combinator, recording each step. */
function* politeWorker(record: string[]): Coroutine<void> {
  try {
    yield* sleep(60_000);
  } finally {
    record.push("cleanup starts");
    record.push(yield* withTimeout(500, after(10, "goodbye sent")));
    const [a, b] = yield* all([after(5, "a"), after(1, "b")]);
    record.push(`all gave ${a}${b}`);
    record.push(`race gave ${yield* race([after(5, "slow"), after(1, "fast")])}`);
    try {
      yield* withTimeout(5, sleep(1000));
    } catch (error) {
      record.push(`timed out: ${error instanceof TimeoutError}`);
    }
    record.push("cleanup done");
  }
}

const POLITE_CLEANUP = [
  "cleanup starts",
  "goodbye sent",
  "all gave ab",
  "race gave fast",
  "timed out: true",
  "cleanup done",
];

Deno.test("a finally may use withTimeout, all and race while the run is aborted", async () => {
  const record: string[] = [];
  const controller = new AbortController();
  const reason = new Error("shutdown");
  const clock = new VirtualClock();
  await assert.rejects(
    run(
      function* () {
        yield* spawn(politeWorker(record));
        yield* sleep(1);
        controller.abort(reason);
        yield* sleep(60_000);
      }(),
      { clock, signal: controller.signal },
    ),
    (error) => error === reason,
  );
  assert.deepEqual(record, POLITE_CLEANUP);
  assert.equal(clock.now(), 1 + 10 + 5 + 1 + 5, "each cleanup step took its own time");
});

Deno.test("a finally may use withTimeout, all and race while another thread's error ends the run", async () => {
  const record: string[] = [];
  const failure = new Error("handler bug");
  await assert.rejects(
    run(
      function* () {
        yield* spawn(politeWorker(record));
        yield* sleep(1);
        throw failure;
      }(),
      { clock: new VirtualClock() },
    ),
    (error) => error === failure,
  );
  assert.deepEqual(record, POLITE_CLEANUP);
});

Deno.test("a thread spawned from a finally while the run is failing does not keep the run alive", async () => {
  const record: string[] = [];
  const failure = new Error("root failed");
  const clock = new VirtualClock();
  await assert.rejects(
    run(
      function* () {
        yield* spawn(function* () {
          try {
            yield* sleep(60_000);
          } finally {
            yield* spawn(function* () {
              try {
                record.push("orphan starts");
                yield* sleep(1_000_000);
                record.push("orphan woke (wrong)");
              } finally {
                record.push("orphan finally");
              }
            }());
            yield* yieldNow(); // the orphan gets to start
            record.push("spawner done");
          }
        }());
        yield* sleep(1);
        throw failure;
      }(),
      { clock },
    ),
    (error) => error === failure,
  );
  assert.deepEqual(record, ["orphan starts", "spawner done", "orphan finally"]);
  assert.equal(clock.now(), 1);
});

Deno.test("a thread that aborts its own run's signal stops at its next yield, under a virtual clock", async () => {
  const record: string[] = [];
  const controller = new AbortController();
  const reason = new Error("stop");
  await assert.rejects(
    run(
      function* () {
        yield* sleep(1);
        controller.abort(reason);
        record.push("still running until the next yield");
        yield* sleep(1);
        record.push("resumed after the abort (wrong)");
      }(),
      { clock: new VirtualClock(), signal: controller.signal },
    ),
    (error) => error === reason,
  );
  assert.deepEqual(record, ["still running until the next yield"]);
});

Deno.test("a thread that aborts its own run's signal takes no channel item after it, and sends none", async (t) => {
  // A channel operation that needs no wait takes effect without the kernel most of the
  // time (its fast path): an abort must stop that too, at the next operation.
  await t.step("receives", async () => {
    const controller = new AbortController();
    const items = new Channel<number>(10);
    for (let i = 0; i < 10; i++) items.trySend(i);
    const taken: number[] = [];
    const outcome = await run(
      function* () {
        controller.abort(new Error("stop"));
        for (let i = 0; i < 10; i++) taken.push((yield* items.receive()).value!);
      }(),
      { clock: new VirtualClock(), signal: controller.signal },
    ).then(() => "resolved", (error) => error.message);
    assert.equal(outcome, "stop");
    assert.deepEqual(taken, []);
    assert.equal(items.statistics().buffered, 10);
  });
  await t.step("receives, aborted from a run started inside this one's step", async () => {
    // The run started inside runs its first step at once, in this run's step: its kernel
    // is the one driving then, and must not hand this run's count of operations back.
    const controller = new AbortController();
    const items = new Channel<number>(10);
    for (let i = 0; i < 10; i++) items.trySend(i);
    const taken: number[] = [];
    const outcome = await run(
      function* () {
        // deno-lint-ignore require-yield -- the point: a step that aborts, at once
        const inner = run(function* () {
          controller.abort(new Error("stop"));
        }());
        inner.catch(() => {});
        for (let i = 0; i < 10; i++) taken.push((yield* items.receive()).value!);
      }(),
      { clock: new VirtualClock(), signal: controller.signal },
    ).then(() => "resolved", (error) => error.message);
    assert.equal(outcome, "stop");
    assert.deepEqual(taken, []);
  });
  await t.step("sends", async () => {
    const controller = new AbortController();
    const items = new Channel<number>(100);
    let sent = 0;
    const outcome = await run(
      function* () {
        controller.abort(new Error("stop"));
        for (let i = 0; i < 100; i++) {
          yield* items.send(i);
          sent++;
        }
      }(),
      { clock: new VirtualClock(), signal: controller.signal },
    ).then(() => "resolved", (error) => error.message);
    assert.equal(outcome, "stop");
    assert.equal(sent, 0);
    assert.equal(items.statistics().buffered, 0);
  });
});

Deno.test("a run whose last thread aborts its signal and ends rejects with the reason", async () => {
  const controller = new AbortController();
  const reason = new Error("stop");
  await assert.rejects(
    run(
      // deno-lint-ignore require-yield -- the point: a thread that ends without waiting
      function* () {
        controller.abort(reason);
        return "finished";
      }(),
      { signal: controller.signal },
    ),
    (error) => error === reason,
  );
});

/** Sleeps; once killed, says goodbye with `withTimeout` over a coroutine (helper threads). */
function* goodbyeInHelpers(record: string[], clock: VirtualClock): Coroutine<void> {
  try {
    yield* sleep(100);
  } finally {
    try {
      yield* withTimeout(3, sleep(10));
      record.push(`${clock.now()} goodbye done`);
    } catch (error) {
      record.push(`${clock.now()} goodbye threw ${(error as Error).name}`);
    }
  }
}

Deno.test("a killed thread's finally that uses withTimeout survives a teardown that kills many", async (t) => {
  // The thread is killed at 1, and its goodbye times out at 4. At 2 a teardown kills
  // everything it reaches: the killed thread goes on unwinding, and its combinator's helper
  // threads, spawned by its `finally`, must live as long as that thread does.
  await t.step("a scope whose body ends", async () => {
    const clock = new VirtualClock();
    const record: string[] = [];
    await run(
      function* () {
        const scope = yield* spawn(
          function* () {
            const goodbye = yield* spawn(goodbyeInHelpers(record, clock));
            yield* spawn(function* () {
              yield* sleep(1);
              yield* kill(goodbye);
            }());
            yield* sleep(2); // the body ends: the scope kills what it still owns
          }(),
          { scope: true },
        );
        yield* join(scope);
        record.push(`${clock.now()} scope joined`);
      }(),
      { clock },
    );
    assert.deepEqual(record, ["4 goodbye threw TimeoutError", "4 scope joined"]);
  });
  await t.step("a run that is aborted", async () => {
    const clock = new VirtualClock();
    const record: string[] = [];
    const abort = new AbortController();
    const error = await run(
      function* () {
        const goodbye = yield* spawn(goodbyeInHelpers(record, clock));
        yield* spawn(function* () {
          yield* sleep(1);
          yield* kill(goodbye);
        }());
        yield* sleep(2);
        abort.abort(new Error("shut down"));
        yield* sleep(1);
      }(),
      { clock, signal: abort.signal },
    ).catch((e) => e);
    record.push(`${clock.now()} run rejected: ${error.message}`);
    assert.deepEqual(record, ["4 goodbye threw TimeoutError", "4 run rejected: shut down"]);
  });
});

Deno.test("what a killed thread's finally started lives as long as that thread, free threads it spawned included", async () => {
  // At 1 the worker is killed; its `finally` starts a helper that starts a free thread, and
  // takes 3 ms. At 2 the scope's body ends and the scope kills what it owns: the helper
  // and its free thread are spared while the worker unwinds, and killed as it ends, at 4.
  const clock = new VirtualClock();
  const record: string[] = [];
  const log = (what: string) => record.push(`${clock.now()} ${what}`);
  function* worker(): Coroutine<void> {
    try {
      yield* sleep(100);
    } finally {
      yield* spawn(function* () {
        yield* spawn(function* () {
          try {
            for (let i = 0; i < 10; i++) yield* sleep(1000);
            log("free thread ran to its end (wrong)");
          } finally {
            log("free thread killed");
          }
        }());
        try {
          yield* sleep(1000);
        } finally {
          log("helper killed");
        }
      }());
      yield* sleep(3);
      log("worker's finally ends");
    }
  }
  await run(
    function* () {
      const scope = yield* spawn(
        function* () {
          const working = yield* spawn(worker());
          yield* spawn(function* () {
            yield* sleep(1);
            yield* kill(working);
          }());
          yield* sleep(2);
        }(),
        { scope: true },
      );
      yield* join(scope);
      log("scope joined");
    }(),
    { clock },
  );
  assert.deepEqual(record, [
    "4 worker's finally ends",
    "4 helper killed",
    "4 free thread killed",
    "4 scope joined",
  ]);
});

Deno.test("a killed scope's finally spawns a helper: the helper lives no longer than the scope's code", async () => {
  const record: string[] = [];
  const clock = new VirtualClock();
  await run(
    function* () {
      const scope = yield* spawn(
        function* (): Coroutine<void> {
          try {
            yield* sleep(60_000);
          } finally {
            yield* spawn(function* (): Coroutine<void> {
              try {
                yield* sleep(1_000_000); // say, a heartbeat that runs until killed
                record.push(`helper ran to its end at ${clock.now()} (wrong)`);
              } finally {
                record.push(`helper ends at ${clock.now()}`);
              }
            }());
            yield* sleep(5);
            record.push(`scope's finally done at ${clock.now()}`);
          }
        }(),
        { scope: true },
      );
      yield* sleep(10);
      yield* kill(scope);
      record.push(`kill returned at ${clock.now()}`);
    }(),
    { clock },
  );
  assert.deepEqual(record, [
    "scope's finally done at 15",
    "helper ends at 15",
    "kill returned at 15",
  ]);
});

async function firstItemGoesTo(fail: boolean): Promise<string[]> {
  const record: string[] = [];
  const ch = new Channel<string>(0);
  const receiver = (name: string, delay: number) =>
    function* (): Coroutine<void> {
      if (delay > 0) yield* sleep(delay);
      const m = yield* ch.receive();
      record.push(`${name} got ${m.value}`);
    }();
  await run(
    function* () {
      yield* spawn(function* (): Coroutine<void> {
        yield* shield(function* () {
          const older = yield* spawn(receiver("older", 1)); // lower id, waits second
          const younger = yield* spawn(receiver("younger", 0)); // waits first
          yield* older;
          yield* younger;
        }());
      }());
      yield* sleep(2);
      ch.trySend("a"); // wakes the younger (first waiter) ...
      ch.trySend("b"); // ... then the older
      if (fail) throw new Error("boom"); // the run fails in the same instant
    }(),
    { clock: new VirtualClock() },
  ).catch(() => {});
  return record;
}

Deno.test("waiters woken in order are served in that order, also while the run fails", async () => {
  assert.deepEqual(await firstItemGoesTo(false), ["younger got a", "older got b"]);
  assert.deepEqual(await firstItemGoesTo(true), ["younger got a", "older got b"]);
});

async function order(fail: boolean): Promise<string[]> {
  const record: string[] = [];
  const ch = new Channel<string>(0);
  const receiver = (name: string, delay: number) =>
    function* (): Coroutine<void> {
      try {
        yield* sleep(1_000_000);
      } finally {
        // Killed at 1: its finally receives (no shield needed: a finally may wait).
        if (delay > 0) yield* sleep(delay);
        const m = yield* ch.receive();
        record.push(`${name} got ${m.value}`);
      }
    }();
  await run(
    function* () {
      const older: Task<void> = yield* spawn(receiver("older", 1)); // lower id, waits second
      const younger: Task<void> = yield* spawn(receiver("younger", 0)); // waits first
      yield* spawn(function* () {
        yield* sleep(1);
        yield* kill([older, younger]);
      }());
      yield* sleep(3);
      ch.trySend("a"); // reserved for the younger (first waiter) ...
      ch.trySend("b"); // ... then the older
      if (fail) throw new Error("boom"); // the run fails in the same instant
    }(),
    { clock: new VirtualClock() },
  ).catch(() => {});
  return record;
}

Deno.test("killed threads woken in order are served in that order, also while the run fails", async () => {
  assert.deepEqual(await order(false), ["younger got a", "older got b"]);
  assert.deepEqual(await order(true), ["younger got a", "older got b"]);
});

Deno.test("a finally that joins a thread its own teardown killed adds no KilledError to how the run, a group or a scope ends", async (t) => {
  // A supervisor's cleanup waits for the worker it started: the teardown that kills the
  // supervisor kills the worker too, so the join throws a KilledError. That error is the
  // teardown's own doing, not a failure of its own.
  function* supervisor(
    record: string[],
    work: Operation<unknown> = sleep(100_000),
  ): Coroutine<void> {
    const worker = yield* spawn(work, { name: "worker" });
    try {
      yield* sleep(100_000);
    } finally {
      record.push("supervisor joins");
      yield* join(worker);
    }
  }
  const failure = new Error("real failure");
  // The same supervisor under a run that fails and under a task group whose body fails.
  const failing: [string, (record: string[]) => Operation<unknown>][] = [
    ["a run that fails", (record) =>
      function* () {
        yield* spawn(supervisor(record), { name: "supervisor" });
        yield* sleep(10);
        throw failure;
      }()],
    ["a task group whose body fails", (record) =>
      taskGroup(function* (group) {
        yield* group.spawn(supervisor(record));
        yield* sleep(10);
        throw failure;
      })],
  ];
  for (const [name, program] of failing) {
    await t.step(name, async () => {
      const record: string[] = [];
      const error = await run(program(record), { clock: new VirtualClock() }).catch((e) => e);
      assert.equal(error, failure);
      assert.deepEqual(record, ["supervisor joins"]);
    });
  }
  await t.step("a scope whose code returned, ending its threads", async () => {
    const record: string[] = [];
    const result = await run(
      function* (): Coroutine<string> {
        const scope = yield* spawn(
          function* (): Coroutine<string> {
            yield* spawn(supervisor(record), { name: "supervisor" });
            yield* sleep(10);
            return "scope's value";
          }(),
          { scope: true },
        );
        return yield* join(scope);
      }(),
      { clock: new VirtualClock() },
    );
    assert.equal(result, "scope's value");
    assert.deepEqual(record, ["supervisor joins"]);
  });
  await t.step("a deadlock", async () => {
    const record: string[] = [];
    const error = await run(
      function* () {
        // The worker waits for an item nobody sends, and so does the supervisor's cleanup.
        const boss = yield* spawn(supervisor(record, new Channel<number>().receive()));
        yield* sleep(10);
        yield* kill(boss);
      }(),
      { clock: new VirtualClock() },
    ).catch((error) => error);
    assert.ok(error instanceof DeadlockError, String(error));
    assert.deepEqual(record, ["supervisor joins"]);
  });
});

/**
 * A thread of a group a user kills at 1 (its kill held back by a shield, if `shielded`);
 * its `finally` joins a sibling that the group's failure at 2 kills. What its killer gets.
 */
async function killedByUserThenTeardown(shielded: boolean): Promise<string[]> {
  const record: string[] = [];
  let doomed: Task<void> | undefined;
  await run(
    function* () {
      const killer = yield* spawn(function* () {
        yield* sleep(1);
        try {
          yield* kill(doomed!);
          record.push("kill returned");
        } catch (error) {
          record.push(`kill threw ${(error as Error).message}`);
        }
      }());
      try {
        yield* taskGroup(function* (group) {
          const sibling = yield* group.spawn(sleep(1000));
          doomed = yield* group.spawn(function* () {
            try {
              if (shielded) yield* shield(sleep(10)); // the kill waits for it
              yield* sleep(1000);
            } finally {
              yield* join(sibling); // killed by the group's failure, meanwhile
            }
          }());
          yield* group.spawn(function* () {
            yield* sleep(2);
            throw new Error("child failed");
          }());
          yield* sleep(1000);
        });
      } catch (error) {
        record.push(`group: ${(error as Error).message}`);
      }
      yield* join(killer);
    }(),
    { clock: new VirtualClock() },
  );
  return record;
}

Deno.test("only the KilledError of a thread the same teardown killed is excused, and only in a thread it killed", async (t) => {
  await t.step("a thread a user killed first: its killer gets what its cleanup threw", async () => {
    assert.deepEqual(await killedByUserThenTeardown(false), [
      "kill threw Thread 3 was killed",
      "group: child failed",
    ]);
  });
  await t.step("another teardown's kill: the group fails with it too", async () => {
    let earlier: Task<void> | undefined;
    const error = await run(
      function* () {
        try {
          yield* taskGroup(function* (group) {
            earlier = yield* group.spawn(sleep(1000));
            yield* group.spawn(function* () {
              yield* sleep(1);
              throw new Error("first group failed");
            }());
            yield* sleep(1000);
          });
        } catch { /* its own failure */ }
        yield* taskGroup(function* (group) {
          yield* group.spawn(function* () {
            try {
              yield* sleep(1000);
            } finally {
              yield* join(earlier!);
            }
          }());
          yield* group.spawn(function* () {
            yield* sleep(5);
            throw new Error("second group failed");
          }());
          yield* sleep(1000);
        });
      }(),
      { clock: new VirtualClock() },
    ).catch((error) => error);
    assert.ok(error instanceof SuppressedError, String(error));
    assert.equal(error.suppressed.message, "second group failed");
    assert.equal(error.error.name, "KilledError");
  });
});

Deno.test("a scope made inside a shield and killed there kills its threads at once; a kill a shield holds back keeps its killer's errors", async (t) => {
  await t.step("the kill of a scope spawned in a shield", async () => {
    const record: string[] = [];
    const clock = new VirtualClock();
    await run(
      function* () {
        let scope: Task<void> | undefined;
        const killer = yield* spawn(function* () {
          yield* sleep(5);
          yield* kill(scope!);
        }());
        yield* shield(function* () {
          scope = yield* spawn(
            function* () {
              yield* spawn(function* () {
                try {
                  for (;;) {
                    yield* sleep(2);
                    record.push(`member works at ${clock.now()}`);
                  }
                } finally {
                  record.push(`member finally at ${clock.now()}`);
                }
              }());
              try {
                yield* sleep(1000);
              } finally {
                yield* shield(sleep(6));
                record.push(`scope finally at ${clock.now()}`);
              }
            }(),
            { scope: true },
          );
          try {
            yield* join(scope);
          } catch { /* killed */ }
        }());
        yield* join(killer);
      }(),
      { clock },
    );
    assert.deepEqual(record, [
      "member works at 2",
      "member works at 4",
      "member finally at 5",
      "scope finally at 11",
    ]);
  });
  await t.step("a user's kill a shield holds back, then a teardown", async () => {
    assert.deepEqual(await killedByUserThenTeardown(true), [
      "kill threw Thread 3 was killed",
      "group: child failed",
    ]);
  });
});

Deno.test("a teardown that spares a thread for a shield, then kills it, still owns its KilledError", async () => {
  // P starts W inside a shield; the run fails while P is shielded, so W is spared until
  // the shield ends, then killed; P's cleanup joins W. The run fails with E alone.
  const failure = new Error("E");
  const record: string[] = [];
  const error = await run(
    function* () {
      yield* spawn(function* () {
        let worker: Task<void> | undefined;
        try {
          yield* shield(function* () {
            worker = yield* spawn(sleep(1000));
            yield* sleep(20);
          }());
          yield* sleep(1000);
        } finally {
          record.push("P joins W");
          yield* join(worker!);
        }
      }());
      yield* sleep(5);
      throw failure;
    }(),
    { clock: new VirtualClock() },
  ).catch((error) => error);
  assert.equal(error, failure);
  assert.deepEqual(record, ["P joins W"]);
});

Deno.test("what a failed scope's shielded body starts lives until the shield ends; what is given to a closing scope is its teardown's", async (t) => {
  await t.step("a helper started in a shield after the scope failed", async () => {
    const clock = new VirtualClock();
    const record: string[] = [];
    const error = await run(
      function* () {
        const scope = yield* spawn(
          function* () {
            try {
              yield* shield(function* () {
                yield* sleep(10);
                yield* spawn(function* () {
                  try {
                    for (;;) {
                      yield* sleep(10);
                      record.push(`helper works at ${clock.now()}`);
                    }
                  } finally {
                    record.push(`helper finally at ${clock.now()}`);
                  }
                }());
                yield* sleep(5);
                record.push(`shield ends at ${clock.now()}`);
              }());
            } finally {
              yield* shield(sleep(50));
              record.push(`body cleanup done at ${clock.now()}`);
            }
          }(),
          { scope: true },
        );
        yield* sleep(5);
        yield* spawn(
          function* () {
            throw new Error("member failed");
          }(),
          { owner: scope },
        );
        yield* join(scope);
      }(),
      { clock },
    ).catch((error) => error);
    assert.equal((error as Error).message, "member failed");
    assert.deepEqual(record, [
      "shield ends at 15",
      "helper finally at 15",
      "body cleanup done at 65",
    ]);
  });
  await t.step("a thread given to a scope that closes, joined by a thread it ends", async () => {
    const result = await run(
      function* (): Coroutine<string> {
        // Read only in the thread's `finally`, long after it is set.
        const given: { to?: Task<string> } = {};
        const scope = given.to = yield* spawn(
          function* (): Coroutine<string> {
            yield* spawn(function* () {
              try {
                yield* sleep(1000);
              } finally {
                // Killed as the scope closes: it gives the scope one more, killed at once.
                const late = yield* spawn(sleep(5), { owner: given.to! });
                yield* join(late);
              }
            }());
            yield* sleep(10);
            return "scope's value";
          }(),
          { scope: true },
        );
        return yield* join(scope);
      }(),
      { clock: new VirtualClock() },
    );
    assert.equal(result, "scope's value");
  });
});

Deno.test("a failing scope kills the threads of a nested scope whose code waits in a shield, and a child given to a group from a shield", async (t) => {
  await t.step("a nested scope in a shield", async () => {
    const clock = new VirtualClock();
    const record: string[] = [];
    await run(
      function* () {
        const outer = yield* spawn(
          function* () {
            yield* spawn(
              function* () {
                yield* spawn(function* () { // started before the shield: not the shield's
                  try {
                    for (;;) {
                      yield* sleep(2);
                      record.push(`helper works at ${clock.now()}`);
                    }
                  } finally {
                    record.push(`helper finally at ${clock.now()}`);
                  }
                }());
                yield* shield(sleep(10));
              }(),
              { scope: true },
            );
            yield* spawn(function* () {
              yield* sleep(1);
              throw new Error("sibling failed");
            }());
            yield* sleep(1000);
          }(),
          { scope: true },
        );
        try {
          yield* join(outer);
        } catch (error) {
          record.push(`joiner got ${(error as Error).message} at ${clock.now()}`);
        }
      }(),
      { clock },
    );
    assert.deepEqual(record, ["helper finally at 1", "joiner got sibling failed at 10"]);
  });
  await t.step("a child given to a group from inside a sibling's shield", async () => {
    const clock = new VirtualClock();
    const record: string[] = [];
    const error = await run(
      taskGroup(function* (group) {
        yield* group.spawn(shield(function* () {
          yield* group.spawn(function* () {
            try {
              for (;;) {
                yield* sleep(2);
                record.push(`given child works at ${clock.now()}`);
              }
            } finally {
              record.push(`given child finally at ${clock.now()}`);
            }
          }());
          yield* sleep(10);
        }()));
        yield* group.spawn(function* () {
          yield* sleep(1);
          throw new Error("sibling failed");
        }());
      }),
      { clock },
    ).catch((error) => error);
    assert.equal((error as Error).message, "sibling failed");
    assert.deepEqual(record, ["given child finally at 1"]);
  });
});

Deno.test("a scope a failing run spared, closing on its own, is not failed by its closing's KilledErrors", async () => {
  // S, started in a shield, is spared by the run's failure at 5; its code returns at 10,
  // and its closing kills M3 and M2. M2's cleanup helper joins M3 and throws its
  // KilledError: S's own teardown, as when S closes with no run failing.
  for (const runFails of [false, true]) {
    const record: string[] = [];
    const outcome = await run(
      function* () {
        yield* spawn(function* () {
          yield* shield(function* () {
            const scope: Task<string> = yield* spawn(
              function* (): Coroutine<string> {
                const m3 = yield* spawn(sleep(1000));
                yield* spawn(function* () {
                  try {
                    yield* sleep(1000);
                  } finally {
                    yield* spawn(function* () {
                      yield* sleep(1);
                      yield* join(m3);
                    }());
                    yield* sleep(5);
                  }
                }());
                yield* sleep(10);
                return "S's value";
              }(),
              { scope: true },
            );
            try {
              record.push(`S gave ${yield* join(scope)}`);
            } catch (error) {
              record.push(`S threw ${(error as Error).message}`);
            }
          }());
        }());
        yield* sleep(5);
        if (runFails) throw new Error("E");
      }(),
      { clock: new VirtualClock() },
    ).then(() => "ok", (error) => (error as Error).message);
    assert.deepEqual(record, ["S gave S's value"], `run fails: ${runFails}`);
    assert.equal(outcome, runFails ? "E" : "ok");
  }
});
