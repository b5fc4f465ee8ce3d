/**
 * The coroutine kernel: write concurrent programs as generator functions that yield
 * events (`sleep`, `spawn`, `join`, promises, socket operations) to a small scheduler.
 *
 * Every event works Bluelet-style (`const x = yield ev`, untyped) and typed
 * (`const x = yield* ev`).
 *
 * @example Two threads and a join
 * ```ts
 * import { join, run, sleep, spawn } from "@bluelet/bluelet/scheduler";
 * import assert from "node:assert/strict";
 *
 * const result = await run(function* () {
 *   const child = yield* spawn(function* () {
 *     yield* sleep(10);
 *     return 21;
 *   }());
 *   return (yield* join(child)) * 2;
 * }());
 * assert.equal(result, 42);
 * ```
 *
 * @module
 */
export { all, type AllOptions } from "./all.ts";
export { call } from "./call.ts";
export type { Coroutine } from "./coroutine.ts";
export { Effect } from "./effect.ts";
export { end } from "./end.ts";
export { DeadlockError, KilledError, TimeoutError } from "./errors.ts";
export { join } from "./join.ts";
export { kill } from "./kill.ts";
export type { Operation, OperationResult } from "./operation.ts";
export { race } from "./race.ts";
export { run, type RunOptions } from "./run.ts";
export { shield } from "./shield.ts";
export { sleep } from "./sleep.ts";
export { snapshot, type ThreadSnapshot, type ThreadStateName } from "./snapshot.ts";
export { spawn, type SpawnOptions } from "./spawn.ts";
export type { Task } from "./task.ts";
export { until } from "./until.ts";
export { useAbortSignal } from "./use_abort_signal.ts";
export { VirtualClock, type VirtualClockOptions } from "./virtual_clock.ts";
export { withTimeout } from "./with_timeout.ts";
export { yieldNow, yieldNow as null } from "./yield_now.ts";
export { Channel, type ChannelOptions, type ChannelStatistics } from "./channel.ts";
export { ClosedError } from "./closed_error.ts";
export { select, type SelectResult } from "./select.ts";
export { moveOnAfter, type MoveOnResult } from "./move_on_after.ts";
export { Semaphore, type SemaphoreOptions } from "./semaphore.ts";
export { Lock, type LockOptions } from "./lock.ts";
export { Event, type EventOptions } from "./event.ts";
export {
  Broadcast,
  type BroadcastOptions,
  type BroadcastOverflow,
  type BroadcastStatistics,
} from "./broadcast.ts";
export { Subscription, type SubscriptionStatistics } from "./subscription.ts";
export { LaggedError } from "./lagged_error.ts";
export { TaskGroup, taskGroup } from "./task_group.ts";
