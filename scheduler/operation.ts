import type { Coroutine } from "./coroutine.ts";
import { Effect } from "./effect.ts";

/**
 * Anything a thread can run: a coroutine (generator object) or a single event. `run`,
 * `spawn`, `all`, `race` and `withTimeout` accept either.
 *
 * @typeParam T The value it gives.
 *
 * @example Running a single event as a thread
 * ```ts
 * import { type Operation, run, sleep } from "@bluelet/bluelet";
 *
 * const nap: Operation<void> = sleep(1);
 * await run(nap);
 * ```
 */
export type Operation<T> = Coroutine<T> | Effect<T>;

/**
 * The value an {@linkcode Operation} gives.
 *
 * @typeParam O The operation type.
 *
 * @example
 * ```ts
 * import type { Effect, OperationResult } from "@bluelet/bluelet";
 *
 * const n: OperationResult<Effect<number>> = 1;
 * ```
 */
export type OperationResult<O> = O extends Coroutine<infer R> ? R
  : O extends Effect<infer R> ? R
  : never;

/**
 * Makes a generator of an operation, so that an event can be run or spawned as a thread:
 * an event is wrapped, anything else is given back as it is (the kernel checks it).
 */
export function asCoroutine<T>(operation: Operation<T>): Coroutine<T> {
  try {
    return operation instanceof Effect ? awaitEffect(operation) : operation;
  } catch {
    return operation as Coroutine<T>; // a revoked Proxy: the kernel's check names it
  }
}

function* awaitEffect<T>(effect: Effect<T>): Coroutine<T> {
  return (yield effect) as T;
}
