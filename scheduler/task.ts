import type { Effect } from "./effect.ts";

/**
 * A handle on a thread started with {@linkcode spawn}. Pass it to {@linkcode join} or
 * {@linkcode kill}; `yield* task` joins it with a typed result.
 *
 * @typeParam T The thread's return value.
 *
 * @example Joining through the handle
 * ```ts
 * import { run, spawn } from "@bluelet/bluelet";
 * import assert from "node:assert/strict";
 *
 * const sum = await run(function* () {
 *   const task = yield* spawn(function* () { return 40; }());
 *   return (yield* task) + 2;
 * }());
 * assert.equal(sum, 42);
 * ```
 */
export interface Task<T> {
  /** A number unique within the run, in spawn order (the root thread is 0). */
  readonly id: number;
  /** Whether the thread has finished: returned, failed or was killed. */
  readonly done: boolean;
  /**
   * Whether the thread ended by a kill, so that joining it throws that kill's
   * `KilledError`. False while it runs, once it returned or failed (even with
   * an error named `KilledError`), and for a kill whose cleanup failed (joining it throws
   * the cleanup's error): asyncio's `Task.cancelled()`.
   */
  readonly killed: boolean;
  /**
   * Joins the thread: `yield* task` waits for it and returns its value.
   *
   * @returns An iterator that yields the join event once.
   */
  [Symbol.iterator](): Iterator<Effect<T>, T, unknown>;
}
