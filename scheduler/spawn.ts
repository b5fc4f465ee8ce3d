import { SpawnEffect } from "./_effects.ts";
import type { Effect } from "./effect.ts";
import type { Operation } from "./operation.ts";
import type { Task } from "./task.ts";

/** Options for {@linkcode spawn}. */
export interface SpawnOptions {
  /**
   * Makes the new thread a scope: the threads spawned inside it (and those they spawn)
   * belong to it. An error that escapes one of them with nobody joining it fails the
   * scope instead of ending the whole run: the scope thread is killed where it waits (its
   * `finally` blocks run, a {@linkcode shield} is waited for; no `catch` in it can swallow
   * the error), and its joiners get the error (later ones chained as `SuppressedError`).
   * A scope thread killed (for such an error, or by a `kill`) has the threads it owns
   * killed in that same instant, before any of them runs again, not once its own `finally`
   * blocks are done. When the scope thread ends, the threads it owns that still run are
   * killed, and it waits for them (their `finally` blocks run) before its joiners see it
   * end. `server` runs each connection's handler in a scope.
   *
   * @default {false}
   */
  scope?: boolean;
  /**
   * A name for the thread, shown in error stories, in {@linkcode snapshot} and in
   * deadlock reports.
   *
   * @default {undefined}
   */
  name?: string;
  /**
   * The scope the new thread belongs to: the task of a scope thread of the same run that
   * has not ended. By default, the scope of the thread that spawns it (or none). A
   * `TaskGroup`'s `spawn` uses it, so a group's child belongs to the group from wherever
   * it is started.
   *
   * @default {undefined}
   */
  owner?: Task<unknown>;
}

/**
 * Starts a coroutine (or a single event) as a new concurrent thread and gives a handle on
 * it. The new thread runs once the current one waits or yields; the caller goes on right
 * away. Bluelet-style `join(gen)` and `kill(gen)` work for a spawned generator object.
 *
 * An error that escapes the thread goes to the threads joining it; if none is at that
 * moment, it goes to the scope the thread belongs to (see {@linkcode SpawnOptions.scope}),
 * and with no scope the whole run ends with it. A `TypeError` is thrown at the yield point if
 * `operation` is neither a generator nor an event, or is a generator already spawned.
 *
 * @typeParam T The thread's return value.
 * @param operation The generator object (or event) to run in its own thread.
 * @param options Whether the thread is a scope, and its name.
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
 *
 * @example A scope: a helper's error fails its scope, and the other helper ends with it
 * ```ts
 * import { run, sleep, spawn, VirtualClock } from "@bluelet/bluelet";
 * import assert from "node:assert/strict";
 *
 * const record: string[] = [];
 * await run(function* () {
 *   const scope = yield* spawn(function* () {
 *     yield* spawn(function* () { // belongs to the scope
 *       try {
 *         yield* sleep(60_000);
 *       } finally {
 *         record.push("helper killed with its scope");
 *       }
 *     }());
 *     yield* spawn(function* () {
 *       yield* sleep(10);
 *       throw new Error("helper failed");
 *     }());
 *     try {
 *       yield* sleep(60_000);
 *     } finally {
 *       record.push("scope killed where it waited");
 *     }
 *   }(), { scope: true });
 *   try {
 *     yield* scope;
 *   } catch (error) {
 *     record.push(`joiner got: ${(error as Error).message}`);
 *   }
 *   record.push("the run goes on");
 * }(), { clock: new VirtualClock() });
 * assert.deepEqual(record, [
 *   "scope killed where it waited",
 *   "helper killed with its scope",
 *   "joiner got: helper failed",
 *   "the run goes on",
 * ]);
 * ```
 */
export function spawn<T>(operation: Operation<T>, options?: SpawnOptions): Effect<Task<T>> {
  return new SpawnEffect(
    operation,
    options?.scope === true,
    options?.name,
    options?.owner,
  ) as Effect<
    Task<T>
  >;
}
