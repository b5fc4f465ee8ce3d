/**
 * The low-level API: how to write a new kind of event. Everything outside the kernel that
 * waits (the socket events of `net/`, channels, locks) is built on this module alone.
 *
 * A {@linkcode Primitive} is a small state machine the kernel starts when a thread yields
 * it, and later finishes (or, if the thread is killed, cancels). It waits on a promise, or
 * suspends until something calls its `wake()`.
 *
 * @example A one-shot signal that one thread waits on and another fires
 * ```ts
 * import assert from "node:assert/strict";
 * import { run, spawn, yieldNow } from "@bluelet/bluelet";
 * import { Primitive, SUSPEND } from "@bluelet/bluelet/lowlevel";
 *
 * class Fired extends Primitive<string> {
 *   readonly description = "fired";
 *   value: string | null = null;
 *   start(): typeof SUSPEND | null {
 *     return this.value === null ? SUSPEND : null;
 *   }
 *   fire(value: string): void {
 *     this.value = value;
 *     this.wake();
 *   }
 *   finish(): string {
 *     return this.value!;
 *   }
 *   cancel(): void {}
 * }
 *
 * const fired = new Fired();
 * const got = await run(function* () {
 *   const waiter = yield* spawn(fired);
 *   yield* yieldNow();
 *   fired.fire("go");
 *   return yield* waiter;
 * }());
 * assert.equal(got, "go");
 * ```
 *
 * @module
 */
export { Effect } from "./effect.ts";
export { Primitive, SUSPEND, SUSPEND_EXTERNAL, type Wait } from "./_primitive.ts";
