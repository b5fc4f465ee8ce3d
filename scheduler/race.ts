import { checkOperations } from "./_checks.ts";
import { call } from "./call.ts";
import { callEach } from "./_effects.ts";
import type { Coroutine } from "./coroutine.ts";
import type { Effect } from "./effect.ts";
import { settle, supervise } from "./_supervise.ts";
import type { Operation, OperationResult } from "./operation.ts";

/**
 * Runs coroutines (or events) concurrently and gives the result of the first to finish;
 * if the first to finish failed, its error is thrown. Either way the others are killed
 * (their `finally` blocks run) before `race` returns. Each runs in a helper thread of its
 * own: what belongs to a thread and is made inside one (a `subscribe()`,
 * `useAbortSignal()`'s signal) ends with it.
 *
 * @typeParam T The operations, as a tuple.
 * @param operations Generator objects or events to race; at least one.
 * @returns An event that resumes with the winner's result.
 * @throws {TypeError} If `operations` is not an array, or holds a value that is no object.
 * @throws {RangeError} If `operations` is empty.
 *
 * @example The faster of two sleepers
 * ```ts
 * import { race, run, sleep } from "@bluelet/bluelet";
 * import assert from "node:assert/strict";
 *
 * function* after(ms: number, value: string) {
 *   yield* sleep(ms);
 *   return value;
 * }
 * assert.equal(await run(race([after(20, "slow"), after(10, "fast")])), "fast");
 * ```
 */
export function race<const T extends readonly Operation<unknown>[]>(
  operations: T,
): Effect<OperationResult<T[number]>> {
  checkOperations(operations, "Cannot race");
  if (operations.length === 0) {
    throw new RangeError("Cannot race: no operations were given");
  }
  return callEach(() => firstOf(operations));
}

function* firstOf<const T extends readonly Operation<unknown>[]>(
  operations: T,
): Coroutine<OperationResult<T[number]>> {
  const value = yield* call(
    supervise(
      operations,
      () => true,
      `race of ${operations.length}`,
      (done) => settle(done.outcomes[done.decisive]!, done),
    ),
  );
  return value as OperationResult<T[number]>;
}
