import { KillEffect } from "./_effects.ts";
import type { Coroutine } from "./coroutine.ts";
import type { Effect } from "./effect.ts";
import type { Task } from "./task.ts";

/**
 * Stops a thread and waits until it is gone. The target's whole call stack is returned
 * from, innermost coroutine first, so every `finally` block runs; a `finally` that itself
 * yields (say, to send a goodbye) runs to its end before the kill completes.
 *
 * Killing a finished thread does nothing. Threads that join a killed thread get a
 * {@linkcode KilledError}, whose `cause` is `reason`. If a `finally` of the target throws,
 * the kill throws that error at the yield point (and the target's joiners get it too);
 * several are chained as `SuppressedError`s. A thread may kill itself. A thread inside
 * {@linkcode shield} is killed once the shielded operation ends.
 *
 * @param target The {@linkcode Task} to stop, or the generator object that was spawned.
 * @param reason Why: the `cause` of the joiners' `KilledError`, and the reason of the
 * target's abort signal (see {@linkcode useAbortSignal}).
 * @returns An event that resumes once the target has finished unwinding.
 *
 * @example Killing a sleeper runs its finally block
 * ```ts
 * import { kill, run, sleep, spawn } from "@bluelet/bluelet";
 * import assert from "node:assert/strict";
 *
 * const record: string[] = [];
 * await run(function* () {
 *   const sleeper = yield* spawn(function* () {
 *     try {
 *       yield* sleep(60_000);
 *     } finally {
 *       record.push("cleaned up");
 *     }
 *   }());
 *   yield* sleep(1);
 *   yield* kill(sleeper);
 *   record.push("killed");
 * }());
 * assert.deepEqual(record, ["cleaned up", "killed"]);
 * ```
 */
export function kill(
  target: Task<unknown> | Coroutine<unknown>,
  reason?: unknown,
): Effect<void> {
  return new KillEffect(target, reason);
}
