import { checkOperations, checkOptions } from "./_checks.ts";
import { call } from "./call.ts";
import { callEach } from "./_effects.ts";
import { allLimited, checkConcurrency } from "./_all_limited.ts";
import type { Coroutine } from "./coroutine.ts";
import type { Effect } from "./effect.ts";
import { settle, supervise } from "./_supervise.ts";
import type { Operation, OperationResult } from "./operation.ts";

/** Options for {@linkcode all}. */
export interface AllOptions {
  /**
   * The most operations that run at once: the others wait, and each starts as soon as a
   * running one ends (what `pooledMap` does for promises). Results stay in the order of
   * `operations`; a failure kills the running ones and starts no more.
   *
   * @default {Infinity}
   */
  concurrency?: number;
}

/**
 * Runs coroutines (or events) concurrently and gives all their results, in order. If one
 * fails, the others are killed (their `finally` blocks run) and its error is thrown. If
 * the caller is killed, so are they. Each runs in a helper thread of its own: what
 * belongs to a thread and is made inside one (a `subscribe()`, `useAbortSignal()`'s
 * signal) ends with it.
 *
 * @typeParam T The operations, as a tuple, so each result keeps its type.
 * @param operations Generator objects or events to run concurrently.
 * @param options How many may run at once.
 * @returns An event that resumes with the results in the order of `operations`.
 * @throws {TypeError} If `operations` is not an array, or holds a value that is no object
 * (a number, a string, `null`...), or `options.concurrency` is not a number.
 * @throws {RangeError} If `options.concurrency` is not a positive integer or `Infinity`.
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
  options?: AllOptions,
): Effect<{ -readonly [K in keyof T]: OperationResult<T[K]> }> {
  checkOperations(operations, "Cannot run all");
  checkOptions(options, "Cannot run all");
  const concurrency = options?.concurrency ?? Infinity;
  checkConcurrency(concurrency);
  if (concurrency < operations.length) {
    return callEach(() => allLimited(operations, concurrency)) as Effect<
      { -readonly [K in keyof T]: OperationResult<T[K]> }
    >;
  }
  return callEach(() => allOf(operations));
}

function* allOf<const T extends readonly Operation<unknown>[]>(
  operations: T,
): Coroutine<{ -readonly [K in keyof T]: OperationResult<T[K]> }> {
  const values = yield* call(
    supervise(operations, (outcome) => !outcome.ok, `all of ${operations.length}`, (done) => {
      const { outcomes, decisive } = done;
      if (decisive >= 0) settle(outcomes[decisive]!, done); // throws its error
      return outcomes.map((outcome) => (outcome as { value: unknown }).value);
    }),
  );
  return values as { -readonly [K in keyof T]: OperationResult<T[K]> };
}
