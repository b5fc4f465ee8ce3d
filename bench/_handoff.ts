// The least channel the kernel can run, for bench/channel_bench.ts: a queue of items and at
// most one waiting receiver, built on the low-level primitive protocol and nothing else
// (no capacity, no close, no fairness among receivers, and a kill may lose an item). What
// a ping-pong costs through it is what the kernel's thread switches cost on their own;
// what `Channel` costs beyond that is its buffer, reservation and cancellation rules.
// Private to the benchmarks.
import { Primitive, SUSPEND, type Wait } from "../scheduler/lowlevel.ts";

/** Items handed from senders to one receiver; a send never waits. */
export class Handoff<T> {
  readonly items: T[] = [];
  receiver: Take<T> | null = null;

  /** Receives the next item, waiting while there is none. */
  take(): Take<T> {
    return new Take(this);
  }

  /** Hands `item` to the waiting receiver, or queues it. */
  give(item: T): Give<T> {
    return new Give(this, item);
  }
}

/** `handoff.take()`. */
export class Take<T> extends Primitive<T> {
  declare readonly handoff: Handoff<T>;
  declare item: T | undefined;

  constructor(handoff: Handoff<T>) {
    super();
    this.handoff = handoff;
    this.item = undefined;
  }

  get description(): string {
    return "take";
  }

  start(): Wait {
    const handoff = this.handoff;
    if (handoff.items.length === 0) {
      handoff.receiver = this;
      return SUSPEND;
    }
    this.item = handoff.items.shift();
    return null;
  }

  finish(): T {
    return this.item as T;
  }

  cancel(): void {
    this.handoff.receiver = null;
  }
}

/** `handoff.give(item)`. */
export class Give<T> extends Primitive<void> {
  declare readonly handoff: Handoff<T>;
  declare readonly item: T;

  constructor(handoff: Handoff<T>, item: T) {
    super();
    this.handoff = handoff;
    this.item = item;
  }

  get description(): string {
    return "give";
  }

  start(): Wait {
    const handoff = this.handoff;
    const receiver = handoff.receiver;
    if (receiver === null) handoff.items.push(this.item);
    else {
      handoff.receiver = null;
      receiver.item = this.item;
      receiver.wake();
    }
    return null;
  }

  finish(): void {}

  cancel(): void {}
}
