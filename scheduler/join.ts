import { JoinEffect } from "./_effects.ts";
import type { Coroutine } from "./coroutine.ts";
import type { Effect } from "./effect.ts";
import type { Task } from "./task.ts";

/**
 * Waits for a thread to finish and gives its return value. If the thread failed, its error
 * is thrown at the yield point; if it was killed, a {@linkcode KilledError} is thrown.
 * Joining a finished thread answers at once. When a thread ends, its joiners resume in the
 * order they joined, before the threads that were killing it.
 *
 * `target` is the {@linkcode Task} that `spawn` gave, or (Bluelet style) the generator
 * object that was spawned. A `TypeError` is thrown for anything else, for a thread of
 * another run, and for a thread joining itself.
 *
 * @typeParam T The thread's return value.
 * @param target The thread to wait for.
 * @returns An event that resumes with the thread's return value.
 *
 * @example Bluelet-style join by generator
 * ```ts
 * import { join, run, spawn, type Coroutine } from "@bluelet/bluelet";
 * import assert from "node:assert/strict";
 *
 * function* child(): Coroutine<string> {
 *   return "hi";
 * }
 * await run(function* (): Coroutine<void> {
 *   const c = child();
 *   yield spawn(c);
 *   assert.equal(yield join(c), "hi");
 * }());
 * ```
 */
export function join<T>(target: Task<T> | Coroutine<T>): Effect<T> {
  return new JoinEffect(target);
}
