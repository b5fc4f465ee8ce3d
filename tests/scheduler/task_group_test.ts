import assert from "node:assert/strict";
import {
  all,
  Channel,
  type Coroutine,
  join,
  kill,
  run,
  shield,
  sleep,
  snapshot,
  spawn,
  type Task,
  type TaskGroup,
  taskGroup,
  VirtualClock,
  withTimeout,
  yieldNow,
} from "../../mod.ts";

function* child(
  name: string,
  ms: number,
  record: string[],
  clock: VirtualClock,
): Coroutine<string> {
  try {
    yield* sleep(ms);
    record.push(`${name} done at ${clock.now()}`);
    return name;
  } finally {
    record.push(`${name} finally`);
  }
}

Deno.test("taskGroup() ends once the body and every child have ended, with the body's value", async () => {
  const record: string[] = [];
  const clock = new VirtualClock();
  const value = await run(
    function* () {
      const value = yield* taskGroup(function* (group) {
        yield* group.spawn(child("a", 30, record, clock));
        const b = yield* group.spawn(child("b", 10, record, clock));
        record.push(`body joined ${yield* b}`);
        return "body value";
      });
      record.push(`group ended at ${clock.now()}`);
      return value;
    }(),
    { clock },
  );
  assert.equal(value, "body value");
  assert.deepEqual(record, [
    "b done at 10",
    "b finally",
    "body joined b",
    "a done at 30",
    "a finally",
    "group ended at 30",
  ]);
});

Deno.test("taskGroup(): a failing child kills the body and its siblings, then the error reaches the caller", async () => {
  const record: string[] = [];
  const clock = new VirtualClock();
  await run(
    function* () {
      try {
        yield* taskGroup(function* (group) {
          yield* group.spawn(child("sibling", 1000, record, clock));
          yield* group.spawn(function* () {
            yield* sleep(10);
            throw new Error("child failed");
          }());
          try {
            yield* sleep(1000);
          } finally {
            record.push(`body finally at ${clock.now()}`);
          }
        });
      } catch (error) {
        record.push(`caller caught ${(error as Error).message} at ${clock.now()}`);
      }
    }(),
    { clock },
  );
  assert.deepEqual(record, [
    "body finally at 10",
    "sibling finally",
    "caller caught child failed at 10",
  ]);
});

Deno.test("taskGroup(): a failing body kills the children", async () => {
  const record: string[] = [];
  const clock = new VirtualClock();
  await assert.rejects(
    run(
      taskGroup(function* (group) {
        yield* group.spawn(child("a", 1000, record, clock));
        yield* sleep(5);
        throw new Error("body failed");
      }),
      { clock },
    ),
    { message: "body failed" },
  );
  assert.deepEqual(record, ["a finally"]);
});

Deno.test("taskGroup(): errors during the teardown are chained to the first", async () => {
  const clock = new VirtualClock();
  const first = new Error("first");
  const cleanup = new Error("cleanup");
  const error = await run(
    function* () {
      try {
        yield* taskGroup(function* (group) {
          yield* group.spawn(function* () {
            try {
              yield* sleep(1000);
            } finally {
              // deno-lint-ignore no-unsafe-finally
              throw cleanup;
            }
          }());
          yield* group.spawn(function* () {
            yield* sleep(10);
            throw first;
          }());
        });
      } catch (error) {
        return error;
      }
      return undefined;
    }(),
    { clock },
  );
  assert.ok(error instanceof SuppressedError, String(error));
  assert.equal(error.error, cleanup);
  assert.equal(error.suppressed, first);
});

Deno.test("taskGroup(): killing the caller kills the body and children, and waits for their cleanup", async () => {
  const record: string[] = [];
  const clock = new VirtualClock();
  await run(
    function* () {
      const caller = yield* spawn(taskGroup(function* (group) {
        yield* group.spawn(function* () {
          try {
            yield* sleep(1000);
          } finally {
            yield* sleep(5); // a cleanup that waits
            record.push(`child cleaned up at ${clock.now()}`);
          }
        }());
        try {
          yield* sleep(1000);
        } finally {
          record.push(`body finally at ${clock.now()}`);
        }
      }));
      yield* sleep(10);
      yield* kill(caller);
      record.push(`kill returned at ${clock.now()}`);
    }(),
    { clock },
  );
  assert.deepEqual(record, [
    "body finally at 10",
    "child cleaned up at 15",
    "kill returned at 15",
  ]);
});

Deno.test("taskGroup(): a plain spawn inside is a helper, killed when the group ends; a killed child is just ended", async () => {
  const record: string[] = [];
  const clock = new VirtualClock();
  let saved: TaskGroup | undefined;
  await run(
    function* () {
      yield* taskGroup(function* (group) {
        saved = group;
        yield* spawn(child("helper", 1000, record, clock));
        const doomed: Task<string> = yield* group.spawn(child("doomed", 1000, record, clock));
        yield* group.spawn(child("worker", 20, record, clock));
        yield* sleep(5);
        yield* kill(doomed);
      });
      record.push(`group ended at ${clock.now()}`);
    }(),
    { clock },
  );
  assert.deepEqual(record, [
    "doomed finally",
    "worker done at 20",
    "worker finally",
    "helper finally",
    "group ended at 20",
  ]);
  await assert.rejects(run(saved!.spawn(sleep(1))), {
    name: "TypeError",
    message: "Cannot spawn in task group: it has ended",
  });
});

Deno.test("taskGroup(): children may start children of the group", async () => {
  const record: string[] = [];
  const clock = new VirtualClock();
  await run(
    taskGroup(function* (group) {
      yield* group.spawn(function* () {
        yield* sleep(5);
        yield* group.spawn(child("grandchild", 10, record, clock));
      }());
    }),
    { clock },
  );
  assert.deepEqual(record, ["grandchild done at 15", "grandchild finally"]);
});

Deno.test("taskGroup(): a body that catches errors cannot swallow a child's: the group fails at once", async () => {
  const record: string[] = [];
  const clock = new VirtualClock();
  await assert.rejects(
    run(
      taskGroup(function* (group) {
        yield* group.spawn(child("sibling", 1000, record, clock));
        yield* group.spawn(function* () {
          yield* sleep(10);
          throw new Error("child failed");
        }());
        for (let attempt = 1; attempt <= 3; attempt++) {
          try {
            yield* sleep(20); // say, a retried request
            record.push(`body attempt ${attempt} done at ${clock.now()}`);
          } catch (error) {
            record.push(`body caught "${(error as Error).message}" (wrong)`);
          } finally {
            record.push(`body attempt ${attempt} finally at ${clock.now()}`);
          }
        }
      }),
      { clock },
    ),
    { message: "child failed" },
  );
  assert.deepEqual(record, ["body attempt 1 finally at 10", "sibling finally"]);
});

Deno.test("taskGroup(): a child that fails with a KilledError of its own fails the group", async () => {
  const clock = new VirtualClock();
  function* joinsAKilledThread(): Coroutine<string> {
    const doomed = yield* spawn(sleep(1000));
    yield* kill(doomed);
    yield* join(doomed); // throws the KilledError: this child fails with it
    return "joined (wrong)";
  }
  await assert.rejects(
    run(
      taskGroup(function* (group) {
        yield* group.spawn(joinsAKilledThread());
        return "the body's value (wrong)";
      }),
      { clock },
    ),
    { name: "KilledError", message: "Thread 3 was killed" },
  );
  const ran: string[] = [];
  function* op(name: string): Coroutine<string> {
    ran.push(name);
    yield* sleep(1);
    return name;
  }
  for (const concurrency of [Infinity, 1]) {
    ran.length = 0;
    await assert.rejects(
      run(all([joinsAKilledThread(), op("b"), op("c")], { concurrency }), { clock }),
      { name: "KilledError" },
      `concurrency ${concurrency}`,
    );
  }
});

Deno.test("taskGroup(): a child spawned in an outer group from inside an inner one belongs to the outer", async () => {
  const record: string[] = [];
  const clock = new VirtualClock();
  await run(
    function* () {
      yield* taskGroup(function* (outer) {
        yield* taskGroup(function* () {
          yield* outer.spawn(child("outer's child", 100, record, clock));
          record.push(`inner group ends at ${clock.now()}`);
        });
      });
      record.push(`outer group ended at ${clock.now()}`);
    }(),
    { clock },
  );
  assert.deepEqual(record, [
    "inner group ends at 0",
    "outer's child done at 100",
    "outer's child finally",
    "outer group ended at 100",
  ]);
});

Deno.test("taskGroup(): a child started from a killed thread's finally belongs to the group, and runs", async () => {
  const clock = new VirtualClock();
  const record: string[] = [];
  await run(
    taskGroup(function* (group) {
      const worker = yield* spawn(function* () {
        try {
          yield* sleep(1000);
        } finally {
          // Hands a cleanup job to the group: it outlives this thread.
          yield* group.spawn(child("cleanup job", 10, record, clock));
        }
      }());
      yield* sleep(5);
      yield* kill(worker);
      record.push(`worker killed at ${clock.now()}`);
    }),
    { clock },
  );
  assert.deepEqual(record, [
    "worker killed at 5",
    "cleanup job done at 15",
    "cleanup job finally",
  ]);
});

Deno.test("taskGroup(): a child that failed fails the group however many children follow it", async () => {
  for (const more of [0, 70]) {
    await assert.rejects(
      run(
        taskGroup(function* (group) {
          const failing = yield* group.spawn(function* () {
            yield* sleep(1);
            throw new Error("child failed");
          }());
          try {
            yield* failing;
          } catch {
            // not reached: the group fails with it at once, and kills its body here
          }
          for (let i = 0; i < more; i++) yield* group.spawn(sleep(0));
          yield* sleep(1);
          return "the body's value (wrong)";
        }),
        { clock: new VirtualClock() },
      ),
      { message: "child failed" },
      `with ${more} children after it`,
    );
  }
});

Deno.test("group.spawn from a child's finally while the group fails gives a child that is killed at once", async () => {
  // The group is tearing down (its body failed, its children are being killed): a child
  // started now belongs to it, so it is killed before it runs, as Trio starts a task in a
  // cancelled nursery cancelled. The spawn itself does not fail: the group has not ended.
  const record: string[] = [];
  await assert.rejects(
    run(
      taskGroup(function* (group) {
        yield* group.spawn(function* () {
          try {
            yield* sleep(1000);
          } finally {
            const late = yield* group.spawn(function* () {
              record.push("the late child ran");
            }());
            try {
              yield* late;
            } catch (error) {
              record.push(`joined the late child: ${(error as Error).name}, killed ${late.killed}`);
            }
          }
        }());
        yield* group.spawn(function* () {
          yield* sleep(10);
          throw new Error("boom");
        }());
      }),
      { clock: new VirtualClock() },
    ),
    { message: "boom" },
  );
  assert.deepEqual(record, ["joined the late child: KilledError, killed true"]);
});

Deno.test("taskGroup(): two children failing with one shared error fail the group with it once", async () => {
  // A child receives from a channel closed with `upstream`; another, killed for it, throws
  // the same error from its cleanup: the group throws that error, not a SuppressedError of
  // it chained to itself. (A second receiver woken with the error in the same instant is
  // killed before it runs: it never throws.)
  const upstream = new Error("upstream gone");
  const channel = new Channel<number>();
  const record: string[] = [];
  const error = await run(
    taskGroup(function* (group) {
      for (const name of ["a", "b"]) {
        yield* group.spawn(function* () {
          try {
            yield* channel.receive();
          } catch (error) {
            record.push(`${name} threw ${(error as Error).message}`);
            throw error;
          }
        }());
      }
      yield* group.spawn(function* () {
        try {
          yield* sleep(1000);
        } finally {
          record.push("c rethrows it in its cleanup");
          // deno-lint-ignore no-unsafe-finally
          throw upstream;
        }
      }());
      yield* sleep(1);
      channel.close(upstream);
    }),
    { clock: new VirtualClock() },
  ).catch((e) => e);
  assert.deepEqual(record, ["a threw upstream gone", "c rethrows it in its cleanup"]);
  assert.equal(error, upstream);
});

Deno.test("group.spawn into a group that ended by failing or by a kill says the group has ended", async () => {
  const record: string[] = [];
  const spawnLate = function* (group: TaskGroup): Coroutine<void> {
    try {
      yield* group.spawn(sleep(1));
      record.push("spawned");
    } catch (error) {
      record.push(`${(error as Error).name}: ${(error as Error).message}`);
    }
  };
  await run(
    function* () {
      let failed!: TaskGroup;
      try {
        yield* taskGroup(function* (group) {
          failed = group;
          yield* sleep(1);
          throw new Error("body failed");
        });
      } catch {
        // expected
      }
      yield* spawnLate(failed);
      let killed!: TaskGroup;
      const task = yield* spawn(taskGroup(function* (group) {
        killed = group;
        yield* sleep(100);
      }));
      yield* sleep(1);
      yield* kill(task);
      yield* spawnLate(killed);
    }(),
    { clock: new VirtualClock() },
  );
  assert.deepEqual(record, [
    "TypeError: Cannot spawn in task group: it has ended",
    "TypeError: Cannot spawn in task group: it has ended",
  ]);
});

Deno.test("group.spawn takes no options, undefined or null, as spawn does", async () => {
  const names = await run(taskGroup(function* (group) {
    const tasks = [
      yield* group.spawn(sleep(1)),
      yield* group.spawn(sleep(1), undefined),
      yield* group.spawn(sleep(1), null),
      yield* group.spawn(sleep(1), { name: "named" }),
    ];
    const threads = yield* snapshot();
    return tasks.map((task) => threads.find((thread) => thread.id === task.id)?.name);
  }));
  assert.deepEqual(names, [undefined, undefined, undefined, "named"]);
});

Deno.test("taskGroup(): a caller killed in the instant its group failed hands the group's error to its killer", async () => {
  // Whatever the instant of the kill, the child's error reaches the caller or the one that
  // killed it (as with `all`), never the run past both.
  const outcomes = new Set<string>();
  for (let delay = 0; delay < 10; delay++) {
    const record: string[] = [];
    await run(
      function* () {
        const caller = yield* spawn(function* () {
          yield* sleep(3);
          try {
            yield* taskGroup(function* (group) {
              yield* group.spawn(function* () {
                yield* sleep(0);
                throw new Error("child failed");
              }());
            });
          } catch (error) {
            record.push(`caller caught ${(error as Error).message}`);
          }
        }());
        yield* spawn(function* () {
          yield* sleep(3);
          for (let i = 0; i < delay; i++) yield* yieldNow();
          try {
            yield* kill(caller);
            record.push("killed");
          } catch (error) {
            record.push(`killer caught ${(error as Error).message}`);
          }
        }());
      }(),
      { clock: new VirtualClock() },
    );
    assert.equal(record.length, record[0] === "caller caught child failed" ? 2 : 1, `${record}`);
    outcomes.add(record.join(", "));
  }
  // Every way happens over these instants: killed before the child failed (the group is
  // killed with it), in the instants after, and once the caller took the error in.
  assert.deepEqual([...outcomes].sort(), [
    "caller caught child failed, killed",
    "killed",
    "killer caught child failed",
  ]);
});

Deno.test("taskGroup(): a child due to fail in the instant a sibling failed is killed before it runs", async () => {
  const record: string[] = [];
  function* fail(message: string): Coroutine<void> {
    try {
      yield* sleep(5);
      record.push(`${message} throws`);
      throw new Error(message);
    } finally {
      record.push(`${message} finally`);
    }
  }
  const error = await run(
    taskGroup(function* (group) {
      yield* group.spawn(fail("A"));
      yield* group.spawn(fail("B"));
    }),
    { clock: new VirtualClock() },
  ).catch((error) => error);
  assert.deepEqual(record, ["A throws", "A finally", "B finally"]);
  assert.ok(!(error instanceof SuppressedError), String(error));
  assert.equal((error as Error).message, "A");
});

Deno.test("taskGroup(): a child's error fails the group at once, even one a thread joined", async () => {
  const record: string[] = [];
  const clock = new VirtualClock();
  let failing: Task<void> | undefined;
  const error = await run(
    function* (): Coroutine<unknown> {
      // A thread outside the group joins the child too: it gets the error as well.
      yield* spawn(function* () {
        yield* sleep(1);
        try {
          yield* failing!;
        } catch (error) {
          record.push(`outside joiner got: ${(error as Error).message} at ${clock.now()}`);
        }
      }());
      try {
        return yield* taskGroup(function* (group) {
          yield* group.spawn(function* () {
            try {
              yield* sleep(1000);
            } finally {
              record.push(`sibling killed at ${clock.now()}`);
            }
          }());
          failing = yield* group.spawn(function* () {
            yield* sleep(10);
            throw new Error("child failed");
          }());
          try {
            yield* failing; // the group's body is killed here: it cannot carry on without it
            record.push("body went on (wrong)");
          } catch {
            record.push("body caught it (wrong)");
          } finally {
            record.push(`body unwound at ${clock.now()}`);
          }
          yield* sleep(1000);
          return "the body's value (wrong)";
        });
      } catch (error) {
        return error;
      }
    }(),
    { clock },
  );
  assert.equal((error as Error).message, "child failed");
  assert.deepEqual(record.sort(), [
    "body unwound at 10",
    "outside joiner got: child failed at 10",
    "sibling killed at 10",
  ]);
});

Deno.test("taskGroup(): a child's error nobody joins fails the group, though the group waits for it", async () => {
  const record: string[] = [];
  const error = await run(
    taskGroup(function* (group) {
      yield* group.spawn(function* () {
        try {
          yield* sleep(100);
        } finally {
          record.push("sibling killed");
        }
      }());
      yield* group.spawn(function* () {
        yield* sleep(10);
        throw new Error("unjoined");
      }());
      return "body done";
    }),
    { clock: new VirtualClock() },
  ).catch((error) => error);
  assert.equal((error as Error).message, "unjoined");
  assert.deepEqual(record, ["sibling killed"]);
});

Deno.test("taskGroup(): an error a body catches from a nested group, or from a plain spawn, does not fail the group", async () => {
  const record: string[] = [];
  function* flaky(attempt: number): Coroutine<string> {
    yield* sleep(1);
    if (attempt < 3) throw new Error(`attempt ${attempt} failed`);
    return `attempt ${attempt} worked`;
  }
  const value = await run(
    taskGroup(function* (group) {
      yield* group.spawn(function* () {
        yield* sleep(10);
        record.push("outer child done");
      }());
      try {
        yield* taskGroup(function* (inner) {
          yield* inner.spawn(function* () {
            yield* sleep(1);
            throw new Error("inner boom");
          }());
        });
      } catch (error) {
        record.push(`caught ${(error as Error).message}`);
      }
      // A retry loop over plain spawns: each failure is joined and handled.
      for (let attempt = 1;; attempt++) {
        try {
          return yield* join(yield* spawn(flaky(attempt)));
        } catch (error) {
          record.push(`caught ${(error as Error).message}`);
        }
      }
    }),
    { clock: new VirtualClock() },
  );
  record.push(value);
  assert.deepEqual(record, [
    "caught inner boom",
    "caught attempt 1 failed",
    "caught attempt 2 failed",
    "outer child done", // the group waited for it
    "attempt 3 worked",
  ]);
});

Deno.test("a deadlock report says a task group waits for its child's end, not that it joins it", async () => {
  const channel = new Channel<number>(0, { name: "never" });
  await assert.rejects(
    run(taskGroup(function* (group) {
      yield* group.spawn(function* () {
        yield* channel.receive();
      }());
    })),
    {
      name: "DeadlockError",
      message: "Cannot continue run: every thread is blocked forever (thread 0 waits on " +
        'join(thread 1 "task group"); thread 1 "task group" waits on the end of thread 2; ' +
        'thread 2 waits on receive(Channel "never"))',
    },
  );
});

Deno.test("taskGroup(): a failing child kills its siblings at once, while the body's cleanup still runs", async () => {
  const record: string[] = [];
  const clock = new VirtualClock();
  const sent = new Channel<string>(10);
  await assert.rejects(
    run(
      taskGroup(function* (group) {
        yield* group.spawn(function* () {
          yield* sleep(10);
          record.push(`child throws at ${clock.now()}`);
          throw new Error("child failed");
        }());
        // Woken in the same instant as the failing child, after it: it must not run again.
        yield* group.spawn(function* () {
          try {
            yield* sleep(10);
            for (let i = 0; i < 3; i++) {
              record.push(`sibling step ${i} at ${clock.now()}`);
              yield* sent.send(`side effect ${i}`);
              yield* sleep(10);
            }
          } finally {
            record.push(`sibling finally at ${clock.now()}`);
          }
        }());
        try {
          yield* sleep(1000);
        } finally {
          record.push(`body cleanup starts at ${clock.now()}`);
          yield* sleep(50);
          record.push(`body cleanup done at ${clock.now()}`);
        }
      }),
      { clock },
    ),
    { message: "child failed" },
  );
  // The sibling, woken in that instant already, keeps its turn: it unwinds first.
  assert.deepEqual(record, [
    "child throws at 10",
    "sibling finally at 10",
    "body cleanup starts at 10",
    "body cleanup done at 60",
  ]);
  assert.equal(sent.statistics().buffered, 0);
});

Deno.test("taskGroup(): the threads of a group nested in a killed child go in that instant too", async () => {
  const record: string[] = [];
  const clock = new VirtualClock();
  await assert.rejects(
    run(
      taskGroup(function* (outer) {
        yield* outer.spawn(taskGroup(function* (inner) {
          yield* inner.spawn(function* () {
            try {
              for (;;) {
                yield* sleep(3);
                record.push(`inner child works at ${clock.now()}`);
              }
            } finally {
              record.push(`inner child finally at ${clock.now()}`);
            }
          }());
          try {
            yield* sleep(1000);
          } finally {
            yield* shield(sleep(10));
            record.push(`inner body cleanup done at ${clock.now()}`);
          }
        }));
        yield* outer.spawn(function* () {
          yield* sleep(4);
          throw new Error("outer child failed");
        }());
        yield* sleep(1000);
      }),
      { clock },
    ),
    { message: "outer child failed" },
  );
  assert.deepEqual(record, [
    "inner child works at 3",
    "inner child finally at 4",
    "inner body cleanup done at 14",
  ]);
});

Deno.test("taskGroup(): a group run inside a shield, or in a finally, kills its other children at once too", async () => {
  for (const where of ["in a shield", "in a finally"]) {
    const record: string[] = [];
    const clock = new VirtualClock();
    const group = () =>
      taskGroup(function* (group) {
        yield* group.spawn(function* () {
          try {
            for (;;) {
              yield* sleep(3);
              record.push(`sibling works at ${clock.now()}`);
            }
          } finally {
            record.push(`sibling finally at ${clock.now()}`);
          }
        }());
        yield* group.spawn(function* () {
          yield* sleep(4);
          throw new Error("child failed");
        }());
        try {
          yield* sleep(1000);
        } finally {
          yield* shield(sleep(10));
          record.push(`body cleanup done at ${clock.now()}`);
        }
      });
    await run(
      function* () {
        if (where === "in a shield") {
          try {
            yield* shield(group());
          } catch (error) {
            record.push(`caught ${(error as Error).message}`);
          }
          return;
        }
        const killed = yield* spawn(function* () {
          try {
            yield* sleep(1000);
          } finally {
            try {
              yield* withTimeout(500, group());
            } catch (error) {
              record.push(`caught ${(error as Error).message}`);
            }
          }
        }());
        yield* yieldNow(); // it starts, and waits in its try
        yield* kill(killed);
      }(),
      { clock },
    );
    assert.deepEqual(record, [
      "sibling works at 3",
      "sibling finally at 4",
      "body cleanup done at 14",
      "caught child failed",
    ], where);
  }
});

Deno.test("taskGroup(): a child that fails while the body waits in a shield kills its siblings at once", async () => {
  const record: string[] = [];
  const clock = new VirtualClock();
  await assert.rejects(
    run(
      taskGroup(function* (group) {
        yield* group.spawn(function* () {
          yield* sleep(10);
          throw new Error("child failed");
        }());
        yield* group.spawn(function* () {
          try {
            for (;;) {
              yield* sleep(5);
              record.push(`sibling works at ${clock.now()}`);
            }
          } finally {
            record.push(`sibling finally at ${clock.now()}`);
          }
        }());
        yield* shield(sleep(40));
        record.push("body after its shield (wrong)");
      }),
      { clock },
    ),
    { message: "child failed" },
  );
  assert.deepEqual(record, ["sibling works at 5", "sibling finally at 10"]);
});

Deno.test("taskGroup(): a child started while the group is killed is killed before it runs", async () => {
  const record: string[] = [];
  const clock = new VirtualClock();
  await run(
    function* () {
      const caller = yield* spawn(taskGroup(function* (group) {
        yield* group.spawn(function* () {
          try {
            yield* sleep(1000);
          } finally {
            const late = yield* group.spawn(function* () {
              record.push(`late child runs at ${clock.now()} (wrong)`);
              yield* sleep(5);
            }());
            try {
              yield* join(late);
            } catch (error) {
              record.push(`late child: ${(error as Error).name}`);
            }
          }
        }());
        try {
          yield* sleep(1000);
        } finally {
          yield* sleep(30);
          record.push(`body cleanup done at ${clock.now()}`);
        }
      }));
      yield* sleep(10);
      yield* kill(caller);
    }(),
    { clock },
  );
  assert.deepEqual(record, ["late child: KilledError", "body cleanup done at 40"]);
});
