// Killing a set of threads and keeping what their cleanup threw: shared by the combinators
// (`all`, `race`, `withTimeout`), `select` and `moveOnAfter`.
import { callEach, KillAllEffect, KillFailures } from "./_effects.ts";
import { isInstance } from "./_describe.ts";
import type { Coroutine } from "./coroutine.ts";
import type { Effect } from "./effect.ts";
import type { Task } from "./task.ts";

/**
 * Kills every task still running (but `except`), all in one step, and waits for each
 * one's cleanup; adds what each cleanup threw to `failures`, in the tasks' order.
 */
export function* killEach(
  tasks: readonly Task<unknown>[],
  failures: unknown[],
  except?: Task<unknown>,
): Coroutine<void> {
  const running = tasks.filter((task) => !task.done && task !== except);
  if (running.length > 0) yield* killAndCollect(running, undefined, failures);
}

function* killAndCollect(
  targets: readonly (Task<unknown> | Coroutine<unknown>)[],
  reason: unknown,
  failures: unknown[],
): Coroutine<void> {
  try {
    yield new KillAllEffect(targets, reason);
  } catch (error) {
    if (!isInstance(error, KillFailures)) throw error;
    for (const failure of (error as KillFailures).errors) failures.push(failure); // any number of them
  }
}

/**
 * Kills every target at once, waits until all have ended, and throws what their cleanup
 * threw, in the targets' order, chained, none dropped: `kill(targets)`. A frame of its
 * own, so that it can be run from a `finally`.
 */
export function killAll(
  targets: readonly (Task<unknown> | Coroutine<unknown>)[],
  reason?: unknown,
): Effect<void> {
  return callEach(() => killAllAndThrow(targets, null, reason));
}

/**
 * Kills every target at once, waits for them, then throws `failure` (an operation's error
 * that must not be dropped) with what their cleanup threw chained to it, as the combinators
 * do; or what their cleanup threw alone. Run in a shield by a caller that was killed before
 * it could throw `failure`, it hands that error to its killer.
 */
export function* killAllAndThrow(
  targets: readonly (Task<unknown> | Coroutine<unknown>)[],
  failure: { error: unknown } | null,
  reason?: unknown,
): Coroutine<void> {
  const cleanup: unknown[] = [];
  if (targets.length > 0) yield* killAndCollect(targets, reason, cleanup);
  const cleanupFailure = chainAll(cleanup);
  if (failure !== null) {
    throw cleanupFailure === null ? failure.error : chain(cleanupFailure.error, failure.error);
  }
  if (cleanupFailure !== null) throw cleanupFailure.error;
}

/** The errors chained as `SuppressedError`s, newest outermost; null if there are none. */
export function chainAll(errors: readonly unknown[]): { error: unknown } | null {
  if (errors.length === 0) return null;
  let error = errors[0];
  for (let i = 1; i < errors.length; i++) error = chain(errors[i], error);
  return { error };
}

/** `newer` with `older` chained to it, as JavaScript's `using` does. */
export function chain(newer: unknown, older: unknown): SuppressedError {
  return new SuppressedError(newer, older, "An operation's cleanup failed after another error");
}
