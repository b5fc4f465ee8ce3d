import { checkNumber, checkOptions } from "./_checks.ts";

/** Moves a virtual clock forward to `to` (never backwards). Only the kernel calls this. */
export let advanceClock: (clock: VirtualClock, to: number) => void;

/**
 * Makes `run` the clock's one user, or says that another run uses it. Only the kernel
 * calls these: two runs at once would move each other's time.
 */
export let claimClock: (clock: VirtualClock, run: object) => boolean;
export let releaseClock: (clock: VirtualClock, run: object) => void;

/** Options for {@linkcode VirtualClock}. */
export interface VirtualClockOptions {
  /**
   * How long, in real milliseconds, the run may sit with nothing happening while a promise
   * (or another wait on the outside world) is pending, before the clock jumps to the next
   * timer anyway (Trio's `MockClock.autojump_threshold`). A promise the run waits on may
   * be settled by one of its own threads after a virtual sleep; without a threshold, the
   * clock never jumps while it is pending, and the run stops with no error. A threshold
   * makes such a run finish, but how far it gets before each jump depends on real time:
   * for signalling between threads, prefer the scheduler's own `Event`, `Channel` or
   * `join`, which the clock jumps over at once and deterministically.
   *
   * @default {Infinity} (never jump while something outside the run is pending)
   */
  autojumpThreshold?: number;
}

/**
 * A clock for tests: pass it to {@linkcode run} as `options.clock` and time becomes virtual.
 * Whenever every thread is waiting on timers only (nothing is ready and no promise is
 * pending), the kernel jumps the clock to the next deadline, so an hour of sleeps runs in
 * milliseconds and always in the same order. Before each jump the event loop has one turn
 * (a `setImmediate`), so what the program does outside the run right then (an abort just
 * after `run()`, a send queued for the next turn) comes first, as it would in real time.
 * (A real timer takes a millisecond at least, far longer than a turn: code that waits on
 * one needs `options.autojumpThreshold`.) Use one clock per run: a run started with a
 * clock another run still uses rejects with a `TypeError` (once that run has ended, the
 * clock may be used again). While a promise is
 * pending the clock holds still, unless `options.autojumpThreshold` is set.
 *
 * Timers due in the same instant fire in the order they were set, and a time limit's
 * deadline ({@linkcode withTimeout}, {@linkcode moveOnAfter}) after what else is due then.
 * A sleep that would take the clock past 2^53 - 1 ms, where a double no longer tells one
 * millisecond from the next, throws a `RangeError` into its thread; a time limit that far
 * off never ends.
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
 *
 * @example A promise between two threads, with an autojump threshold
 * ```ts
 * import { run, sleep, spawn, until, VirtualClock } from "@bluelet/bluelet";
 * import assert from "node:assert/strict";
 *
 * const clock = new VirtualClock(0, { autojumpThreshold: 5 });
 * const { promise, resolve } = Promise.withResolvers<string>();
 * const got = await run(function* () {
 *   yield* spawn(function* () {
 *     yield* sleep(1000); // jumped over after 5 real ms of quiet
 *     resolve("ready");
 *   }());
 *   return yield* until(promise);
 * }(), { clock });
 * assert.equal(got, "ready");
 * assert.equal(clock.now(), 1000);
 * ```
 */
export class VirtualClock {
  #now: number;
  /** The run that uses it now, if any. */
  #user: object | null = null;
  /** See {@linkcode VirtualClockOptions.autojumpThreshold}. */
  readonly autojumpThreshold: number;

  /**
   * Creates a virtual clock.
   *
   * @param start The clock's initial time in milliseconds.
   * @param options When to jump while a promise is pending.
   * @throws {TypeError} If `start` or `options.autojumpThreshold` is not a number.
   * @throws {RangeError} If `start` is past ±2^53 - 1 or `options.autojumpThreshold` is
   * negative.
   */
  constructor(start = 0, options: VirtualClockOptions = {}) {
    checkNumber(start, "Cannot create virtual clock", "start");
    checkOptions(options, "Cannot create virtual clock");
    options ??= {};
    const threshold = options.autojumpThreshold ?? Infinity;
    if (options.autojumpThreshold !== undefined) {
      checkNumber(options.autojumpThreshold, "Cannot create virtual clock", "autojumpThreshold");
    }
    // Past 2^53 a double no longer tells one millisecond from the next.
    if (!(Math.abs(start) <= Number.MAX_SAFE_INTEGER)) {
      throw new RangeError(
        `Cannot create virtual clock: start must be a finite number within ±2^53 - 1 ms, got ${start}`,
      );
    }
    if (!(threshold >= 0)) {
      throw new RangeError(
        `Cannot create virtual clock: autojumpThreshold must be a non-negative number of milliseconds, got ${threshold}`,
      );
    }
    this.#now = start;
    this.autojumpThreshold = threshold;
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
    claimClock = (clock, run) => {
      if (clock.#user !== null && clock.#user !== run) return false;
      clock.#user = run;
      return true;
    };
    releaseClock = (clock, run) => {
      if (clock.#user === run) clock.#user = null;
    };
  }
}
