import { checkDuration } from "./_checks.ts";
import { SleepEffect, YIELD_NOW } from "./_effects.ts";
import type { Effect } from "./effect.ts";

/**
 * Suspends the current thread for `ms` milliseconds (Bluelet's `sleep` took seconds; this
 * follows the Deno convention). Under a {@linkcode VirtualClock} the time is virtual.
 * `sleep(0)` (or a negative duration) is no timer at all: it just lets other threads run,
 * like `null()`.
 *
 * @param ms How long to sleep, in milliseconds.
 * @returns An event that resumes once the time has passed.
 * @throws {TypeError} If `ms` is not a number.
 * @throws {RangeError} If `ms` is not a finite number. Under a `VirtualClock`, the sleep
 * throws one into the thread if it would take the clock past 2^53 - 1 ms, where a double
 * no longer tells one millisecond from the next.
 *
 * @example Sleeping, on a virtual clock
 * ```ts
 * import { run, sleep, VirtualClock } from "@bluelet/bluelet";
 * import assert from "node:assert/strict";
 *
 * const clock = new VirtualClock();
 * await run(function* () {
 *   yield* sleep(10);
 *   yield* sleep(5);
 * }(), { clock });
 * assert.equal(clock.now(), 15);
 * ```
 */
export function sleep(ms: number): Effect<void> {
  checkDuration(ms, "Cannot sleep");
  // No timer at all: the same event as `null()`, with no allocation.
  if (ms <= 0) return YIELD_NOW;
  return new SleepEffect(ms);
}

/**
 * A time limit's timer (`withTimeout` or `moveOnAfter` of a coroutine): a sleep that ends
 * after what is due in the same instant has run, as a leaf operation's deadline does.
 * `ms` is checked by the caller.
 */
export function deadlineSleep(ms: number): Effect<void> {
  // Even of 0 ms or less: a deadline due now still comes after what is ready now, as a
  // leaf operation's does.
  return new SleepEffect(Math.max(ms, 0), true);
}
