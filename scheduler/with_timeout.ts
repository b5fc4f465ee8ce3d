import { checkDuration, checkOperation } from "./_checks.ts";
import { call } from "./call.ts";
import { callEach } from "./_effects.ts";
import type { Coroutine } from "./coroutine.ts";
import type { Effect } from "./effect.ts";
import { TimeoutError } from "./errors.ts";
import { deadlineSleep } from "./sleep.ts";
import { settle, supervise } from "./_supervise.ts";
import type { Operation } from "./operation.ts";
import { Primitive } from "./_primitive.ts";
import { TimedWait } from "./_timed_wait.ts";
import { descriptionOf } from "./_describe.ts";

/**
 * Runs a coroutine (or event) with a time limit. If it is not done within `ms`, it is
 * killed (its `finally` blocks run) and a {@linkcode TimeoutError} is thrown. Its result
 * or error passes through otherwise. The deadline comes after whatever else is due in its
 * instant: an operation that finishes at that very moment (a lock released by a holder
 * whose sleep ends then) counts as done. Of nested limits that end together, the inner one
 * decides.
 *
 * A coroutine runs in a helper thread of its own (a leaf event, such as a `receive` or a
 * `recv`, waits in the caller's thread): what belongs to a thread and is made inside it (a
 * `subscribe()`, `useAbortSignal()`'s signal) belongs to that helper, and ends with it.
 * Make those before, in the caller.
 *
 * @typeParam T The coroutine's return value.
 * @param ms The time limit in milliseconds; 0 or less has run out already.
 * @param operation The generator object (or event) to run.
 * @returns An event that resumes with the operation's result.
 * @throws {TypeError} If `ms` is not a number.
 * @throws {RangeError} If `ms` is not a finite number.
 *
 * @example A slow operation times out
 * ```ts
 * import { run, sleep, TimeoutError, withTimeout } from "@bluelet/bluelet";
 * import assert from "node:assert/strict";
 *
 * let caught: unknown;
 * await run(function* () {
 *   try {
 *     yield* withTimeout(10, sleep(1000));
 *   } catch (error) {
 *     caught = error;
 *   }
 * }());
 * assert.ok(caught instanceof TimeoutError);
 * ```
 */
export function withTimeout<T>(
  ms: number,
  operation: Operation<T>,
): Effect<T> {
  checkDuration(ms, "Cannot limit an operation's time");
  checkOperation(operation, "Cannot limit an operation's time", "the operation");
  ms = Math.max(ms, 0); // a limit already past: its messages say 0 ms
  // A leaf operation waits in the caller's own thread, so a kill can never lose its result.
  if (operation instanceof Primitive) return new TimeLimit(operation as Primitive<T>, ms);
  return callEach(() => limited(ms, operation, deadlineSleep(ms)));
}

/** `withTimeout` of a primitive. */
class TimeLimit<T> extends TimedWait<T, T> {
  get description(): string {
    return `timeout(${this.ms}) of ${this.inner.description}`;
  }

  protected expired(): T {
    const waitedOn = descriptionOf(this.inner); // user code: what it throws must not win
    throw new TimeoutError(`Operation timed out after ${this.ms} ms waiting on ${waitedOn}`);
  }

  protected finished(value: T): T {
    return value;
  }
}

function* limited<T>(
  ms: number,
  operation: Operation<T>,
  timer: Effect<void>,
): Coroutine<T> {
  const value = yield* call(
    supervise([operation, timer], () => true, `timeout(${ms})`, (done) => {
      const waited = done.firstWaited === undefined ? "" : ` waiting on ${done.firstWaited}`;
      const outcome = done.decisive === 1
        ? {
          ok: false as const,
          error: new TimeoutError(`Operation timed out after ${ms} ms${waited}`),
        }
        : done.outcomes[0]!;
      return settle(outcome, done);
    }, true),
  );
  return value as T;
}
