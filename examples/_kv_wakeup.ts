// A one-thread wake-up call built on the scheduler's public events only, so that it works
// under a VirtualClock (a thread waiting on a promise would stop the clock from jumping).
// The waiting thread joins a sleeper thread; a wake kills the sleeper, and the join ends.
//
// This stands in for the cooperation primitives of issue 9 (Event, Channel), which were not
// exported when the kv example was written.
import {
  call,
  type Coroutine,
  type Effect,
  join,
  kill,
  KilledError,
  sleep,
  spawn,
  type Task,
} from "../scheduler/mod.ts";

/** The longest a timer may be (setTimeout's limit): "forever" for our purposes. */
export const FOREVER = 2 ** 31 - 1;

/**
 * Lets one thread wait until another wakes it, or until a timeout. A wake that comes while
 * nobody waits is kept for the next `wait`.
 *
 * @example A waiter woken by another thread
 * ```ts
 * import assert from "node:assert/strict";
 * import { run, sleep, spawn, VirtualClock } from "../scheduler/mod.ts";
 * import { Wakeup } from "./_kv_wakeup.ts";
 *
 * const clock = new VirtualClock();
 * const wakeup = new Wakeup();
 * const woken = await run(function* () {
 *   yield* spawn(function* () {
 *     yield* sleep(50);
 *     yield* wakeup.wake();
 *   }());
 *   return yield* wakeup.wait(1000);
 * }(), { clock });
 * assert.equal(woken, true);
 * assert.equal(clock.now(), 50);
 * ```
 */
export class Wakeup {
  #sleeper: Task<void> | null = null;
  #woken = false;

  /** Whether a wake is waiting to be taken by `wait`. */
  get woken(): boolean {
    return this.#woken;
  }

  /**
   * Waits for a wake, at most `ms` milliseconds.
   *
   * @param ms The timeout; {@linkcode FOREVER} for none.
   * @returns An event that resumes with `true` if woken, `false` on timeout.
   */
  wait(ms: number): Effect<boolean> {
    // A frame of its own: its finally yields, which a caller's `yield*` would not survive.
    return call(this.#wait(ms));
  }

  *#wait(ms: number): Coroutine<boolean> {
    if (!this.#woken) {
      const sleeper = yield* spawn(sleep(ms));
      this.#sleeper = sleeper;
      try {
        yield* join(sleeper);
      } catch (error) {
        if (!(error instanceof KilledError)) throw error;
      } finally {
        this.#sleeper = null;
        // Killed while waiting: take the sleeper along rather than leave its timer.
        if (!sleeper.done) yield kill(sleeper);
      }
    }
    const woken = this.#woken;
    this.#woken = false;
    return woken;
  }

  /**
   * Wakes the waiting thread, or the next `wait` if none is waiting. Synchronous callers
   * may call {@linkcode Wakeup.notify} instead and kill the task it gives themselves.
   */
  *wake(): Coroutine<void> {
    const sleeper = this.notify();
    if (sleeper !== null) yield kill(sleeper);
  }

  /**
   * Marks the wake and gives the sleeper to kill to deliver it now (`null` if no thread
   * is waiting).
   *
   * @returns The task to kill, or `null`.
   */
  notify(): Task<void> | null {
    this.#woken = true;
    return this.#sleeper;
  }
}
