import { SelfEffect } from "./_effects.ts";
import type { Coroutine } from "./coroutine.ts";
import type { Thread } from "./kernel.ts";

/**
 * Gives an `AbortSignal` that aborts when the current thread is killed or ends, to pass to
 * promise-based APIs (`fetch`, `Deno.connect`, ...) so their work stops with the thread.
 *
 * @returns A coroutine that gives the current thread's signal.
 *
 * @example Cancelling a fetch with its thread
 * ```ts ignore
 * import { run, until, useAbortSignal } from "@bluelet/bluelet";
 *
 * await run(function* () {
 *   const signal = yield* useAbortSignal();
 *   const response = yield* until(fetch("https://example.com", { signal }));
 *   yield* until(response.body?.cancel() ?? Promise.resolve());
 * }());
 * ```
 */
export function* useAbortSignal(): Coroutine<AbortSignal> {
  const thread = (yield new SelfEffect()) as Thread;
  return thread.signal;
}
