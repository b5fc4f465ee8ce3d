import { ShieldEffect } from "./_effects.ts";
import type { Effect } from "./effect.ts";
import type { Operation } from "./operation.ts";

/**
 * Runs an operation that a kill cannot interrupt: a kill that arrives while it runs waits
 * for it to end, then takes effect (Trio's shielded cancel scope, curio's
 * `disable_cancellation`).
 *
 * Use it in a `finally` that must finish something that yields. In JavaScript, a
 * `return()` that reaches a `finally` which is already running ends it at its next
 * `yield`: a thread killed while it cleans up after an error, or while a combinator kills
 * its losers, would stop half-way. `withTimeout`, `all` and `race` shield their own
 * cleanup. A shielded operation can still be limited with `withTimeout` inside it, and
 * should be: a shield that never ends keeps its thread alive (unless the run deadlocks:
 * then the kill goes through the shield, and the thread's `finally` blocks run).
 *
 * If the shielded operation throws and a kill is waiting, the error goes to the killer,
 * like an error from any `finally` during a kill. If it returns, the kill then takes
 * effect and its result goes nowhere (in the example, "finally done" is never recorded):
 * shield the work that must finish, not an operation whose result someone needs. A
 * shielded `channel.receive()` in a thread being killed takes an item and drops it; to
 * hand an item on whatever happens, receive it unshielded (a killed receive takes
 * nothing) and shield what is done with it.
 *
 * The same goes for the error a `finally` runs for: the kill takes effect where the
 * shield ends, with a `return()`, and JavaScript drops the error there (the kernel never
 * sees it). To clean up after an error that must not be lost, do it in a `catch` and
 * rethrow the error from inside the shield, as in the second example: with no kill, the
 * caller gets it as usual; with a kill waiting, the killer (or `withTimeout`'s caller)
 * does.
 *
 * @typeParam T The operation's result.
 * @param operation The generator object (or event) to run.
 * @returns An event that resumes with the operation's result.
 *
 * @example A goodbye that a kill waits for
 * ```ts
 * import assert from "node:assert/strict";
 * import { kill, run, shield, sleep, spawn, VirtualClock } from "@bluelet/bluelet";
 *
 * const record: string[] = [];
 * function* sayGoodbye() {
 *   yield* sleep(50);
 *   record.push("goodbye sent");
 * }
 * await run(function* () {
 *   const worker = yield* spawn(function* () {
 *     try {
 *       yield* sleep(10);
 *       record.push("work done");
 *     } finally {
 *       yield* shield(sayGoodbye());
 *       record.push("finally done");
 *     }
 *   }());
 *   yield* sleep(20); // the worker is now saying goodbye
 *   yield* kill(worker);
 *   record.push("killed");
 * }(), { clock: new VirtualClock() });
 * assert.deepEqual(record, ["work done", "goodbye sent", "killed"]);
 * ```
 *
 * @example Cleanup after an error, which a kill meanwhile does not lose
 * ```ts
 * import assert from "node:assert/strict";
 * import { kill, run, shield, sleep, spawn, VirtualClock } from "@bluelet/bluelet";
 *
 * const caught = await run(function* () {
 *   const worker = yield* spawn(function* () {
 *     try {
 *       yield* sleep(10);
 *       throw new Error("database down");
 *     } catch (error) {
 *       yield* shield(function* () {
 *         yield* sleep(50); // roll back
 *         throw error;
 *       }());
 *     }
 *   }());
 *   yield* sleep(20); // the worker is now rolling back
 *   try {
 *     yield* kill(worker);
 *   } catch (error) {
 *     return error;
 *   }
 *   return "no error";
 * }(), { clock: new VirtualClock() });
 * assert.equal((caught as Error).message, "database down");
 * ```
 */
export function shield<T>(operation: Operation<T>): Effect<T> {
  return new ShieldEffect(operation);
}
