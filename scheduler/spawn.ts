import { SpawnEffect } from "./_effects.ts";
import type { Coroutine } from "./coroutine.ts";
import type { Effect } from "./effect.ts";
import type { Task } from "./task.ts";

/**
 * Starts a coroutine as a new concurrent thread and gives a handle on it. The new thread
 * runs once the current one waits or yields; the caller goes on right away.
 *
 * An error that escapes the thread goes to the threads joining it; if none is at that
 * moment, the whole run ends with it. A `TypeError` is thrown at the yield point if
 * `coroutine` is not a generator or was already spawned.
 *
 * @typeParam T The thread's return value.
 * @param coroutine The generator object to run in its own thread.
 * @returns An event that resumes with the thread's {@linkcode Task}.
 *
 * @example Two threads
 * ```ts
 * import { join, run, sleep, spawn } from "@bluelet/bluelet";
 *
 * await run(function* () {
 *   const worker = yield* spawn(function* () {
 *     yield* sleep(10);
 *     return "done";
 *   }());
 *   console.log(yield* join(worker)); // "done"
 * }());
 * ```
 */
export function spawn<T>(coroutine: Coroutine<T>): Effect<Task<T>> {
  return new SpawnEffect(coroutine) as Effect<Task<T>>;
}
