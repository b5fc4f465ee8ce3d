import { checkDuration, checkOperation } from "./_checks.ts";
import type { Coroutine } from "./coroutine.ts";
import type { Effect } from "./effect.ts";
import { Primitive, SUSPEND } from "./lowlevel.ts";
import type { Operation } from "./operation.ts";
import { deadlineSleep } from "./sleep.ts";
import { spawn } from "./spawn.ts";
import { TimedWait } from "./_timed_wait.ts";
import { shield } from "./shield.ts";
import { killAllAndThrow } from "./_kill_all.ts";
import { callEach, ownFrameFor } from "./_effects.ts";

/**
 * What {@linkcode moveOnAfter} gives: the operation's value, or that time ran out.
 *
 * @typeParam T The operation's value.
 */
export type MoveOnResult<T> =
  | { timedOut: false; value: T }
  | { timedOut: true; value: undefined };

/**
 * Runs an operation with a deadline that is not an error: if it is not done within `ms`,
 * it is killed (its `finally` blocks run) and `moveOnAfter` returns `{ timedOut: true }`;
 * whatever the operation produced before that (items it collected, lines it wrote) stays.
 * This is Trio's `move_on_after`; {@linkcode withTimeout} is the form that throws.
 *
 * An operation that finishes at the very moment time runs out counts as done: its value is
 * returned, never dropped. So a channel `receive()` limited this way loses no item. The
 * deadline comes after whatever else is due in its instant (a sender whose sleep ends
 * then), and of nested limits that end together, the inner one decides.
 *
 * A coroutine runs in a helper thread of its own (a leaf event, such as a `receive` or a
 * `recv`, waits in the caller's thread): what belongs to a thread and is made inside it (a
 * `subscribe()`, `useAbortSignal()`'s signal) belongs to that helper, and ends with it.
 * Make those before, in the caller.
 *
 * @typeParam T The operation's value.
 * @param ms The time limit in milliseconds; 0 or less has run out already.
 * @param operation The generator object (or event) to run.
 * @returns An event that resumes with `{ timedOut: false, value }` or
 * `{ timedOut: true, value: undefined }`. The operation's own error passes through.
 * @throws {TypeError} If `ms` is not a number.
 * @throws {RangeError} If `ms` is not a finite number.
 *
 * @example Collect what arrives within 100 ms
 * ```ts
 * import assert from "node:assert/strict";
 * import { moveOnAfter, run, sleep, VirtualClock } from "@bluelet/bluelet";
 *
 * const collected: number[] = [];
 * const result = await run(
 *   moveOnAfter(100, function* () {
 *     for (let i = 0;; i++) {
 *       yield* sleep(30);
 *       collected.push(i);
 *     }
 *   }()),
 *   { clock: new VirtualClock() },
 * );
 * assert.equal(result.timedOut, true);
 * assert.deepEqual(collected, [0, 1, 2]);
 * ```
 */
export function moveOnAfter<T>(ms: number, operation: Operation<T>): Effect<MoveOnResult<T>> {
  checkDuration(ms, "Cannot move on after a deadline");
  checkOperation(operation, "Cannot move on after a deadline", "the operation");
  ms = Math.max(ms, 0); // a deadline already past: its descriptions say 0
  // A leaf operation (a channel operation, an acquire, a read) waits in this thread, so
  // it can give back what it was handed if the thread is killed the moment it arrives.
  if (operation instanceof Primitive) return new MoveOn(operation as Primitive<T>, ms);
  return callEach(() => moveOn(ms, operation));
}

/** `moveOnAfter` of a primitive. */
class MoveOn<T> extends TimedWait<T, MoveOnResult<T>> {
  get description(): string {
    return `moveOnAfter(${this.ms}) of ${this.inner.description}`;
  }

  protected expired(): MoveOnResult<T> {
    return { timedOut: true, value: undefined };
  }

  protected finished(value: T): MoveOnResult<T> {
    return { timedOut: false, value };
  }
}

/** What the caller waits on: the operation's outcome or the timer, whichever comes first. */
class Deadline<T> extends Primitive<void> {
  readonly description: string;
  ok = false;
  value: unknown = undefined;
  ended = false;
  expired = false;

  constructor(ms: number) {
    super();
    this.description = `moveOnAfter(${ms})`;
  }

  settle(ok: boolean, value: T | unknown): void {
    this.ended = true;
    this.ok = ok;
    this.value = value;
    this.wake();
  }

  expire(): void {
    this.expired = true;
    this.wake();
  }

  start(): typeof SUSPEND | null {
    return this.ended || this.expired ? null : SUSPEND;
  }

  finish(): void {}

  cancel(): void {}
}

function* moveOn<T>(ms: number, operation: Operation<T>): Coroutine<MoveOnResult<T>> {
  const deadline = new Deadline<T>(ms);
  const tasks = [
    yield* spawn(attempt(operation, deadline)),
    yield* spawn(timer(ms, deadline)),
  ];
  try {
    yield* deadline;
  } finally {
    // A worker that was woken but had not run yet is cancelled here, which gives back what
    // it had been handed; one that finished in the meantime has settled. The operation's
    // error is thrown inside the shield: a caller killed before it could throw it (or
    // while the workers end) hands it to its killer, rather than drop it.
    const failed = deadline.ended && !deadline.ok ? { error: deadline.value } : null;
    yield* shield(killAllAndThrow(tasks, failed));
  }
  if (!deadline.ended) return { timedOut: true, value: undefined };
  return { timedOut: false, value: deadline.value as T };
}

function* attempt<T>(operation: Operation<T>, deadline: Deadline<T>): Coroutine<void> {
  let value: unknown;
  try {
    // `end` ends the frame it is yielded in: the operation's, not this worker's.
    value = yield ownFrameFor(operation);
  } catch (error) {
    deadline.settle(false, error);
    return;
  }
  deadline.settle(true, value);
}

function* timer(ms: number, deadline: Deadline<unknown>): Coroutine<void> {
  yield* deadlineSleep(ms);
  deadline.expire();
}
