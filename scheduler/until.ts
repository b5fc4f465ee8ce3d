import { UntilEffect } from "./_effects.ts";
import type { Effect } from "./effect.ts";

/**
 * Waits for a promise, typed: `const x = yield* until(promise)`. A rejection is thrown at
 * the yield point. Yielding a promise directly does the same, untyped.
 *
 * Given a function instead, calls it when the event is handled, which lets an event be
 * built before the work starts; a function that returns a plain value resumes at once.
 *
 * While a thread waits on a promise, a {@linkcode VirtualClock} does not jump: the promise
 * may be about real time. If the thread is killed meanwhile, the promise's outcome is
 * ignored.
 *
 * @typeParam T The promise's value.
 * @param source A promise, or a function giving a promise or a value.
 * @returns An event that resumes with the promise's value.
 *
 * @example Awaiting a promise in a coroutine
 * ```ts
 * import { run, until } from "@bluelet/bluelet";
 * import assert from "node:assert/strict";
 *
 * await run(function* () {
 *   const text = yield* until(Promise.resolve("hello"));
 *   assert.equal(text, "hello");
 * }());
 * ```
 */
export function until<T>(
  source: PromiseLike<T> | (() => T | PromiseLike<T>),
): Effect<T> {
  return new UntilEffect(source, "until");
}
