// What a Broadcast and its Subscriptions share: the set of subscribers, the waiting
// publishers, and how an item reaches each subscriber under the overflow policy. Each
// subscription's buffer is a ChannelCore, so a receive from it is as cancellation-safe as
// a channel's (and `select` accepts it).
import { Primitive, SUSPEND } from "./lowlevel.ts";
import { ClosedError } from "./closed_error.ts";
import { LaggedError } from "./lagged_error.ts";
import { ChannelCore } from "./_channel_core.ts";
import { type Link, WaitList } from "./_wait_list.ts";

export type Overflow = "wait" | "dropOldest" | "end";

export class Member<T> {
  readonly core: ChannelCore<T>;
  dropped = 0;
  lagged = false;
  /** How many items the hub had sent out before the first one this member missed. */
  #publishedBeforeLag = 0;
  closed = false;
  /** Behind `Subscription.signal`, made on first use. */
  controller: AbortController | null = null;
  /**
   * Takes the subscription's listener off its thread's abort signal, once it is over: a
   * thread that lives long and subscribes over and over must not keep every one.
   */
  letGo: (() => void) | null = null;
  constructor(readonly hub: Hub<T>) {
    this.core = new ChannelCore<T>(hub.capacity, `Subscription of ${hub.label}`, "subscription");
    if (hub.overflow === "wait") this.core.onTake = hub.onTake;
  }

  /** Items published since it was ended for falling behind, that one included. */
  get missed(): number {
    return this.lagged ? this.hub.published - this.#publishedBeforeLag : 0;
  }

  /** Puts an item in, applying the overflow policy if there is no room. */
  deliver(value: T): void {
    const core = this.core;
    if (core.hasRoom()) core.put(value);
    else if (this.hub.overflow === "dropOldest") {
      // Drop first, so the buffer never holds more than its capacity. The oldest item not
      // yet promised to a woken receiver is the one to go.
      core.buffer.removeAt(core.reserved);
      core.accept(value);
      this.dropped++;
    } else {
      // The hub lets go of it: it is over, so it must neither count as a subscriber nor be
      // kept alive by the broadcast. `missed` goes on counting from the hub's total.
      this.lagged = true;
      this.#publishedBeforeLag = this.hub.published - 1;
      this.hub.members.delete(this);
      core.close(() => new LaggedError(this.missed));
      this.controller?.abort(new LaggedError(1)); // as the `signal` getter says
      this.over();
      return;
    }
    this.core.noteWaiting();
  }

  /** Ends the subscription's signal, if anyone asked for it; the hub is done with it. */
  ended(): void {
    this.controller?.abort(new ClosedError("Cannot receive from subscription: it has ended"));
    this.over();
  }

  /**
   * The hub is done with it. Once its end is taken (at once, if nothing is buffered),
   * nothing needs to end it when its thread does; until then, the thread's end drops what
   * it buffered, as for any subscription.
   */
  over(): void {
    if (this.core.waiting > 0) {
      this.core.onEnd = () => this.#letGoNow();
      return;
    }
    this.#letGoNow();
  }

  #letGoNow(): void {
    this.core.onEnd = null;
    const letGo = this.letGo;
    this.letGo = null;
    letGo?.();
  }
}

export class Hub<T> {
  readonly members: Set<Member<T>> = new Set();
  readonly publishers: WaitList<Publish<T>> = new WaitList<Publish<T>>();
  /** Items sent out so far, for what a lagged member missed. */
  published = 0;
  closed = false;
  /** What the broadcast was closed with, for those who subscribe after. */
  closeReason: (() => unknown) | null = null;
  /**
   * While an item goes out, what is published meanwhile (by a subscription's signal
   * listener, which runs as a member lags) waits its turn in `#queued`, so that every
   * subscription sees the items in one order. Under "wait" such a publish waits as a
   * publisher instead (it could not know whether there is room), pumped once it is over.
   */
  #delivering = false;
  readonly #queued: T[] = [];
  #refused = false;
  /** A close asked for during a delivery: it takes effect once what is going out is out. */
  #closing: { reason: (() => unknown) | null } | null = null;

  constructor(
    readonly capacity: number,
    readonly overflow: Overflow,
    readonly label: string,
    readonly noun: string,
  ) {}

  readonly onTake = (): void => {
    if (this.publishers.size > 0) this.pumpPublishers();
  };

  /** Whether an item can go out now without waiting. */
  canPublish(): boolean {
    if (this.overflow !== "wait") return true;
    if (this.#delivering) {
      this.#refused = true;
      return false;
    }
    if (this.publishers.size > 0) return false;
    return this.#allHaveRoom();
  }

  #allHaveRoom(): boolean {
    for (const member of this.members) if (!member.core.hasRoom()) return false;
    return true;
  }

  deliver(value: T): void {
    if (this.#delivering) {
      this.#queued.push(value);
      return;
    }
    this.#delivering = true;
    try {
      this.#deliverOne(value);
      const queued = this.#queued;
      for (let i = 0; i < queued.length; i++) this.#deliverOne(queued[i]);
    } finally {
      this.#queued.length = 0;
      this.#delivering = false;
    }
    const closing = this.#closing;
    if (closing !== null) {
      this.#closing = null;
      this.#closeMembers(closing.reason);
      return;
    }
    if (this.#refused) {
      this.#refused = false;
      if (this.publishers.size > 0) this.pumpPublishers();
    }
  }

  #deliverOne(value: T): void {
    this.published++;
    // A member that lags leaves `members` during this loop, which a Set allows.
    for (const member of this.members) member.deliver(value);
  }

  pumpPublishers(): void {
    while (this.publishers.size > 0 && this.#allHaveRoom()) {
      const publisher = this.publishers.shift()!;
      this.deliver(publisher.value);
      publisher.delivered();
    }
  }

  remove(member: Member<T>): void {
    if (member.closed) return;
    member.closed = true;
    this.members.delete(member);
    member.core.discard();
    member.core.close(null);
    member.ended();
    if (this.publishers.size > 0) this.pumpPublishers();
  }

  close(reason: (() => unknown) | null): void {
    if (this.closed) return;
    this.closed = true;
    this.closeReason = reason;
    let publisher;
    while ((publisher = this.publishers.shift()) !== null) publisher.failed();
    // Closed by a listener while items go out: those (published before the close) reach
    // every subscription first, then the end.
    if (this.#delivering) this.#closing = { reason };
    else this.#closeMembers(reason);
  }

  #closeMembers(reason: (() => unknown) | null): void {
    for (const member of this.members) {
      member.core.close(reason);
      member.ended();
    }
    this.members.clear();
  }

  closedError(): ClosedError {
    return new ClosedError(`Cannot publish on ${this.noun}: it is closed`);
  }
}

const IDLE = 0;
const QUEUED = 1;
const DELIVERED = 2;
const FAILED = 3;

/** `broadcast.publish(value)`: one publish, a new object per call. */
export class Publish<T> extends Primitive<void> implements Link {
  prevLink: Link | null = null;
  nextLink: Link | null = null;
  inList: WaitList<Link> | null = null;
  #state = IDLE;

  constructor(readonly hub: Hub<T>, readonly value: T) {
    super();
  }

  get description(): string {
    return `publish(${this.hub.label})`;
  }

  start(): typeof SUSPEND | null {
    const hub = this.hub;
    if (hub.closed) throw hub.closedError();
    if (hub.canPublish()) {
      hub.deliver(this.value);
      return null;
    }
    this.#state = QUEUED;
    hub.publishers.push(this);
    return SUSPEND;
  }

  delivered(): void {
    this.#state = DELIVERED;
    this.wake();
  }

  failed(): void {
    this.#state = FAILED;
    this.wake();
  }

  finish(): void {
    const state = this.#state;
    this.#state = IDLE;
    if (state === FAILED) throw this.hub.closedError();
  }

  cancel(): void {
    if (this.#state === QUEUED) this.hub.publishers.remove(this);
    this.#state = IDLE;
  }
}
