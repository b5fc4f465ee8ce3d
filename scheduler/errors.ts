/**
 * Thrown to the threads joining a thread that was killed, and by {@linkcode run} when its
 * root coroutine was killed by another thread.
 *
 * @example Joining a killed thread
 * ```ts
 * import { join, kill, KilledError, run, sleep, spawn } from "@bluelet/bluelet";
 * import assert from "node:assert/strict";
 *
 * let caught: unknown;
 * await run(function* () {
 *   const task = yield* spawn(function* () { yield* sleep(1000); }());
 *   yield* kill(task);
 *   try {
 *     yield* join(task);
 *   } catch (error) {
 *     caught = error;
 *   }
 * }());
 * assert.ok(caught instanceof KilledError);
 * ```
 */
export class KilledError extends Error {
  /**
   * Creates a {@linkcode KilledError}.
   *
   * @param message What was killed.
   * @param options The standard error options (`cause`).
   */
  constructor(message = "Thread was killed", options?: ErrorOptions) {
    super(message, options);
    this.name = "KilledError";
  }
}

/**
 * Thrown by {@linkcode withTimeout} when its coroutine did not finish in time. The
 * coroutine has been killed, and its `finally` blocks have run, by the time this is thrown.
 *
 * @example Catching a timeout
 * ```ts
 * import { run, sleep, TimeoutError, withTimeout } from "@bluelet/bluelet";
 * import assert from "node:assert/strict";
 *
 * let caught: unknown;
 * await run(function* () {
 *   try {
 *     yield* withTimeout(10, function* () { yield* sleep(1000); }());
 *   } catch (error) {
 *     caught = error;
 *   }
 * }());
 * assert.ok(caught instanceof TimeoutError);
 * ```
 */
export class TimeoutError extends Error {
  /**
   * Creates a {@linkcode TimeoutError}.
   *
   * @param message What timed out.
   * @param options The standard error options (`cause`).
   */
  constructor(message = "Operation timed out", options?: ErrorOptions) {
    super(message, options);
    this.name = "TimeoutError";
  }
}

/**
 * Thrown by {@linkcode run} when every remaining thread waits on something that can never
 * happen: no thread is ready, no timer is set and no promise is pending.
 *
 * @example Two threads waiting for each other
 * ```ts
 * import { DeadlockError, join, run, spawn, type Task, yieldNow } from "@bluelet/bluelet";
 * import assert from "node:assert/strict";
 *
 * const deadlocked = run(function* () {
 *   const tasks: Task<void>[] = [];
 *   tasks.push(yield* spawn(function* () {
 *     yield* yieldNow();
 *     yield* join(tasks[1]);
 *   }()));
 *   tasks.push(yield* spawn(join(tasks[0])));
 * }());
 * await assert.rejects(deadlocked, DeadlockError);
 * ```
 */
export class DeadlockError extends Error {
  /**
   * Creates a {@linkcode DeadlockError}.
   *
   * @param message Which threads are stuck.
   * @param options The standard error options (`cause`).
   */
  constructor(
    message = "Cannot continue run: every thread is blocked forever",
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "DeadlockError";
  }
}
