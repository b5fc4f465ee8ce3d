import { checkName, checkNumber, checkOptions } from "./_checks.ts";
import { callEach } from "./_effects.ts";
import type { Effect } from "./effect.ts";
import type { Operation } from "./operation.ts";
import { Acquire, holding, Permits } from "./_permits.ts";

/** Options for {@linkcode Semaphore}. */
export interface SemaphoreOptions {
  /**
   * A name for descriptions (and so for a `DeadlockError`).
   *
   * @default {undefined}
   */
  name?: string;
}

/**
 * A limit on how many threads do something at once (Trio's `CapacityLimiter`, what
 * `pooledMap` does for promises). {@linkcode Semaphore.withPermit} runs an operation
 * holding one permit and gives it back on every exit, a kill included.
 *
 * Waiting threads get permits first come, first served. A thread killed while it waits
 * leaves the queue; one killed after a permit was handed to it, before it ran, passes the
 * permit on. Waits are inside the run: a `VirtualClock` keeps jumping over them and a run
 * whose threads all wait on permits ends with a `DeadlockError`.
 *
 * @example At most two downloads at once
 * ```ts
 * import assert from "node:assert/strict";
 * import { all, run, Semaphore, sleep, VirtualClock } from "@bluelet/bluelet";
 *
 * const limit = new Semaphore(2);
 * let running = 0;
 * let peak = 0;
 * function* download() {
 *   running++;
 *   peak = Math.max(peak, running);
 *   yield* sleep(10);
 *   running--;
 * }
 * await run(all([1, 2, 3, 4, 5].map(() => limit.withPermit(download()))), {
 *   clock: new VirtualClock(),
 * });
 * assert.equal(peak, 2);
 * ```
 */
export class Semaphore {
  readonly #permits: Permits;
  readonly #initial: number;

  /**
   * Creates a semaphore.
   *
   * @param permits How many permits there are at first: a positive integer. Zero is
   * refused because {@linkcode Semaphore.release} never gives back more permits than
   * the semaphore started with, so none could ever be handed out.
   * @param options A name for descriptions.
   * @throws {TypeError} If `permits` is not a number.
   * @throws {RangeError} If `permits` is not a positive integer.
   */
  constructor(permits: number, options: SemaphoreOptions = {}) {
    checkNumber(permits, "Cannot create semaphore", "permits");
    if (!Number.isInteger(permits) || permits < 1) {
      throw new RangeError(
        `Cannot create semaphore: permits must be a positive integer, got ${permits}`,
      );
    }
    checkOptions(options, "Cannot create semaphore");
    const name = options?.name ?? undefined;
    checkName(name, "Cannot create semaphore");
    this.#initial = permits;
    this.#permits = new Permits(
      permits,
      name === undefined ? "Semaphore" : `Semaphore ${JSON.stringify(name)}`,
    );
  }

  /**
   * Takes a permit, waiting while there is none. Give it back with
   * {@linkcode Semaphore.release} in a `finally`, or use {@linkcode Semaphore.withPermit}.
   *
   * @returns An event that resumes once the thread holds a permit.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { run, Semaphore } from "@bluelet/bluelet";
   *
   * const semaphore = new Semaphore(1);
   * await run(semaphore.acquire());
   * assert.equal(semaphore.available, 0);
   * semaphore.release();
   * ```
   */
  acquire(): Effect<void> {
    return new Acquire(this.#permits);
  }

  /**
   * Takes a permit if one is free and no thread waits for one.
   *
   * @returns Whether a permit was taken.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Semaphore } from "@bluelet/bluelet";
   *
   * const semaphore = new Semaphore(1);
   * assert.equal(semaphore.tryAcquire(), true);
   * assert.equal(semaphore.tryAcquire(), false);
   * ```
   */
  tryAcquire(): boolean {
    return this.#permits.tryAcquire();
  }

  /**
   * Gives a permit back: to the first waiting thread if there is one.
   *
   * @throws {RangeError} If that would make more permits than the semaphore was created
   * with, or give back one that {@linkcode Semaphore.withPermit} holds (it gives its own
   * back).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Semaphore } from "@bluelet/bluelet";
   *
   * const semaphore = new Semaphore(1);
   * semaphore.tryAcquire();
   * semaphore.release();
   * assert.equal(semaphore.available, 1);
   * ```
   */
  release(): void {
    const permits = this.#permits;
    if (permits.available >= this.#initial) {
      throw new RangeError("Cannot release semaphore: every permit is already free");
    }
    if (permits.available + permits.scoped >= this.#initial) {
      throw new RangeError(
        "Cannot release semaphore: every permit taken is held by withPermit, which gives it back when its operation ends",
      );
    }
    permits.release();
  }

  /**
   * Runs an operation holding a permit, waiting for one first, and gives the permit back
   * however the operation ends: returned, threw, or its thread was killed.
   *
   * @typeParam T The operation's value.
   * @param operation The generator object (or event) to run.
   * @returns An event that resumes with the operation's value.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { run, Semaphore } from "@bluelet/bluelet";
   *
   * const semaphore = new Semaphore(1);
   * const value = await run(semaphore.withPermit(function* () {
   *   assert.equal(semaphore.available, 0);
   *   return 42;
   * }()));
   * assert.equal(value, 42);
   * assert.equal(semaphore.available, 1);
   * ```
   */
  withPermit<T>(operation: Operation<T>): Effect<T> {
    return callEach(() => holding(this.#permits, operation));
  }

  /**
   * How many permits are free now.
   *
   * @returns The count.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Semaphore } from "@bluelet/bluelet";
   *
   * assert.equal(new Semaphore(3).available, 3);
   * ```
   */
  get available(): number {
    return this.#permits.available;
  }

  /**
   * How many threads wait for a permit.
   *
   * @returns The count.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Semaphore } from "@bluelet/bluelet";
   *
   * assert.equal(new Semaphore(1).waiting, 0);
   * ```
   */
  get waiting(): number {
    return this.#permits.waiters.size;
  }
}
