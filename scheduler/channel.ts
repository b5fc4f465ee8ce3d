import { checkCount, checkName, checkOptions } from "./_checks.ts";
import type { Effect } from "./effect.ts";
import { ChannelCore, ReceiveOperation, SendOperation } from "./_channel_core.ts";
import { sharedError } from "./_story.ts";

/** Options for {@linkcode Channel}. */
export interface ChannelOptions {
  /**
   * A name for the channel, shown in descriptions (and so in a `DeadlockError`) and in
   * error messages.
   *
   * @default {undefined}
   */
  name?: string;
}

/** What {@linkcode Channel.statistics} gives. */
export interface ChannelStatistics {
  /** Items in the buffer now, including ones promised to receivers about to run. */
  buffered: number;
  /** The capacity the channel was made with. */
  capacity: number;
  /** Threads waiting to send. */
  waitingSenders: number;
  /** Threads waiting to receive. */
  waitingReceivers: number;
  /**
   * The most items the buffer has held at once so far, those promised to receivers about
   * to run included (so a rendezvous channel that passed an item shows 1): a guide for
   * sizing it.
   */
  peakBuffered: number;
  /** Whether the channel is closed. */
  closed: boolean;
}

/**
 * A queue that threads of one run hand values through: `send` waits while the buffer is
 * full, `receive` waits while it is empty. A capacity of 0 makes a rendezvous: each send
 * waits for a receiver. Waits are inside the run, so a `VirtualClock` keeps jumping over
 * them and a run whose threads all wait on channels ends with a `DeadlockError`.
 *
 * Cancellation is safe: a receive killed (or timed out) while it waits takes nothing, so
 * the item goes to the next receiver, in order; a send killed while it waits delivers its
 * item either fully or not at all. Waiting senders and receivers are served first come,
 * first served.
 *
 * `receive` gives `{ value, done: false }`, and `{ value: undefined, done: true }` once the
 * channel is closed and drained (or throws the error it was closed with): the end is a
 * value, not an exception, so a loop reads
 * `for (let item; !(item = yield* channel.receive()).done;) use(item.value);`.
 *
 * @typeParam T The type of the values.
 *
 * @example A producer and a consumer
 * ```ts
 * import assert from "node:assert/strict";
 * import { Channel, run, spawn } from "@bluelet/bluelet";
 *
 * const got = await run(function* () {
 *   const channel = new Channel<number>(2);
 *   yield* spawn(function* () {
 *     for (let i = 1; i <= 5; i++) yield* channel.send(i);
 *     channel.close();
 *   }());
 *   const got: number[] = [];
 *   for (let item; !(item = yield* channel.receive()).done;) got.push(item.value);
 *   return got;
 * }());
 * assert.deepEqual(got, [1, 2, 3, 4, 5]);
 * ```
 */
export class Channel<T> {
  readonly #core: ChannelCore<T>;

  /**
   * Creates a channel.
   *
   * @param capacity How many items it buffers: 0 for a rendezvous, `Infinity` for no limit.
   * @param options A name for descriptions and messages.
   * @throws {TypeError} If `capacity` is not a number.
   * @throws {RangeError} If `capacity` is negative or not an integer (or `Infinity`).
   */
  constructor(capacity = 0, options: ChannelOptions = {}) {
    checkCount(capacity, 0, "Cannot create channel", "capacity");
    checkOptions(options, "Cannot create channel");
    const name = options?.name ?? undefined;
    checkName(name, "Cannot create channel");
    this.#core = new ChannelCore<T>(
      capacity,
      name === undefined ? "Channel" : `Channel ${JSON.stringify(name)}`,
      name === undefined ? "channel" : `channel ${JSON.stringify(name)}`,
    );
  }

  /**
   * Sends a value, waiting while the buffer is full (for a rendezvous, until a receiver
   * takes it). Each call makes a new event, which `select` also accepts.
   *
   * @param value The value to send.
   * @returns An event that resumes once the value is in the channel. It throws
   * {@linkcode ClosedError} if the channel is closed, or closes while the send waits (the
   * value was then not delivered).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Channel, run } from "@bluelet/bluelet";
   *
   * const channel = new Channel<string>(1);
   * await run(channel.send("hello"));
   * assert.deepEqual(channel.tryReceive(), { value: "hello", done: false });
   * ```
   */
  send(value: T): Effect<void> {
    return new SendOperation(this.#core, value);
  }

  /**
   * Receives the next value, waiting while the channel is empty. Each call makes a new
   * event, which `select` also accepts.
   *
   * @returns An event that resumes with `{ value, done: false }`, or with
   * `{ value: undefined, done: true }` once the channel is closed and drained. If it was
   * closed with an error, the event throws that error instead of ending.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Channel, run } from "@bluelet/bluelet";
   *
   * const channel = new Channel<number>(1);
   * channel.trySend(7);
   * channel.close();
   * assert.deepEqual(await run(channel.receive()), { value: 7, done: false });
   * assert.deepEqual(await run(channel.receive()), { value: undefined, done: true });
   * ```
   */
  receive(): Effect<IteratorResult<T, undefined>> {
    return new ReceiveOperation(this.#core);
  }

  /**
   * Sends a value if that needs no wait: a receiver waits for it or the buffer has room.
   * Code outside the run (a timer's callback) may call it, but a run cannot see such code
   * coming: one whose threads all wait on channels with nothing of the outside pending ends
   * with a `DeadlockError` (see the README's "Cooperating threads").
   *
   * @param value The value to send.
   * @returns Whether it was sent.
   * @throws {ClosedError} If the channel is closed.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Channel } from "@bluelet/bluelet";
   *
   * const channel = new Channel<number>(1);
   * assert.equal(channel.trySend(1), true);
   * assert.equal(channel.trySend(2), false); // full
   * ```
   */
  trySend(value: T): boolean {
    const core = this.#core;
    if (core.closed) throw core.closedError();
    if (!core.hasRoom()) return false;
    core.put(value);
    return true;
  }

  /**
   * Receives a value if one is there (buffered, or held by a waiting sender).
   *
   * @returns `{ value, done: false }`; `{ value: undefined, done: true }` if the channel is
   * closed and drained; `undefined` if receiving would have to wait.
   * @throws The error the channel was closed with, once it is drained.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Channel } from "@bluelet/bluelet";
   *
   * const channel = new Channel<number>(1);
   * assert.equal(channel.tryReceive(), undefined);
   * channel.trySend(1);
   * assert.deepEqual(channel.tryReceive(), { value: 1, done: false });
   * ```
   */
  tryReceive(): IteratorResult<T, undefined> | undefined {
    const core = this.#core;
    if (core.readyToTake()) return core.take();
    return core.ended() ? core.takeAfterClose() : undefined;
  }

  /**
   * Closes the channel. Buffered values can still be received; after them, receivers get
   * the end (`done: true`), or `error` thrown if one is given. A value handed to a receiver
   * that has not run yet counts as buffered until it is taken: should that receiver be
   * killed, the next one gets it, and only then the end. (Not one a `select` with helper
   * cases holds while its helpers unwind: see the README on `select`.) Waiting senders,
   * and every later send, throw {@linkcode ClosedError}. Closing again does nothing.
   *
   * @param error If given, what receivers throw once the channel is drained. `undefined`
   * counts as not given, so `close(undefined)` is a clean close: a wrapper that passes on
   * an optional error does not turn a clean close into a failure.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Channel, run } from "@bluelet/bluelet";
   *
   * const channel = new Channel<number>(1);
   * channel.close(new Error("producer failed"));
   * await assert.rejects(run(channel.receive()), { message: "producer failed" });
   * ```
   */
  close(error?: unknown): void {
    this.#core.close(error === undefined ? null : sharedError(error));
  }

  /**
   * Whether the channel is closed.
   *
   * @returns `true` once {@linkcode Channel.close} was called.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Channel } from "@bluelet/bluelet";
   *
   * const channel = new Channel<number>();
   * channel.close();
   * assert.equal(channel.closed, true);
   * ```
   */
  get closed(): boolean {
    return this.#core.closed;
  }

  /**
   * Reports the channel's state, for monitoring and for sizing its buffer.
   *
   * @returns The numbers, taken now.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Channel } from "@bluelet/bluelet";
   *
   * const channel = new Channel<number>(4);
   * channel.trySend(1);
   * channel.trySend(2);
   * channel.tryReceive();
   * const stats = channel.statistics();
   * assert.equal(stats.buffered, 1);
   * assert.equal(stats.peakBuffered, 2);
   * ```
   */
  statistics(): ChannelStatistics {
    const core = this.#core;
    return {
      buffered: core.holding ? 1 : core.buffer.size,
      capacity: core.capacity,
      waitingSenders: core.senders.size,
      waitingReceivers: core.receivers.size,
      peakBuffered: core.peak,
      closed: core.closed,
    };
  }
}
