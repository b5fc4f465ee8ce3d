// A reusable wake-up call for one waiting thread, on the scheduler's `Event` (a fresh one
// per wait, since an Event is set once) and `moveOnAfter` for the timeout. Both wait inside
// the run, so a VirtualClock jumps over them, and waking is a plain call: the command layer
// wakes blocked clients without yielding.
import { call, type Coroutine, type Effect, Event, moveOnAfter } from "../scheduler/mod.ts";

/**
 * No timeout, for {@linkcode Wakeup.wait}.
 *
 * @example Waiting with no timeout
 * ```ts
 * import assert from "node:assert/strict";
 * import { run, spawn } from "../scheduler/mod.ts";
 * import { FOREVER, Wakeup } from "./_kv_wakeup.ts";
 *
 * const wakeup = new Wakeup();
 * const woken = await run(function* () {
 *   yield* spawn(function* () {
 *     wakeup.wake();
 *   }());
 *   return yield* wakeup.wait(FOREVER);
 * }());
 * assert.equal(woken, true);
 * ```
 */
export const FOREVER = Infinity;

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
 *     wakeup.wake();
 *   }());
 *   return yield* wakeup.wait(1000);
 * }(), { clock });
 * assert.equal(woken, true);
 * assert.equal(clock.now(), 50);
 * ```
 */
export class Wakeup {
  #event: Event | null = null;
  #woken = false;

  /**
   * Waits for a wake, at most `ms` milliseconds.
   *
   * @param ms The timeout; {@linkcode FOREVER} for none.
   * @returns An event that resumes with `true` if woken, `false` on timeout.
   */
  wait(ms: number): Effect<boolean> {
    return call(this.#wait(ms));
  }

  *#wait(ms: number): Coroutine<boolean> {
    if (!this.#woken) {
      const event = this.#event = new Event({ name: "kv wake-up" });
      try {
        if (ms === FOREVER) yield* event.wait();
        else yield* moveOnAfter(ms, event.wait());
      } finally {
        this.#event = null;
      }
    }
    const woken = this.#woken;
    this.#woken = false;
    return woken;
  }

  /** Wakes the waiting thread, or the next `wait` if none is waiting. */
  wake(): void {
    this.#woken = true;
    this.#event?.set();
  }
}
