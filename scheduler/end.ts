import { EndEffect } from "./_effects.ts";
import type { Effect } from "./effect.ts";

/**
 * Finishes the current coroutine with `value`, as Bluelet's `end` does: its `finally`
 * blocks run and its caller gets `value`. A plain `return value` does the same.
 *
 * "The current coroutine" is the innermost one started by `call`, by yielding a generator
 * or by `spawn`. Code reached through `yield*` delegation is part of its delegating
 * coroutine, so `end` there finishes that one; but if a `finally` of the delegate yields,
 * JavaScript resumes the delegating code normally once it ends, and `value` is lost (the
 * same limit as a kill there: see the README). Call such a coroutine with `call`.
 *
 * TypeScript cannot see that `yield end(v)` never resumes, so in a coroutine typed
 * `Coroutine<T>` whose last statement it is, write `return yield end(v)` (or just
 * `return v`).
 *
 * @typeParam T The value to finish with.
 * @param value The value the caller receives.
 * @returns An event that never resumes the coroutine.
 *
 * @example Ending early, Bluelet style
 * ```ts
 * import { end, run, type Coroutine } from "@bluelet/bluelet";
 * import assert from "node:assert/strict";
 *
 * function* find(xs: number[]): Coroutine<number> {
 *   for (const x of xs) if (x > 2) yield end(x);
 *   return -1;
 * }
 * const found = await run(function* (): Coroutine<number> {
 *   return yield find([1, 2, 3, 4]);
 * }());
 * assert.equal(found, 3);
 * ```
 */
export function end<T = undefined>(value?: T): Effect<never> {
  return new EndEffect(value);
}
