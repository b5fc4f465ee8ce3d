// Killing a set of threads and keeping what their cleanup threw: shared by the combinators
// (`all`, `race`, `withTimeout`), `select` and `moveOnAfter`.
import { call } from "./call.ts";
import type { Coroutine } from "./coroutine.ts";
import type { Effect } from "./effect.ts";
import { kill } from "./kill.ts";
import type { Task } from "./task.ts";

/**
 * Kills every task still running (but `except`), one after the other, waiting for each
 * one's cleanup; adds what each cleanup threw to `failures`, in order.
 */
export function* killEach(
  tasks: readonly Task<unknown>[],
  failures: unknown[],
  except?: Task<unknown>,
): Coroutine<void> {
  for (const task of tasks) {
    if (task.done || task === except) continue;
    try {
      yield* kill(task);
    } catch (error) {
      failures.push(error);
    }
  }
}

/**
 * Kills every task still running and throws what their cleanup threw, chained, none
 * dropped. A frame of its own, so that it can be run from a `finally`.
 */
export function killAll(tasks: readonly Task<unknown>[]): Effect<void> {
  return call(killAllOrThrow(tasks));
}

function* killAllOrThrow(tasks: readonly Task<unknown>[]): Coroutine<void> {
  const failures: unknown[] = [];
  yield* killEach(tasks, failures);
  const failure = chainAll(failures);
  if (failure !== null) throw failure.error;
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
