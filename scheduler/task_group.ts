import { callEach, WatchEndEffect } from "./_effects.ts";
import { describe } from "./_describe.ts";
import type { Coroutine } from "./coroutine.ts";
import type { Effect } from "./effect.ts";
import { kill } from "./kill.ts";
import type { Operation } from "./operation.ts";
import { shield } from "./shield.ts";
import { spawn } from "./spawn.ts";
import type { Task } from "./task.ts";
import { type TaskHandle, threadOf } from "./_thread.ts";

let waitForChildren: (group: TaskGroup) => Coroutine<void>;
let setScope: (group: TaskGroup, scope: Task<unknown>) => void;

/**
 * The handle a {@linkcode taskGroup} body gets: it starts the group's children.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { run, taskGroup } from "@bluelet/bluelet";
 *
 * const value = await run(taskGroup(function* (group) {
 *   const child = yield* group.spawn(function* () {
 *     return 21;
 *   }());
 *   return (yield* child) * 2;
 * }));
 * assert.equal(value, 42);
 * ```
 */
export class TaskGroup {
  readonly #tasks = new Set<Task<unknown>>();
  /** The group's scope thread, which owns its children wherever they are started. */
  #scope: Task<unknown> | undefined = undefined;
  #sweepAt = 64;
  #ended = false;

  /**
   * Starts a child of the group: a thread that the group waits for before it ends, and
   * that is killed if the group fails or is killed. Call it from the body, from a child,
   * or from any thread of the run (inside a nested group, say): the child belongs to this
   * group wherever it is started. Its {@linkcode Task} can be joined for its value; its
   * error fails the group at once, even if a thread joins it (that thread gets the error
   * too, unless the group's teardown kills it first). Started while the group tears down
   * (it failed or was killed, and a child's `finally` starts another), the child is killed
   * before it runs: joining it throws a `KilledError`.
   *
   * @typeParam T The child's value.
   * @param operation The generator object (or event) to run.
   * @param options A name for the child, shown in error stories, in `snapshot()` and in
   * a `DeadlockError`, as with `spawn`.
   * @returns A coroutine to `yield*` that gives the child's {@linkcode Task}.
   * @throws {TypeError} If the group has already ended.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { run, sleep, taskGroup, VirtualClock } from "@bluelet/bluelet";
   *
   * const done: string[] = [];
   * await run(taskGroup(function* (group) {
   *   yield* group.spawn(function* () {
   *     yield* sleep(10);
   *     done.push("child");
   *   }());
   *   done.push("body");
   * }), { clock: new VirtualClock() });
   * assert.deepEqual(done, ["body", "child"]); // the group waited for its child
   * ```
   */
  *spawn<T>(operation: Operation<T>, options?: { name?: string } | null): Coroutine<Task<T>> {
    // Ended whichever way: its children all returned, or it failed, or it was killed.
    if (this.#ended || this.#scope?.done === true) {
      throw new TypeError("Cannot spawn in task group: it has ended");
    }
    const task = yield* spawn(operation, { owner: this.#scope, name: options?.name });
    // Before it runs (a spawned thread waits for its spawner to give way): its error fails
    // the group even if a thread joins it.
    threadOf(task as unknown as TaskHandle).withExtras().failsItsGroup = true;
    const tasks = this.#tasks;
    tasks.add(task);
    if (tasks.size >= this.#sweepAt) {
      // A long-lived group spawning many short children: forget the finished ones (one
      // that failed has failed the group already).
      for (const t of tasks) if (t.done) tasks.delete(t);
      this.#sweepAt = Math.max(64, tasks.size * 2);
    }
    return task;
  }

  static {
    setScope = (group, scope) => {
      group.#scope = scope;
    };
    // The group's scope waits for the children through this, not a public method.
    waitForChildren = function* (group) {
      const tasks = group.#tasks;
      // Waits for each to end, without joining it: a child's error fails the group at
      // once, however it ends (see `failsItsGroup`), and must not reach it twice.
      for (const task of tasks) {
        tasks.delete(task);
        if (!task.done) yield new WatchEndEffect(task);
      }
      group.#ended = true;
    };
  }
}

/**
 * Runs a body with child threads whose lifetimes it bounds (Trio's nursery): the group
 * ends once the body and every child started with `group.spawn` have ended, and gives the
 * body's value. If the body or a child fails, the group kills the rest (their `finally`
 * blocks run) and throws the error; more errors during that teardown are chained to it as
 * `SuppressedError`s (newest outermost). If the caller is killed, so are the body and the
 * children, and the kill waits for their cleanup.
 *
 * Beside it, `spawn` keeps Bluelet's free-running semantics: a thread spawned with it
 * outlives its spawner. Inside a group, a thread started with plain `spawn` (not
 * `group.spawn`) is a helper: the group does not wait for it, and kills it when it ends.
 * The group is a kernel scope (`spawn(op, { scope: true })`): an error that escapes any of
 * its threads with nobody joining it fails the group at once: the body is killed where it
 * waits, so no `catch` in the body can swallow a child's error.
 *
 * @typeParam T The body's value.
 * @param body A generator function that gets the {@linkcode TaskGroup} and returns the
 * group's value.
 * @returns An event that resumes with the body's value once every child has ended.
 * @throws {TypeError} If `body` is not a function.
 *
 * @example One child fails: its sibling is killed and the error reaches the caller
 * ```ts
 * import assert from "node:assert/strict";
 * import { run, sleep, taskGroup, VirtualClock } from "@bluelet/bluelet";
 *
 * const record: string[] = [];
 * await assert.rejects(
 *   run(taskGroup(function* (group) {
 *     yield* group.spawn(function* () {
 *       try {
 *         yield* sleep(1000);
 *       } finally {
 *         record.push("sibling cleaned up");
 *       }
 *     }());
 *     yield* group.spawn(function* () {
 *       yield* sleep(10);
 *       throw new Error("child failed");
 *     }());
 *   }), { clock: new VirtualClock() }),
 *   { message: "child failed" },
 * );
 * assert.deepEqual(record, ["sibling cleaned up"]);
 * ```
 */
export function taskGroup<T>(body: (group: TaskGroup) => Operation<T>): Effect<T> {
  if (typeof body !== "function") {
    throw new TypeError(
      `Cannot start task group: body must be a function, got ${describe(body)}`,
    );
  }
  return callEach(() => runGroup(body));
}

function* runGroup<T>(body: (group: TaskGroup) => Operation<T>): Coroutine<T> {
  const group = new TaskGroup();
  const scope = yield* spawn(groupScope(group, body), { scope: true, name: "task group" });
  // Before the scope runs: it runs only once this thread waits.
  setScope(group, scope);
  try {
    return yield* scope;
  } finally {
    // Killed while the group runs: the group goes too, and the kill waits for its cleanup.
    if (!scope.done) yield* shield(kill(scope));
  }
}

function* groupScope<T>(
  group: TaskGroup,
  body: (group: TaskGroup) => Operation<T>,
): Coroutine<T> {
  const value = (yield body(group)) as T;
  yield* waitForChildren(group);
  return value;
}
