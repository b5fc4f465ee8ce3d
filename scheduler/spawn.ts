import { SpawnEffect } from "./_effects.ts";
import type { Effect } from "./effect.ts";
import type { Operation } from "./operation.ts";
import type { Task } from "./task.ts";

/**
 * Starts a coroutine (or a single event) as a new concurrent thread and gives a handle on
 * it. The new thread runs once the current one waits or yields; the caller goes on right
 * away. Bluelet-style `join(gen)` and `kill(gen)` work for a spawned generator object.
 *
 * An error that escapes the thread goes to the threads joining it; if none is at that
 * moment, the whole run ends with it. A `TypeError` is thrown at the yield point if
 * `operation` is neither a generator nor an event, or is a generator already spawned.
 *
 * @typeParam T The thread's return value.
 * @param operation The generator object (or event) to run in its own thread.
 * @returns An event that resumes with the thread's {@linkcode Task}.
 *
 * @example Two threads
 * ```ts
 * import { join, run, sleep, spawn } from "@bluelet/bluelet";
 * import assert from "node:assert/strict";
 *
 * await run(function* () {
 *   const worker = yield* spawn(function* () {
 *     yield* sleep(10);
 *     return "done";
 *   }());
 *   assert.equal(yield* join(worker), "done");
 * }());
 * ```
 */
export function spawn<T>(operation: Operation<T>): Effect<Task<T>> {
  return new SpawnEffect(operation) as Effect<Task<T>>;
}
