// A thread that a killed thread's `finally` spawns lives as long as that thread, but a
// child given to a task group (or any scope) is that group's to end, whoever started it.
import assert from "node:assert/strict";
import {
  type Coroutine,
  kill,
  run,
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
