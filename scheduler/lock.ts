import { checkName, checkOptions } from "./_checks.ts";
import { callEach } from "./_effects.ts";
import type { Effect } from "./effect.ts";
import type { Operation } from "./operation.ts";
import { Acquire, holding, Permits } from "./_permits.ts";

/** Options for {@linkcode Lock}. */
export interface LockOptions {
  /**
   * A name for descriptions (and so for a `DeadlockError`).
   *
   * @default {undefined}
   */
  name?: string;
}

/**
 * Mutual exclusion between the threads of a run: one holder at a time, the others wait in
 * arrival order. {@linkcode Lock.withLock} runs an operation holding the lock and releases
 * it on every exit, a kill included. A thread killed while it waits leaves the queue; one
 * killed after the lock was handed to it, before it ran, passes it on. Waits are inside
 * the run, so two threads that each hold the lock the other waits for end the run with a
 * `DeadlockError` instead of hanging.
 *
 * Only code that yields needs a lock: between two yields a thread runs alone.
 *
 * @example Two writers that must not interleave
 * ```ts
 * import assert from "node:assert/strict";
 * import { all, Lock, run, sleep, VirtualClock } from "@bluelet/bluelet";
 *
 * const lock = new Lock();
 * const log: string[] = [];
 * function* write(name: string) {
 *   log.push(`${name} begins`);
 *   yield* sleep(10); // another thread would interleave here without the lock
 *   log.push(`${name} ends`);
 * }
 * await run(all([lock.withLock(write("a")), lock.withLock(write("b"))]), {
 *   clock: new VirtualClock(),
 * });
 * assert.deepEqual(log, ["a begins", "a ends", "b begins", "b ends"]);
 * ```
 */
export class Lock {
  readonly #permits: Permits;

  /**
   * Creates an unlocked lock.
   *
   * @param options A name for descriptions.
   */
  constructor(options: LockOptions = {}) {
    checkOptions(options, "Cannot create lock");
    const name = options?.name ?? undefined;
    checkName(name, "Cannot create lock");
    this.#permits = new Permits(1, name === undefined ? "Lock" : `Lock ${JSON.stringify(name)}`);
  }

  /**
   * Takes the lock, waiting while another thread holds it. Release it in a `finally`, or
   * use {@linkcode Lock.withLock}.
   *
   * @returns An event that resumes once the thread holds the lock.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Lock, run } from "@bluelet/bluelet";
   *
   * const lock = new Lock();
   * await run(lock.acquire());
   * assert.equal(lock.locked, true);
   * lock.release();
   * ```
   */
  acquire(): Effect<void> {
    return new Acquire(this.#permits);
  }

  /**
   * Takes the lock if it is free and no thread waits for it.
   *
   * @returns Whether the lock was taken.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Lock } from "@bluelet/bluelet";
   *
   * const lock = new Lock();
   * assert.equal(lock.tryAcquire(), true);
   * assert.equal(lock.tryAcquire(), false);
   * ```
   */
  tryAcquire(): boolean {
    return this.#permits.tryAcquire();
  }

  /**
   * Releases the lock: the first waiting thread gets it. Any thread may release a lock
   * taken with {@linkcode Lock.acquire} or {@linkcode Lock.tryAcquire} (one thread can
   * hand it to another); one that {@linkcode Lock.withLock} holds only `withLock` releases.
   *
   * @throws {TypeError} If the lock is not held, or `withLock` holds it.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Lock } from "@bluelet/bluelet";
   *
   * const lock = new Lock();
   * lock.tryAcquire();
   * lock.release();
   * assert.throws(() => lock.release(), TypeError);
   * ```
   */
  release(): void {
    if (!this.locked) throw new TypeError("Cannot release lock: it is not locked");
    if (this.#permits.scoped > 0) {
      throw new TypeError(
        "Cannot release lock: withLock holds it, and releases it when its operation ends",
      );
    }
    this.#permits.release();
  }

  /**
   * Runs an operation holding the lock, and releases it however the operation ends.
   *
   * @typeParam T The operation's value.
   * @param operation The generator object (or event) to run.
   * @returns An event that resumes with the operation's value.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Lock, run } from "@bluelet/bluelet";
   *
   * const lock = new Lock();
   * await assert.rejects(run(lock.withLock(function* () {
   *   throw new Error("failed while holding the lock");
   * }())));
   * assert.equal(lock.locked, false);
   * ```
   */
  withLock<T>(operation: Operation<T>): Effect<T> {
    return callEach(() => holding(this.#permits, operation));
  }

  /**
   * Whether a thread holds the lock.
   *
   * @returns `true` while held.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Lock } from "@bluelet/bluelet";
   *
   * assert.equal(new Lock().locked, false);
   * ```
   */
  get locked(): boolean {
    return this.#permits.available === 0;
  }
}
