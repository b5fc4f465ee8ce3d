import type { Coroutine } from "./coroutine.ts";
import { TimeoutError } from "./errors.ts";
import { sleep } from "./sleep.ts";
import { type Operation, supervise } from "./_supervise.ts";

/**
 * Runs a coroutine (or event) with a time limit. If it is not done within `ms`, it is
 * killed (its `finally` blocks run) and a {@linkcode TimeoutError} is thrown. Its result
 * or error passes through otherwise.
 *
 * @typeParam T The coroutine's return value.
 * @param ms The time limit in milliseconds.
 * @param operation The generator object (or event) to run.
 * @returns A coroutine that gives the operation's result.
 * @throws {RangeError} If `ms` is not a finite number.
 *
 * @example A slow operation times out
 * ```ts
 * import { run, sleep, TimeoutError, withTimeout } from "@bluelet/bluelet";
 *
 * await run(function* () {
 *   try {
 *     yield* withTimeout(10, sleep(1000));
 *   } catch (error) {
 *     console.log(error instanceof TimeoutError); // true
 *   }
 * }());
 * ```
 */
export function* withTimeout<T>(
  ms: number,
  operation: Operation<T>,
): Coroutine<T> {
  const timer = sleep(ms);
  const { outcomes, decisive } = yield* supervise(
    [operation, timer],
    () => true,
  );
  if (decisive === 1) {
    throw new TimeoutError(`Operation timed out after ${ms} ms`);
  }
  const outcome = outcomes[0]!;
  if (!outcome.ok) throw outcome.error;
  return outcome.value as T;
}
