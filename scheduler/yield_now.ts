import { YIELD_NOW } from "./_effects.ts";
import type { Effect } from "./effect.ts";

/**
 * Lets every other ready thread run, then resumes: Bluelet's `null()` event. It is also
 * exported as `null`, so `bluelet.null()` works with a namespace import.
 *
 * A thread that loops on it cannot starve timers or I/O: the kernel returns to the JS
 * event loop every few milliseconds.
 *
 * @returns An event that resumes after the other ready threads had a turn.
 *
 * @example Two threads taking turns
 * ```ts
 * import { run, spawn, yieldNow } from "@bluelet/bluelet";
 * import assert from "node:assert/strict";
 *
 * const record: string[] = [];
 * await run(function* () {
 *   yield* spawn(function* () {
 *     for (const x of ["b1", "b2"]) { record.push(x); yield* yieldNow(); }
 *   }());
 *   for (const x of ["a1", "a2"]) { record.push(x); yield* yieldNow(); }
 * }());
 * assert.deepEqual(record, ["a1", "b1", "a2", "b2"]);
 * ```
 */
export function yieldNow(): Effect<void> {
  return YIELD_NOW;
}
