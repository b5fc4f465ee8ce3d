// The state machine behind Channel (and each Broadcast subscription): a buffer, a FIFO of
// waiting receivers and one of waiting senders, and the operations that wait on them.
//
// Cancellation safety comes from one rule: an item leaves the buffer only when a receive
// *finishes* (gives the item to its thread). A waiting receiver that an item arrives for
// is only *reserved* one: the count of reserved items grows, the item stays at its place
// in the buffer, and the receiver is woken. If it is killed before it runs, the kernel
// cancels it and the reservation passes to the next waiter; the item never moved. Every
// taker takes the buffer's head, so items leave in the order they came, whichever
// receiver ends up with them. Reserved items do not count towards the capacity (they are
// handed out), so a sender never waits on a receiver that is about to run.
//
// The common case skips the buffer: an item that finds the buffer empty, nothing handed
// out, and a plain receive first in the queue is handed to that receive (`handOff`), which
// holds it. That is the same as reserving it, for as long as it is the only item: so the
// moment another item comes (`accept`), the held one goes back to the buffer, ahead of it,
// and its receive becomes an ordinary reserved one. Every taker then takes the head, as
// before. Killed before it runs, a receive that still holds its item puts it back into the
// empty buffer (`handBack`). (A push and a shift less per item in the common case: about
// 5% of a ping-pong.)
//
// A waiting sender holds its own item until there is room (or a receiver waits, for a
// rendezvous): then the item moves into the buffer and the sender is woken, its send done.
// Killed before that, it leaves the queue and the item is not delivered; after, it was.
import { Effect, Primitive, SUSPEND } from "./lowlevel.ts";
import { waitingIterator } from "./effect.ts";
import { ClosedError } from "./closed_error.ts";
import { Deque } from "./_deque.ts";
import { atOnce, fastPath } from "./_at_once.ts";
import { Finished } from "./_finished.ts";
import { type Link, WaitList } from "./_wait_list.ts";

/** A receive waiting in a channel's queue (a plain receive, or a case of a `select`). */
export interface ReceiveWaiter extends Link {
  /** An item is reserved for it (the channel counted it). */
  reserved(): void;
  /** The channel closed while it waited. */
  closed(): void;
}

/** A send waiting in a channel's queue. */
export interface SendWaiter extends Link {
  readonly value: unknown;
  /** Its item moved into the channel: the send is done. */
  delivered(): void;
  /** The channel closed while it waited: its item was not delivered. */
  failed(): void;
}

/** What a finished receive gives at the end of a closed, drained channel. */
export const DONE: IteratorReturnResult<undefined> = Object.freeze({
  value: undefined,
  done: true,
});

export class ChannelCore<T> {
  readonly buffer: Deque<T> = new Deque<T>();
  readonly receivers: WaitList<ReceiveWaiter> = new WaitList<ReceiveWaiter>();
  readonly senders: WaitList<SendWaiter> = new WaitList<SendWaiter>();
  /** Items in the buffer promised to woken receivers that have not run yet. */
  reserved = 0;
  /**
   * Whether a woken receive (the holder) holds the channel's only item, outside the buffer
   * (see `handOff`). While one does, the buffer is empty.
   */
  holding = false;
  /**
   * The item the holder holds, kept here rather than in the receive, so that the core
   * needs no pointer to it: a new object stored into a long-lived one costs V8 the slow
   * path of its write barrier.
   */
  held: T | undefined = undefined;
  /**
   * Of those, the items held by `select`s that won with them and wait for their helper
   * threads' cleanup before they take them: as good as taken, for `ended`.
   */
  settling = 0;
  /** The most items the buffer has held at once, reserved ones included (a channel's). */
  peak = 0;
  /** The most items waiting at once, reserved ones not included (a subscription's). */
  peakWaiting = 0;
  closed = false;
  /** Set by `discard`: the core keeps no item that is not promised to a woken receiver. */
  discarding = false;
  /** Makes the error a drained closed channel throws; null ends it without one. */
  reason: (() => unknown) | null = null;
  /** Called whenever a receive takes an item (a subscription frees room for a publisher). */
  onTake: (() => void) | null = null;
  /** Called when a receive takes the end of the closed, drained channel. */
  onEnd: (() => void) | null = null;

  /**
   * @param capacity How many items the buffer holds before a send waits.
   * @param label What descriptions call it: `Channel`, `Channel "jobs"`.
   * @param noun What error messages call it: `channel`, `channel "jobs"`.
   */
  constructor(readonly capacity: number, readonly label: string, readonly noun: string) {}

  /** Whether an item can be taken now, moving a waiting sender's in first if need be. */
  readyToTake(): boolean {
    if (this.buffer.size > this.reserved) return true;
    const sender = this.senders.shift();
    if (sender === null) return false;
    this.accept(sender.value as T);
    sender.delivered();
    return true;
  }

  /** Whether a new item can be put in now (the caller checks `closed` first). */
  hasRoom(): boolean {
    return this.receivers.size > 0 || this.buffer.size - this.reserved < this.capacity;
  }

  /** Takes the head item, for a receive that finishes now. */
  take(): IteratorYieldResult<T> {
    const value = this.buffer.shift();
    this.pump();
    this.onTake?.();
    return { value, done: false };
  }

  /**
   * Whether a receive that finds no item free gets the end now: the channel is closed and
   * no item is held for a woken receiver. One that is may come back (its receiver killed
   * before it ran), and then the next receiver must be there to take it. An item a
   * `select` holds while it waits for its helper threads' cleanup counts as taken: the
   * threads that cleanup waits for (its helpers, what they started or joined) may well
   * receive from this channel, and must not wait for that item.
   */
  ended(): boolean {
    return this.closed && this.reserved === this.settling && !this.holding;
  }

  /** What a receive gives once the channel has ended: an item left, the end, or the error. */
  takeAfterClose(): IteratorResult<T, undefined> {
    if (this.buffer.size > this.reserved) return this.take();
    this.onEnd?.();
    if (this.reason !== null) throw this.reason();
    return DONE;
  }

  /** Puts an item in and serves a waiting receiver with it. */
  put(value: T): void {
    if (this.receivers.size > 0 && this.handOff(value)) return;
    this.accept(value);
    if (this.receivers.size > 0) this.pump();
  }

  /**
   * Gives `value` straight to the first waiting receiver, if it is a plain receive and the
   * buffer is empty with no item held: the item skips the buffer (see the top of the file).
   */
  handOff(value: T): boolean {
    const receiver = this.receivers.first;
    if (!(receiver instanceof ReceiveOperation) || this.buffer.size !== 0 || this.holding) {
      return false;
    }
    this.receivers.shift();
    this.holding = true;
    this.held = value;
    if (this.peak === 0) this.peak = 1;
    receiver.handed();
    return true;
  }

  /** The holder takes its item. */
  takeHeld(): IteratorYieldResult<T> {
    const value = this.held as T;
    this.held = undefined;
    this.holding = false;
    // Receivers waiting on a closed channel for this item's fate get the end now.
    if (this.closed) this.pump();
    this.onTake?.();
    return { value, done: false };
  }

  /**
   * The holder was cancelled: its item goes into the (empty) buffer, for the next; a closed
   * subscription drops it.
   */
  handBack(): void {
    const value = this.held as T;
    this.held = undefined;
    this.holding = false;
    if (!this.discarding) this.accept(value);
    this.pump();
    this.noteWaiting();
  }

  accept(value: T): void {
    // The held item came first: it goes to the buffer ahead of this one, reserved for its
    // holder, which from now on waits as a reserved receive does (see `finish`).
    if (this.holding) {
      this.holding = false;
      this.buffer.push(this.held as T);
      this.held = undefined;
      this.reserved++;
    }
    this.buffer.push(value);
    if (this.buffer.size > this.peak) this.peak = this.buffer.size;
  }

  /** Items in the buffer not promised to a woken receiver. */
  get waiting(): number {
    return this.buffer.size - this.reserved;
  }

  /** Updates `peakWaiting`; called where `waiting` can grow past it. */
  noteWaiting(): void {
    const waiting = this.waiting;
    if (waiting > this.peakWaiting) this.peakWaiting = waiting;
  }

  /** A woken receiver was cancelled: its item goes to the next one. */
  unreserve(): void {
    this.reserved--;
    // A closed subscription keeps only the items promised to woken receivers: this one no
    // longer is (the youngest goes: every taker takes the head).
    if (this.discarding) this.buffer.pop();
    this.pump();
    // With no receiver to take it, the item waits again, past the capacity if need be.
    this.noteWaiting();
  }

  /** Restores the invariants after a change: no receiver waits while an item is free, no
   * sender waits while there is room. */
  pump(): void {
    const receivers = this.receivers;
    while (receivers.size > 0) {
      if (this.buffer.size > this.reserved) {
        this.reserved++;
        receivers.shift()!.reserved();
      } else if (this.senders.size > 0) {
        const sender = this.senders.shift()!;
        this.accept(sender.value as T);
        sender.delivered();
      } else if (this.ended()) {
        receivers.shift()!.closed();
      } else return;
    }
    while (this.senders.size > 0 && this.buffer.size - this.reserved < this.capacity) {
      const sender = this.senders.shift()!;
      this.accept(sender.value as T);
      sender.delivered();
    }
  }

  close(reason: (() => unknown) | null): void {
    if (this.closed) return;
    this.closed = true;
    this.reason = reason;
    let sender;
    while ((sender = this.senders.shift()) !== null) sender.failed();
    this.pump();
  }

  /**
   * Drops every item not promised to a woken receiver (a subscription that was closed), and
   * from now on each that a killed receiver gives back.
   */
  discard(): void {
    this.discarding = true;
    while (this.buffer.size > this.reserved) this.buffer.pop();
  }

  closedError(): ClosedError {
    return new ClosedError(`Cannot send on ${this.noun}: it is closed`);
  }
}

// The fast path. `yield* operation` asks the operation for an iterator first: a receive
// that finds an item, or a send that finds room, takes effect right there and gives a
// finished iterator, without a round trip through the kernel (which costs more than the
// channel work itself). Only `yield*` takes it; Bluelet-style `yield` goes to the kernel.
// Nothing observable changes (an operation that needs no wait never gave way to another
// thread anyway) except that the kernel counts no step for it: `fastPath()` sends one in
// so many the slow way, so that a thread looping on such operations still gives way.
//
// One that has to wait begins its wait there too, when the iterator is first asked for a
// result (`waitAtOnce`): the kernel marks the thread suspended on it (`atOnce.suspend`,
// under the same rules as a primitive begun by `#doAtOnce`) and the operation joins its
// queue, without the kernel's dispatch and `start`. Anything unusual (a closed channel, a
// busy operation, a step budget about to run out) takes the usual way.

/** What a send that took effect at once gives: nothing, so one object serves them all. */
const SENT: Finished<void> = new Finished<void>(undefined);

// The slow way: the iterator every event has. (A keyed `super[Symbol.iterator]` would be a
// slow runtime lookup in V8 on every operation.)
const effectIterator = Effect.prototype[Symbol.iterator];

// Receive states.
const IDLE = 0;
const QUEUED = 1;
const READY = 2;
const RESERVED = 3;
const CLOSED = 4;
const HANDED = 5;

// The operations set their fields in the constructor rather than with class-field
// initializers: V8 runs initializers of a derived class as a separate, slower step, and an
// operation is made for every send and receive.

/** `channel.receive()`: one receive, a new object per call. */
export class ReceiveOperation<T> extends Primitive<IteratorResult<T, undefined>>
  implements ReceiveWaiter {
  declare prevLink: Link | null;
  declare nextLink: Link | null;
  declare inList: WaitList<Link> | null;
  declare state: number;
  declare readonly core: ChannelCore<T>;

  constructor(core: ChannelCore<T>) {
    super();
    this.prevLink = this.nextLink = this.inList = null;
    this.state = IDLE;
    this.core = core;
  }

  get description(): string {
    return `receive(${this.core.label})`;
  }

  /** See the fast path above. */
  override [Symbol.iterator](): Iterator<
    Effect<IteratorResult<T, undefined>>,
    IteratorResult<T, undefined>,
    unknown
  > {
    if (!this.busy && fastPath()) {
      if (this.core.readyToTake()) return new Finished(this.core.take());
      return waitingIterator(this);
    }
    return effectIterator.call(this) as Iterator<
      Effect<IteratorResult<T, undefined>>,
      IteratorResult<T, undefined>,
      unknown
    >;
  }

  /** Queues a receive that finds no item and no end, where `yield*` asks for it. */
  waitAtOnce(): boolean {
    const core = this.core;
    // A closed channel takes the usual way, whose `start` knows the end's finer rules.
    if (core.buffer.size > core.reserved || core.senders.size > 0 || core.closed) return false;
    // As in SendOperation.waitAtOnce: each written out, so each access stays of one shape.
    const suspend = atOnce.suspend;
    if (suspend === null || !suspend(this)) return false;
    this.state = QUEUED;
    core.receivers.push(this);
    return true;
  }

  start(): typeof SUSPEND | null {
    const core = this.core;
    if (core.readyToTake()) this.state = READY;
    else if (core.ended()) this.state = CLOSED;
    else {
      this.state = QUEUED;
      core.receivers.push(this);
      return SUSPEND;
    }
    return null;
  }

  reserved(): void {
    this.state = RESERVED;
    this.wake();
  }

  closed(): void {
    this.state = CLOSED;
    this.wake();
  }

  /** It is handed the channel's only item, which the core holds for it (`handOff`). */
  handed(): void {
    this.state = HANDED;
    this.wake();
  }

  finish(): IteratorResult<T, undefined> {
    const state = this.state;
    this.state = IDLE;
    // Handed an item: still holding it, or made a reserved receive since (see `accept`).
    // Only one receive is ever handed an item at a time, and the reservation keeps another
    // from being handed one until this receive is done.
    if (state === HANDED && this.core.holding) return this.core.takeHeld();
    if (state === RESERVED || state === HANDED) {
      this.core.reserved--;
      return this.core.take();
    }
    if (state === READY) return this.core.take();
    return this.core.takeAfterClose();
  }

  cancel(): void {
    const state = this.state;
    this.state = IDLE;
    if (state === QUEUED) this.core.receivers.remove(this);
    else if (state === HANDED && this.core.holding) this.core.handBack();
    else if (state === RESERVED || state === HANDED) this.core.unreserve();
  }
}

// Send states (IDLE and QUEUED as above).
const DELIVERED = 2;
const FAILED = 3;

/** `channel.send(value)`: one send, a new object per call. */
export class SendOperation<T> extends Primitive<void> implements SendWaiter {
  declare prevLink: Link | null;
  declare nextLink: Link | null;
  declare inList: WaitList<Link> | null;
  declare state: number;
  declare readonly core: ChannelCore<T>;
  declare readonly value: T;

  constructor(core: ChannelCore<T>, value: T) {
    super();
    this.prevLink = this.nextLink = this.inList = null;
    this.state = IDLE;
    this.core = core;
    this.value = value;
  }

  get description(): string {
    return `send(${this.core.label})`;
  }

  /** See the fast path above. */
  override [Symbol.iterator](): Iterator<Effect<void>, void, unknown> {
    const core = this.core;
    if (!this.busy && !core.closed && fastPath()) {
      if (core.hasRoom()) {
        core.put(this.value);
        return SENT;
      }
      return waitingIterator(this);
    }
    return effectIterator.call(this) as Iterator<Effect<void>, void, unknown>;
  }

  /** Queues a send that finds no room, where `yield*` asks for it. */
  waitAtOnce(): boolean {
    const core = this.core;
    if (core.closed || core.hasRoom()) return false;
    const suspend = atOnce.suspend;
    if (suspend === null || !suspend(this)) return false;
    this.state = QUEUED;
    core.senders.push(this);
    return true;
  }

  start(): typeof SUSPEND | null {
    const core = this.core;
    if (core.closed) throw core.closedError();
    if (core.hasRoom()) {
      core.put(this.value);
      return null;
    }
    this.state = QUEUED;
    core.senders.push(this);
    return SUSPEND;
  }

  delivered(): void {
    this.state = DELIVERED;
    this.wake();
  }

  failed(): void {
    this.state = FAILED;
    this.wake();
  }

  finish(): void {
    const state = this.state;
    this.state = IDLE;
    if (state === FAILED) throw this.core.closedError();
  }

  cancel(): void {
    if (this.state === QUEUED) this.core.senders.remove(this);
    this.state = IDLE;
  }
}
