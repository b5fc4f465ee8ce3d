import { checkName, checkNumber, checkOptions } from "./_checks.ts";
import { describe } from "./_describe.ts";
import type { Coroutine } from "./coroutine.ts";
import type { Effect } from "./effect.ts";
import { Subscription } from "./subscription.ts";
import { useAbortSignal } from "./use_abort_signal.ts";
import { Hub, Member, type Overflow, Publish } from "./_broadcast_hub.ts";
import { sharedError } from "./_story.ts";

/**
 * What a {@linkcode Broadcast} does when a subscriber's buffer is full:
 *
 * - `"wait"`: the publisher waits until every subscriber has room (back-pressure: nothing
 *   is lost, and the slowest subscriber sets the pace);
 * - `"dropOldest"`: that subscriber's oldest buffered item is dropped to make room;
 * - `"end"`: that subscriber's subscription ends: it receives what it had buffered, then a
 *   {@linkcode LaggedError} saying how many items it missed.
 */
export type BroadcastOverflow = Overflow;

/** Options for {@linkcode Broadcast}. */
export interface BroadcastOptions {
  /**
   * How many items each subscriber's buffer holds.
   *
   * @default {16}
   */
  capacity?: number;
  /**
   * What happens when a subscriber's buffer is full.
   *
   * @default {"wait"}
   */
  overflow?: BroadcastOverflow;
  /**
   * A name for descriptions (and so for a `DeadlockError`) and error messages.
   *
   * @default {undefined}
   */
  name?: string;
}

/** What {@linkcode Broadcast.statistics} gives. */
export interface BroadcastStatistics {
  /** Subscriptions open now; one ended for falling behind (`"end"`) is not. */
  subscribers: number;
  /** Publishers waiting for room (the `"wait"` policy). */
  waitingPublishers: number;
  /**
   * Items waiting across all open subscriptions, counted as
   * `SubscriptionStatistics.buffered` counts them (not one already handed to a
   * receiver that has not run yet): at most `subscribers * capacity`, but for an item that
   * such a receiver, killed before it ran, gave back.
   */
  buffered: number;
  /** How many items each subscription buffers, the broadcast's `capacity`. */
  capacity: number;
  /** Whether the broadcast is closed. */
  closed: boolean;
}

/**
 * Publish/subscribe between the threads of a run: every item published reaches every
 * subscription open at the time, in order. Each subscriber has a bounded buffer, and
 * `overflow` declares what happens to one that falls behind (see
 * {@linkcode BroadcastOverflow}), so memory stays bounded whatever the subscribers do.
 *
 * A subscription ends when the thread that made it ends or is killed, or when it is
 * closed; nothing is left behind. Receives are as cancellation-safe as a channel's.
 *
 * @typeParam T The type of the items.
 *
 * @example A chat room where a slow reader is dropped, not waited for
 * ```ts
 * import assert from "node:assert/strict";
 * import { Broadcast, LaggedError, run, sleep, spawn, yieldNow } from "@bluelet/bluelet";
 *
 * const room = new Broadcast<string>({ capacity: 2, overflow: "end" });
 * const heard: string[] = [];
 * const slowHeard: string[] = [];
 * let slowMissed = 0;
 * await run(function* () {
 *   yield* spawn(function* () {
 *     const subscription = yield* room.subscribe();
 *     for (let line; !(line = yield* subscription.receive()).done;) heard.push(line.value);
 *   }());
 *   yield* spawn(function* () {
 *     const subscription = yield* room.subscribe();
 *     yield* sleep(10); // busy elsewhere while three lines come: one more than it holds
 *     try {
 *       for (let line; !(line = yield* subscription.receive()).done;) {
 *         slowHeard.push(line.value);
 *       }
 *     } catch (error) {
 *       if (!(error instanceof LaggedError)) throw error;
 *       slowMissed = error.missed;
 *     }
 *   }());
 *   yield* yieldNow(); // let both subscribe
 *   for (const line of ["alice: hi", "bob: hello", "alice: bye"]) {
 *     yield* room.publish(line); // never waits for the slow reader
 *     yield* yieldNow(); // the quick one reads each line as it comes
 *   }
 *   room.close();
 * }());
 * assert.deepEqual(heard, ["alice: hi", "bob: hello", "alice: bye"]);
 * // The slow reader gets what it held, then learns that it fell behind.
 * assert.deepEqual(slowHeard, ["alice: hi", "bob: hello"]);
 * assert.equal(slowMissed, 1);
 * ```
 */
export class Broadcast<T> {
  readonly #hub: Hub<T>;

  /**
   * Creates a broadcast with no subscribers.
   *
   * @param options Buffer capacity per subscriber, overflow policy and a name.
   * @throws {TypeError} If `capacity` is not a number.
   * @throws {RangeError} If `capacity` is not a positive integer, or `overflow` unknown.
   */
  constructor(options: BroadcastOptions = {}) {
    checkOptions(options, "Cannot create broadcast");
    const { capacity = 16, overflow = "wait", name } = options ?? {};
    checkName(name, "Cannot create broadcast");
    checkNumber(capacity, "Cannot create broadcast", "capacity");
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(
        `Cannot create broadcast: capacity must be a positive integer, got ${capacity}`,
      );
    }
    if (overflow !== "wait" && overflow !== "dropOldest" && overflow !== "end") {
      throw new RangeError(
        `Cannot create broadcast: overflow must be "wait", "dropOldest" or "end", got ${
          describe(overflow)
        }`,
      );
    }
    this.#hub = new Hub<T>(
      capacity,
      overflow,
      name == null ? "Broadcast" : `Broadcast ${JSON.stringify(name)}`,
      name == null ? "broadcast" : `broadcast ${JSON.stringify(name)}`,
    );
  }

  /**
   * Publishes an item to every open subscription. Under the `"wait"` policy it waits until
   * every subscriber has room; otherwise it never waits.
   *
   * @param value The item.
   * @returns An event that resumes once the item is in every subscriber's buffer. It
   * throws {@linkcode ClosedError} if the broadcast is closed (or closes while it waits:
   * the item then reached no one).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Broadcast, run } from "@bluelet/bluelet";
   *
   * const news = new Broadcast<string>();
   * await run(function* () {
   *   const subscription = yield* news.subscribe();
   *   yield* news.publish("extra");
   *   assert.equal(subscription.tryReceive()?.value, "extra");
   * }());
   * ```
   */
  publish(value: T): Effect<void> {
    return new Publish(this.#hub, value);
  }

  /**
   * Publishes an item if that needs no wait.
   *
   * @param value The item.
   * @returns Whether it was published (always, unless the policy is `"wait"` and a
   * subscriber's buffer is full).
   * @throws {ClosedError} If the broadcast is closed.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Broadcast } from "@bluelet/bluelet";
   *
   * const news = new Broadcast<string>();
   * assert.equal(news.tryPublish("nobody listens"), true);
   * ```
   */
  tryPublish(value: T): boolean {
    const hub = this.#hub;
    if (hub.closed) throw hub.closedError();
    if (!hub.canPublish()) return false;
    hub.deliver(value);
    return true;
  }

  /**
   * Subscribes the current thread: the subscription gets every item published from now
   * on, and ends when the thread ends or is killed, or when it is closed.
   *
   * @returns A coroutine to `yield*` that gives the {@linkcode Subscription}. On a closed
   * broadcast the subscription is already ended: it gives the end, or throws the error the
   * broadcast was closed with, as the subscriptions before it do.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Broadcast, run } from "@bluelet/bluelet";
   *
   * const news = new Broadcast<number>();
   * await run(function* () {
   *   yield* news.subscribe();
   *   assert.equal(news.statistics().subscribers, 1);
   * }());
   * assert.equal(news.statistics().subscribers, 0); // the thread ended
   * ```
   */
  *subscribe(): Coroutine<Subscription<T>> {
    const signal = yield* useAbortSignal();
    const hub = this.#hub;
    const member = new Member(hub);
    // On a closed broadcast (it ends as those before it do), or in a thread that is
    // ending, the subscription is over at once.
    if (hub.closed) member.core.close(hub.closeReason);
    else if (signal.aborted) member.core.close(null);
    else hub.members.add(member);
    return new Subscription(member, signal);
  }

  /**
   * Closes the broadcast: subscribers receive what they have buffered, then the end, or
   * `error` thrown if one is given. Waiting and later publishes throw
   * {@linkcode ClosedError}. Closing again does nothing.
   *
   * @param error If given, what subscribers throw once drained. `undefined` counts as not
   * given: `close(undefined)` is a clean close.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Broadcast, ClosedError } from "@bluelet/bluelet";
   *
   * const news = new Broadcast<string>();
   * news.close();
   * assert.throws(() => news.tryPublish("late"), ClosedError);
   * ```
   */
  close(error?: unknown): void {
    this.#hub.close(error === undefined ? null : sharedError(error));
  }

  /**
   * Whether the broadcast is closed.
   *
   * @returns `true` once {@linkcode Broadcast.close} was called.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Broadcast } from "@bluelet/bluelet";
   *
   * const news = new Broadcast();
   * news.close();
   * assert.equal(news.closed, true);
   * ```
   */
  get closed(): boolean {
    return this.#hub.closed;
  }

  /**
   * Reports the broadcast's state.
   *
   * @returns The numbers, taken now.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Broadcast } from "@bluelet/bluelet";
   *
   * assert.deepEqual(new Broadcast().statistics(), {
   *   subscribers: 0,
   *   waitingPublishers: 0,
   *   buffered: 0,
   *   capacity: 16,
   *   closed: false,
   * });
   * ```
   */
  statistics(): BroadcastStatistics {
    const hub = this.#hub;
    let buffered = 0;
    for (const member of hub.members) buffered += member.core.waiting;
    return {
      subscribers: hub.members.size,
      waitingPublishers: hub.publishers.size,
      buffered,
      capacity: hub.capacity,
      closed: hub.closed,
    };
  }
}
