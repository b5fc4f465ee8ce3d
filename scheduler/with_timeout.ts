import { call } from "./call.ts";
import type { Coroutine } from "./coroutine.ts";
import type { Effect } from "./effect.ts";
import { TimeoutError } from "./errors.ts";
import { sleep } from "./sleep.ts";
import { settle, supervise } from "./_supervise.ts";
import type { Operation } from "./operation.ts";

/**
 * Runs a coroutine (or event) with a time limit. If it is not done within `ms`, it is
 * killed (its `finally` blocks run) and a {@linkcode TimeoutError} is thrown. Its result
 * or error passes through otherwise.
 *
 * @typeParam T The coroutine's return value.
 * @param ms The time limit in milliseconds.
 * @param operation The generator object (or event) to run.
 * @returns An event that resumes with the operation's result.
 * @throws {RangeError} If `ms` is not a finite number.
 *
 * @example A slow operation times out
 * ```ts
 * import { run, sleep, TimeoutError, withTimeout } from "@bluelet/bluelet";
 * import assert from "node:assert/strict";
 *
 * let caught: unknown;
 * await run(function* () {
 *   try {
 *     yield* withTimeout(10, sleep(1000));
 *   } catch (error) {
 *     caught = error;
 *   }
 * }());
 * assert.ok(caught instanceof TimeoutError);
 * ```
 */
export function withTimeout<T>(
  ms: number,
  operation: Operation<T>,
): Effect<T> {
  return call(limited(ms, operation, sleep(ms)));
}

function* limited<T>(
  ms: number,
  operation: Operation<T>,
  timer: Effect<void>,
): Coroutine<T> {
  const supervised = yield* call(supervise([operation, timer], () => true, `timeout(${ms})`));
  const outcome = supervised.decisive === 1
    ? { ok: false as const, error: new TimeoutError(`Operation timed out after ${ms} ms`) }
    : supervised.outcomes[0]!;
  return settle(outcome, supervised) as T;
}
