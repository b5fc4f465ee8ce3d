/** Moves a virtual clock forward to `to` (never backwards). Only the kernel calls this. */
export let advanceClock: (clock: VirtualClock, to: number) => void;

/**
 * A clock for tests: pass it to {@linkcode run} as `options.clock` and time becomes virtual.
 * Whenever every thread is waiting on timers only (nothing is ready and no promise is
 * pending), the kernel jumps the clock to the next deadline, so an hour of sleeps runs in
 * milliseconds and always in the same order. Use one clock per run.
 *
 * @example An hour of sleeping, instantly
 * ```ts
 * import { run, sleep, VirtualClock } from "@bluelet/bluelet";
 * import assert from "node:assert/strict";
 *
 * const clock = new VirtualClock();
 * await run(function* () {
 *   yield* sleep(60 * 60 * 1000);
 * }(), { clock });
 * assert.equal(clock.now(), 3600000);
 * ```
 */
export class VirtualClock {
  #now: number;

  /**
   * Creates a virtual clock.
   *
   * @param start The clock's initial time in milliseconds.
   */
  constructor(start = 0) {
    if (!Number.isFinite(start)) {
      throw new RangeError(
        `Cannot create virtual clock: start must be a finite number, got ${start}`,
      );
    }
    this.#now = start;
  }

  /**
   * The clock's current time.
   *
   * @returns The time in milliseconds.
   */
  now(): number {
    return this.#now;
  }

  static {
    advanceClock = (clock, to) => {
      if (to > clock.#now) clock.#now = to;
    };
  }
}
