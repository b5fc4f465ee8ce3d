/**
 * bluelet: Bluelet's idea in Deno. Write concurrent network programs as plain generator
 * functions that `yield` events (sleeps, spawns, joins, socket operations) to a small
 * scheduler, with cancellation that runs your `finally` blocks.
 *
 * @example A thread that sleeps while another works
 * ```ts
 * import * as bluelet from "@bluelet/bluelet";
 * import assert from "node:assert/strict";
 *
 * const record: string[] = [];
 * await bluelet.run(function* () {
 *   const child = yield* bluelet.spawn(function* () {
 *     yield* bluelet.sleep(10);
 *     record.push("child woke");
 *   }());
 *   record.push("parent working");
 *   yield* bluelet.join(child);
 * }());
 * assert.deepEqual(record, ["parent working", "child woke"]);
 * ```
 *
 * @module
 */
export * from "./scheduler/mod.ts";
export * from "./net/mod.ts";
