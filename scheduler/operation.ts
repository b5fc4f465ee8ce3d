import type { Coroutine } from "./coroutine.ts";
import { Effect } from "./effect.ts";

/**
 * Anything a thread can run: a coroutine (generator object) or a single event. `run`,
 * `spawn`, `all`, `race` and `withTimeout` accept either.
 *
 * @typeParam T The value it gives.
 *
 * @example Running a single event, or a coroutine, as a thread
 * ```ts
 * import assert from "node:assert/strict";
 * import { Channel, type Coroutine, type Operation, run } from "@bluelet/bluelet";
 *
 * const channel = new Channel<string>(1);
 * channel.trySend("hello");
 * const receive: Operation<{ value?: string }> = channel.receive();
 * assert.equal((await run(receive)).value, "hello");
 *
 * function* twice(n: number): Coroutine<number> {
 *   return n * 2;
 * }
 * const doubling: Operation<number> = twice(21);
 * assert.equal(await run(doubling), 42);
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
