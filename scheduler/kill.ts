import { KillEffect } from "./_effects.ts";
import { killAll } from "./_kill_all.ts";
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
 * several are chained as `SuppressedError`s, one for each frame the kernel runs (a call
 * with `yield sub()` or `call`; `yield* sub()` is part of its caller's frame, where a
 * `finally` that throws replaces the error in flight, as anywhere in JavaScript). A thread
 * may kill itself. A thread inside
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
export function kill(target: Task<unknown> | Coroutine<unknown>, reason?: unknown): Effect<void>;
/**
 * Stops several threads at once and waits until all are gone: every kill begins in the
 * same step, before any target runs again, so their `finally` blocks run side by side
 * (a server's handlers each saying goodbye take as long as the slowest one, not as long
 * as all of them together). Targets that have finished are skipped, and one named twice is
 * killed once. A thread that names itself is killed with the others, and unwinds at once
 * without waiting for them: what their cleanup throws then goes where an error nobody
 * joins goes (their scope, or the run).
 *
 * If `finally` blocks of the targets throw, the kill throws those errors once all have
 * ended: one as it is, several chained as `SuppressedError`s in the targets' order, the
 * last outermost, none dropped.
 *
 * @param targets The {@linkcode Task}s to stop, or the generator objects that were spawned.
 * @param reason Why, for each of them (see the single-target form).
 * @returns An event that resumes once every target has finished unwinding.
 *
 * @example Killing two threads at once: their cleanup runs side by side
 * ```ts
 * import { type Coroutine, kill, run, sleep, spawn, VirtualClock } from "@bluelet/bluelet";
 * import assert from "node:assert/strict";
 *
 * const clock = new VirtualClock();
 * const record: string[] = [];
 * function* worker(name: string): Coroutine<void> {
 *   try {
 *     yield* sleep(60_000);
 *   } finally {
 *     record.push(`${name} says goodbye at ${clock.now()}`);
 *     yield* sleep(100); // a goodbye that takes a while
 *   }
 * }
 * await run(function* () {
 *   const workers = [yield* spawn(worker("a")), yield* spawn(worker("b"))];
 *   yield* sleep(1);
 *   yield* kill(workers);
 *   record.push(`both gone at ${clock.now()}`);
 * }(), { clock });
 * assert.deepEqual(record, [
 *   "a says goodbye at 1",
 *   "b says goodbye at 1",
 *   "both gone at 101",
 * ]);
 * ```
 */
export function kill(
  targets: readonly (Task<unknown> | Coroutine<unknown>)[],
  reason?: unknown,
): Effect<void>;
export function kill(
  target: Task<unknown> | Coroutine<unknown> | readonly (Task<unknown> | Coroutine<unknown>)[],
  reason?: unknown,
): Effect<void> {
  if (isArray(target)) return killAll(target, reason);
  return new KillEffect(target as Task<unknown> | Coroutine<unknown>, reason);
}

/** `Array.isArray`, and false for a revoked Proxy (the kill then says what it is). */
function isArray(value: unknown): value is readonly unknown[] {
  try {
    return Array.isArray(value);
  } catch {
    return false;
  }
}
