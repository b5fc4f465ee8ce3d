import type { Effect } from "./effect.ts";
import { LaggedError } from "./lagged_error.ts";
import { ReceiveOperation } from "./_channel_core.ts";
import type { Member } from "./_broadcast_hub.ts";

/** What {@linkcode Subscription.statistics} gives. */
export interface SubscriptionStatistics {
  /**
   * Items waiting to be received. One already handed to a receiver that has not run yet
   * is not counted: it takes no room. Never more than the capacity, unless such a receiver
   * is killed before it runs: its item goes back to the front, past the capacity if need
   * be, until it is received (or, once the subscription is closed, is dropped).
   */
  buffered: number;
  /**
   * The most items buffered at once so far, a guide for sizing the capacity: never more
   * than it, but for items given back as `buffered` describes.
   */
  peakBuffered: number;
  /** Items dropped to make room (the `"dropOldest"` policy). */
  dropped: number;
  /** Items missed after the subscription was ended for falling behind (`"end"`). */
  missed: number;
  /** Whether the subscription has ended: closed, or its broadcast closed, or it lagged. */
  closed: boolean;
}

/**
 * One subscriber's view of a {@linkcode Broadcast}: every item published after it was
 * made, in order, through a buffer of the broadcast's capacity. Made by
 * `yield* broadcast.subscribe()`, it belongs to the thread that made it and ends with it
 * (killed or finished), or earlier with {@linkcode Subscription.close} (or `using`). (A
 * coroutine given to `withTimeout`, `moveOnAfter`, `all` or `race` runs in a helper thread:
 * a subscription made there ends when the helper does.)
 *
 * @typeParam T The type of the items.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Broadcast, run } from "@bluelet/bluelet";
 *
 * const news = new Broadcast<string>();
 * await run(function* () {
 *   using subscription = yield* news.subscribe();
 *   news.tryPublish("hello");
 *   assert.deepEqual(yield* subscription.receive(), { value: "hello", done: false });
 * }());
 * assert.equal(news.statistics().subscribers, 0);
 * ```
 */
export class Subscription<T> {
  readonly #member: Member<T>;
  readonly #signal: AbortSignal;

  /**
   * Not for direct use: subscribe with `yield* broadcast.subscribe()`.
   *
   * @param member The broadcast's record of this subscriber.
   * @param signal The subscribing thread's abort signal.
   */
  constructor(member: Member<T>, signal: AbortSignal) {
    this.#member = member;
    this.#signal = signal;
    if (member.core.closed) return; // over already: nothing to end with the thread
    signal.addEventListener("abort", this.#onAbort, { once: true });
    member.letGo = () => signal.removeEventListener("abort", this.#onAbort);
  }

  readonly #onAbort = (): void => {
    this.#member.hub.remove(this.#member);
  };

  /**
   * Receives the next item, waiting while there is none. `select` accepts it too.
   *
   * @returns An event that resumes with `{ value, done: false }`, or
   * `{ value: undefined, done: true }` once the subscription or the broadcast is closed
   * and drained. It throws a {@linkcode LaggedError} if the subscription was ended for
   * falling behind, or the error the broadcast was closed with.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Broadcast, run } from "@bluelet/bluelet";
   *
   * const news = new Broadcast<number>();
   * await run(function* () {
   *   const subscription = yield* news.subscribe();
   *   news.close();
   *   assert.equal((yield* subscription.receive()).done, true);
   * }());
   * ```
   */
  receive(): Effect<IteratorResult<T, undefined>> {
    return new ReceiveOperation(this.#member.core);
  }

  /**
   * Receives an item if one is buffered.
   *
   * @returns `{ value, done: false }`; `{ value: undefined, done: true }` if ended and
   * drained; `undefined` if receiving would have to wait.
   * @throws {LaggedError} If the subscription was ended for falling behind and is drained.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Broadcast, run } from "@bluelet/bluelet";
   *
   * const news = new Broadcast<number>();
   * await run(function* () {
   *   const subscription = yield* news.subscribe();
   *   assert.equal(subscription.tryReceive(), undefined);
   * }());
   * ```
   */
  tryReceive(): IteratorResult<T, undefined> | undefined {
    const core = this.#member.core;
    if (core.readyToTake()) return core.take();
    return core.ended() ? core.takeAfterClose() : undefined;
  }

  /**
   * Ends the subscription: it gets no more items, drops the ones buffered, and waiting
   * receives get the end. Closing again does nothing.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Broadcast, run } from "@bluelet/bluelet";
   *
   * const news = new Broadcast<number>();
   * await run(function* () {
   *   const subscription = yield* news.subscribe();
   *   subscription.close();
   *   assert.equal(news.statistics().subscribers, 0);
   * }());
   * ```
   */
  close(): void {
    this.#signal.removeEventListener("abort", this.#onAbort);
    this.#member.hub.remove(this.#member);
  }

  /**
   * Aborted when the subscription ends: with a {@linkcode LaggedError} as its reason when
   * it fell behind (the `"end"` policy; its `missed` is 1, the item that did not fit, as of
   * that moment, while `statistics().missed` goes on counting), or a `ClosedError` when it
   * or its broadcast was closed. Useful to interrupt what a slow subscriber is stuck in,
   * say to close the connection whose writes stopped draining.
   *
   * @returns The signal.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Broadcast, LaggedError, run } from "@bluelet/bluelet";
   *
   * const news = new Broadcast<number>({ capacity: 1, overflow: "end" });
   * await run(function* () {
   *   const subscription = yield* news.subscribe();
   *   news.tryPublish(1);
   *   news.tryPublish(2);
   *   assert.ok(subscription.signal.reason instanceof LaggedError);
   * }());
   * ```
   */
  get signal(): AbortSignal {
    const member = this.#member;
    if (member.controller === null) {
      member.controller = new AbortController();
      // As of the moment it ended, whenever the signal is first asked for: one item, the
      // one that did not fit (`statistics().missed` goes on counting).
      if (member.lagged) member.controller.abort(new LaggedError(1));
      else if (member.core.closed) member.ended();
    }
    return member.controller.signal;
  }

  /** Closes the subscription, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Reports the subscription's state.
   *
   * @returns The numbers, taken now.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Broadcast, run } from "@bluelet/bluelet";
   *
   * const news = new Broadcast<number>({ capacity: 2, overflow: "dropOldest" });
   * await run(function* () {
   *   const subscription = yield* news.subscribe();
   *   for (let i = 0; i < 5; i++) news.tryPublish(i);
   *   const stats = subscription.statistics();
   *   assert.equal(stats.buffered, 2);
   *   assert.equal(stats.dropped, 3);
   * }());
   * ```
   */
  statistics(): SubscriptionStatistics {
    const member = this.#member;
    return {
      buffered: member.core.waiting,
      peakBuffered: member.core.peakWaiting,
      dropped: member.dropped,
      missed: member.missed,
      closed: member.core.closed,
    };
  }
}
