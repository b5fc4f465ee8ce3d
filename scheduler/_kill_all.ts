import { call } from "./call.ts";
import type { Coroutine } from "./coroutine.ts";
import type { Effect } from "./effect.ts";
import { kill } from "./kill.ts";
import type { Task } from "./task.ts";

/**
 * Kills every task still running, one after the other, waiting for each one's cleanup;
 * throws the first cleanup error after trying them all. A frame of its own, so that it
 * can be run from a `finally`.
 */
export function killAll(tasks: readonly Task<unknown>[]): Effect<void> {
  return call(killEach(tasks));
}

function* killEach(tasks: readonly Task<unknown>[]): Coroutine<void> {
  let failure: { error: unknown } | null = null;
  for (const task of tasks) {
    if (task.done) continue;
    try {
      yield* kill(task);
    } catch (error) {
      failure ??= { error };
    }
  }
  if (failure !== null) throw failure.error;
}
