import { call } from "./call.ts";
import type { Coroutine } from "./coroutine.ts";
import type { Effect } from "./effect.ts";
import { settle, supervise } from "./_supervise.ts";
import type { Operation, OperationResult } from "./operation.ts";

/**
 * Runs coroutines (or events) concurrently and gives all their results, in order. If one
 * fails, the others are killed (their `finally` blocks run) and its error is thrown. If
 * the caller is killed, so are they.
 *
 * @typeParam T The operations, as a tuple, so each result keeps its type.
 * @param operations Generator objects or events to run concurrently.
 * @returns An event that resumes with the results in the order of `operations`.
 *
 * @example Waiting for several sleepers
 * ```ts
 * import { all, run, sleep } from "@bluelet/bluelet";
 * import assert from "node:assert/strict";
 *
 * function* after(ms: number, value: string) {
 *   yield* sleep(ms);
 *   return value;
 * }
 * const [a, b] = await run(all([after(20, "a"), after(10, "b")]));
 * assert.deepEqual([a, b], ["a", "b"]);
 * ```
 */
export function all<const T extends readonly Operation<unknown>[]>(
  operations: T,
): Effect<{ -readonly [K in keyof T]: OperationResult<T[K]> }> {
  return call(allOf(operations));
}

function* allOf<const T extends readonly Operation<unknown>[]>(
  operations: T,
): Coroutine<{ -readonly [K in keyof T]: OperationResult<T[K]> }> {
  const supervised = yield* call(
    supervise(operations, (outcome) => !outcome.ok, `all of ${operations.length}`),
  );
  const { outcomes, decisive } = supervised;
  if (decisive >= 0) return settle(outcomes[decisive]!, supervised) as never;
  return outcomes.map((outcome) => (outcome as { value: unknown }).value) as {
    -readonly [K in keyof T]: OperationResult<T[K]>;
  };
}
