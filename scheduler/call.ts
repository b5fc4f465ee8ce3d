import { CallEffect } from "./_effects.ts";
import type { Coroutine } from "./coroutine.ts";
import type { Effect } from "./effect.ts";

/**
 * Runs a sub-coroutine in the current thread and gives its return value. An exception in
 * it propagates to the caller's yield point, where `try/catch` works. Yielding a generator
 * object directly means the same (`yield sub()`).
 *
 * Unlike `yield* sub()` (plain delegation), `call` gives the sub-coroutine its own frame on
 * the thread's stack: `end()` inside it ends just that frame, and the depth of a chain of
 * calls is not limited by the JS stack.
 *
 * @typeParam T The sub-coroutine's return value.
 * @param coroutine The generator object to run.
 * @returns An event that resumes with the sub-coroutine's return value.
 *
 * @example Calling a sub-coroutine
 * ```ts
 * import { call, run, sleep } from "@bluelet/bluelet";
 * import assert from "node:assert/strict";
 *
 * function* double(x: number) {
 *   yield* sleep(1);
 *   return x * 2;
 * }
 * const result = await run(function* () {
 *   return yield* call(double(21));
 * }());
 * assert.equal(result, 42);
 * ```
 */
export function call<T>(coroutine: Coroutine<T>): Effect<T> {
  return new CallEffect(coroutine);
}
