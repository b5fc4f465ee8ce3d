// A thread that a killed thread's `finally` spawns lives as long as that thread, but a
// child given to a task group (or any scope) is that group's to end, whoever started it.
import assert from "node:assert/strict";
import {
  Channel,
  type Coroutine,
  join,
  kill,
  run,
  shield,
  sleep,
  spawn,
  type Task,
  type TaskGroup,
  taskGroup,
  VirtualClock,
} from "../../mod.ts";

Deno.test("a group child started by a finally while the run fails ends with the group", async () => {
  const clock = new VirtualClock();
  const record: string[] = [];
  const log = (what: string) => record.push(`${clock.now()} ${what}`);
  const error = await run(
    function* () {
      let group: TaskGroup | undefined;
      yield* spawn(taskGroup(function* (g) {
        group = g;
        try {
          yield* sleep(1_000_000);
        } finally {
          yield* sleep(2); // the body's cleanup: the group is not closing yet
          log("group body ends");
        }
      }));
      yield* spawn(function* (): Coroutine<void> {
        try {
          yield* sleep(1_000_000);
        } finally {
          yield* group!.spawn(function* (): Coroutine<void> {
            try {
              for (;;) {
                yield* sleep(1);
                log("group child ticks");
              }
            } finally {
              log("group child killed");
            }
          }());
          yield* sleep(10);
          log("spawner's finally ends");
        }
      }());
      yield* sleep(1);
      throw new Error("boom"); // the run fails: every thread is killed
    }(),
    { clock },
  ).catch((e) => e);
  assert.equal(error.message, "boom");
  assert.deepEqual(record, [
    "2 group child ticks",
    "3 group body ends",
    "3 group child killed",
    "11 spawner's finally ends",
  ]);
});

Deno.test("a failing run ends when a finally joins the group child it started", async () => {
  // The spawner waits for the child, and the child is spared until the spawner ends: with
  // a loop that never ends by itself, the run would never end (bounded here at 1000 ticks).
  const clock = new VirtualClock();
  const record: string[] = [];
  const log = (what: string) => record.push(`${clock.now()} ${what}`);
  const error = await run(
    function* () {
      let group: TaskGroup | undefined;
      yield* spawn(taskGroup(function* (g) {
        group = g;
        try {
          yield* sleep(1_000_000);
        } finally {
          yield* sleep(2);
        }
      }));
      yield* spawn(function* (): Coroutine<void> {
        try {
          yield* sleep(1_000_000);
        } finally {
          const child = yield* group!.spawn(function* (): Coroutine<string> {
            for (let i = 0; i < 1000; i++) yield* sleep(1);
            return "outlived its group";
          }());
          try {
            log(`joined: ${yield* child}`);
          } catch (error) {
            log(`joined: ${(error as Error).name}`);
          }
        }
      }());
      yield* sleep(1);
      throw new Error("boom");
    }(),
    { clock },
  ).catch((e) => e);
  assert.equal(error.message, "boom");
  assert.deepEqual(record, ["3 joined: KilledError"]);
});

Deno.test("a failing task group ends a child that a teardown helper gave it", async () => {
  const clock = new VirtualClock();
  const record: string[] = [];
  const log = (what: string) => record.push(`${clock.now()} ${what}`);
  await run(
    function* () {
      let group: TaskGroup | undefined;
      const grouped = yield* spawn(taskGroup(function* (g) {
        group = g;
        yield* sleep(3);
        throw new Error("group body failed"); // the group fails: it kills its children
      }));
      const worker: Task<void> = yield* spawn(function* (): Coroutine<void> {
        try {
          yield* sleep(1_000_000);
        } finally {
          // A helper the finally spawns (spared while the worker unwinds) gives the group
          // a child: that child is the group's to end.
          yield* spawn(function* (): Coroutine<void> {
            yield* group!.spawn(function* (): Coroutine<void> {
              try {
                for (;;) {
                  yield* sleep(1);
                  log("group child ticks");
                }
              } finally {
                log("group child killed");
              }
            }());
          }());
          yield* sleep(10);
          log("worker's finally ends");
        }
      }());
      yield* spawn(function* () {
        yield* sleep(1);
        yield* kill(worker);
      }());
      try {
        yield* grouped;
      } catch (error) {
        log(`group joined: ${(error as Error).message}`);
      }
    }(),
    { clock },
  );
  assert.deepEqual(record, [
    "2 group child ticks",
    "3 group child killed",
    "3 group joined: group body failed",
    "11 worker's finally ends",
  ]);
});

function helper(log: (s: string) => void): Coroutine<void> {
  return function* (): Coroutine<void> {
    try {
      for (let i = 0; i < 100; i++) yield* sleep(1); // a heartbeat; bounded so the test ends
      log("helper ran to its end (wrong)");
    } finally {
      log("helper killed");
    }
  }();
}

for (const kind of ["taskGroup", "spawn scope"]) {
  Deno.test(`a ${kind} inside a killed thread's finally ends its helpers when its body ends`, async () => {
    const clock = new VirtualClock();
    const record: string[] = [];
    const log = (s: string) => record.push(`${clock.now()} ${s}`);
    await run(
      function* () {
        const w: Task<void> = yield* spawn(function* (): Coroutine<void> {
          try {
            yield* sleep(1_000_000);
          } finally {
            if (kind === "taskGroup") {
              yield* taskGroup(function* () {
                yield* spawn(helper(log)); // a plain spawn in a group: a helper it kills at its end
                yield* sleep(3);
              });
            } else {
              const scope = yield* spawn(
                function* () {
                  yield* spawn(helper(log));
                  yield* sleep(3);
                }(),
                { scope: true },
              );
              yield* join(scope);
            }
            log("finally done");
          }
        }());
        yield* sleep(1);
        yield* kill(w);
      }(),
      { clock },
    );
    assert.deepEqual(record, ["4 helper killed", "4 finally done"]);
  });
}

Deno.test("control: the same taskGroup outside a finally ends its helper at once", async () => {
  const clock = new VirtualClock();
  const record: string[] = [];
  const log = (s: string) => record.push(`${clock.now()} ${s}`);
  await run(
    function* () {
      yield* sleep(1);
      yield* taskGroup(function* () {
        yield* spawn(helper(log));
        yield* sleep(3);
      });
      log("finally done");
    }(),
    { clock },
  );
  assert.deepEqual(record, ["4 helper killed", "4 finally done"]);
});

/** A finally that runs a task group; `viaSibling`: the child is given by another child. */
function worker(log: (s: string) => void, viaSibling: boolean): Coroutine<void> {
  return function* (): Coroutine<void> {
    try {
      yield* sleep(1_000_000);
    } finally {
      yield* taskGroup(function* (g: TaskGroup) {
        const ticker = function* (): Coroutine<void> {
          try {
            for (let i = 0; i < 3; i++) {
              yield* sleep(1);
              log("child ticks");
            }
          } finally {
            log("child ends");
          }
        };
        if (viaSibling) {
          yield* g.spawn(function* (): Coroutine<void> {
            yield* g.spawn(ticker()); // a sibling gives the group a child, then ends
          }());
        } else yield* g.spawn(ticker());
        yield* sleep(5);
        log("group body ends");
      });
      log("worker's finally ends");
    }
  }();
}

for (const viaSibling of [false, true]) {
  Deno.test(`failing run: a group started in a finally keeps its child (given by ${viaSibling ? "a sibling" : "the body"})`, async () => {
    const clock = new VirtualClock();
    const record: string[] = [];
    const log = (s: string) => record.push(`${clock.now()} ${s}`);
    const error = await run(
      function* () {
        yield* spawn(worker(log, viaSibling));
        yield* sleep(1);
        throw new Error("boom"); // the run fails: the worker is killed, its finally runs
      }(),
      { clock },
    ).catch((e) => e);
    assert.equal(error.message, "boom");
    assert.deepEqual(record, [
      "2 child ticks",
      "3 child ticks",
      "4 child ticks",
      "4 child ends",
      "6 group body ends",
      "6 worker's finally ends",
    ]);
  });
}

/** A finally whose task group's child is given by a nested group's body. */
function nestedWorker(log: (s: string) => void, nested: boolean): Coroutine<void> {
  return function* (): Coroutine<void> {
    try {
      yield* sleep(1_000_000);
    } finally {
      yield* taskGroup(function* (outer: TaskGroup) {
        const ticker = function* (): Coroutine<void> {
          try {
            for (let i = 0; i < 3; i++) {
              yield* sleep(1);
              log("child ticks");
            }
          } finally {
            log("child ends");
          }
        };
        if (nested) {
          yield* taskGroup(function* (_inner: TaskGroup) {
            yield* outer.spawn(ticker()); // given to the outer group from the inner one
          });
        } else yield* outer.spawn(ticker());
        yield* sleep(5);
        log("group body ends");
      });
      log("worker's finally ends");
    }
  }();
}

for (const nested of [false, true]) {
  Deno.test(`a teardown that kills many spares a spared group's child (given ${nested ? "from a nested group" : "by the body"})`, async () => {
    const clock = new VirtualClock();
    const record: string[] = [];
    const log = (s: string) => record.push(`${clock.now()} ${s}`);
    const error = await run(
      function* () {
        const w: Task<void> = yield* spawn(nestedWorker(log, nested));
        yield* spawn(function* () {
          yield* sleep(1);
          yield* kill(w); // the worker's finally starts the group at 1
        }());
        yield* sleep(2);
        throw new Error("boom"); // at 2 the run fails: it kills what it reaches
      }(),
      { clock },
    ).catch((e) => e);
    assert.equal(error.message, "boom");
    assert.deepEqual(record, [
      "2 child ticks",
      "3 child ticks",
      "4 child ticks",
      "4 child ends",
      "6 group body ends",
      "6 worker's finally ends",
    ]);
  });
}

Deno.test("a failing group ends a child given to it from another thread's shield", async () => {
  const clock = new VirtualClock();
  const record: string[] = [];
  const log = (s: string) => record.push(`${clock.now()} ${s}`);
  const never = new Channel<void>(0);
  const result = await run(
    function* () {
      let group: TaskGroup | undefined;
      const t: Task<void> = yield* spawn(taskGroup(function* (g: TaskGroup) {
        group = g;
        yield* g.spawn(function* () {
          yield* sleep(2);
          throw new Error("boom"); // fails the group at 2
        }());
        yield* sleep(1_000_000);
      }));
      yield* sleep(1);
      try {
        yield* shield(function* () {
          yield* group!.spawn(function* (): Coroutine<void> {
            try {
              yield* never.receive(); // waits for ever: only a kill ends it
            } finally {
              log("child killed");
            }
          }());
          try {
            yield* join(t); // the group's outcome
          } catch (e) {
            log(`group failed: ${(e as Error).message}`);
          }
        }());
      } catch (e) {
        log(`root caught ${(e as Error).constructor.name}`);
      }
      return "done";
    }(),
    { clock },
  ).catch((e) => `rejected: ${(e as Error).constructor.name}`);
  assert.equal(result, "done");
  assert.deepEqual(record, ["2 child killed", "2 group failed: boom"]);
});
