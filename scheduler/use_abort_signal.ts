import { SelfEffect } from "./_effects.ts";
import type { Coroutine } from "./coroutine.ts";
import type { Thread } from "./kernel.ts";

/**
 * Gives an `AbortSignal` that aborts when the current thread is killed or ends, to pass to
 * promise-based APIs (`fetch`, `Deno.connect`, ...) so their work stops with the thread.
 * Its reason is the kill's (`kill(task, reason)`, or the reason the run's `signal` was
 * aborted with); a `KilledError` if there was none, or once the thread has ended.
 *
 * @returns A coroutine that gives the current thread's signal.
 *
 * @example Cancelling a promise-based timer with its thread
 * ```ts
 * import { run, TimeoutError, until, useAbortSignal, withTimeout } from "@bluelet/bluelet";
 * import assert from "node:assert/strict";
 *
 * function delay(ms: number, signal: AbortSignal): Promise<void> {
 *   return new Promise((resolve) => {
 *     const id = setTimeout(resolve, ms);
 *     signal.addEventListener("abort", () => clearTimeout(id)); // no timer leaks
 *   });
 * }
 *
 * const slow = run(withTimeout(10, function* () {
 *   const signal = yield* useAbortSignal();
 *   yield* until(delay(60_000, signal));
 * }()));
 * await assert.rejects(slow, TimeoutError);
 * ```
 */
export function* useAbortSignal(): Coroutine<AbortSignal> {
  const thread = (yield new SelfEffect()) as Thread;
  return thread.signal;
}
