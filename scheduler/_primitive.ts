// The kernel's one extension point for leaf operations: a small state machine instead of a
// generator. The socket events, channels and locks are all primitives, built on this
// protocol alone (published as `@bluelet/bluelet/lowlevel`). A generator per operation
// costs an allocation, a kernel frame and two resumptions; a primitive is one small object.
// Like Effection's leaf operations, it pairs the start of its work with its teardown, so a
// kill can never lose what the work produced.
import { Kind, tagKind } from "./_effects.ts";
import { Effect } from "./effect.ts";

/**
 * What {@linkcode Primitive.start} returns to wait until {@linkcode Primitive.wake} is
 * called by another thread of the same run (a channel's sender, a lock's holder). Such a
 * wait cannot end by itself: the virtual clock may jump past it, and a run whose threads
 * all wait this way is deadlocked.
 */
export const SUSPEND: unique symbol = Symbol("bluelet.suspend");

/**
 * What {@linkcode Primitive.start} returns to wait until {@linkcode Primitive.wake} is
 * called from outside the run (an event listener, a callback API). The run stays alive
 * while it waits and the virtual clock holds still, as for a pending promise.
 */
export const SUSPEND_EXTERNAL: unique symbol = Symbol("bluelet.suspendExternal");

/** How a primitive waits, as {@linkcode Primitive.start} tells the kernel. */
export type Wait = PromiseLike<unknown> | null | typeof SUSPEND | typeof SUSPEND_EXTERNAL;

/** The side of the kernel a primitive sees while a thread waits on it. */
export interface PrimitiveWaiter {
  /** Resumes the waiting thread if it still waits on `primitive`. */
  wake(primitive: Primitive<unknown>): void;
}

/**
 * Binds a primitive to the thread about to run it, unless another thread runs it already
 * (then says false); only the kernel calls this.
 */
export let claimPrimitive: (primitive: Primitive<unknown>, waiter: PrimitiveWaiter) => boolean;

/** Unbinds a primitive from the thread that ran it; only the kernel calls this. */
export let releasePrimitive: (primitive: Primitive<unknown>) => void;

// The thread running a primitive: a symbol-keyed field, not a private one. V8 makes a
// private field in a base class cost about 10 ns on every construction of a subclass (half
// of what making a channel operation costs); a symbol key costs nothing extra.
const WAITER: unique symbol = Symbol("bluelet.waiter");

/**
 * A leaf operation the kernel runs as a state machine: the low-level way to make a new
 * kind of event (a socket read, a channel receive, a wait on a callback API). Its life:
 *
 * 1. `start()` when a thread yields it: begins the work and says how to wait: `null` when
 *    the result is already there, a promise for work outside the run, or
 *    {@linkcode SUSPEND} / {@linkcode SUSPEND_EXTERNAL} to wait for `wake()`. If it
 *    throws, the error is thrown into the thread at once. With `yield*`, `start` runs as
 *    the yielding generator asks for the primitive's first result, just before it
 *    suspends (with `yield`, just after): it must not resume that generator itself.
 * 2. For a promise: `settled(ok, value)` in the promise's own reaction, before the thread
 *    is queued. It takes the outcome in (so nothing is lost if the thread is killed before
 *    it runs again) and gives another promise to wait on, or `null` when done. It must not
 *    throw: an error belongs in the result `finish` gives.
 * 3. `finish()` when the thread runs again: gives the result, or throws the error, at the
 *    thread's yield point.
 *
 * If the thread is killed (or its run ends) after `start` and before `finish`, the kernel
 * calls `cancel()` instead of `finish()`, even when the wait had already ended: `cancel`
 * must leave things so that nothing the work produced is lost (a channel puts a received
 * item back). Exactly one of `finish` and `cancel` is called once `start` returned.
 *
 * A primitive serves one thread at a time: yielding it while it is in progress throws a
 * `TypeError`. Once finished or cancelled, it may be yielded again.
 *
 * @typeParam T The value the thread resumes with.
 *
 * @example A wait on a callback API, with its teardown
 * ```ts
 * import assert from "node:assert/strict";
 * import { run } from "@bluelet/bluelet";
 * import { Primitive, SUSPEND_EXTERNAL } from "@bluelet/bluelet/lowlevel";
 *
 * // Waits for the first `type` event on `target`, and stops listening on every exit.
 * class NextEvent extends Primitive<Event> {
 *   readonly description: string;
 *   #event: Event | null = null;
 *   constructor(readonly target: EventTarget, readonly type: string) {
 *     super();
 *     this.description = `next event "${type}"`;
 *   }
 *   readonly #listener = (event: Event) => {
 *     this.#event = event;
 *     this.wake();
 *   };
 *   start(): typeof SUSPEND_EXTERNAL {
 *     this.target.addEventListener(this.type, this.#listener, { once: true });
 *     return SUSPEND_EXTERNAL;
 *   }
 *   finish(): Event {
 *     return this.#event!;
 *   }
 *   cancel(): void {
 *     this.target.removeEventListener(this.type, this.#listener);
 *   }
 * }
 *
 * const target = new EventTarget();
 * setTimeout(() => target.dispatchEvent(new Event("ready")), 1);
 * const event = await run(new NextEvent(target, "ready"));
 * assert.equal(event.type, "ready");
 * ```
 */
export abstract class Primitive<T> extends Effect<T> {
  /**
   * The thread running this primitive, from `start` until `finish` or `cancel`.
   *
   * @ignore
   */
  declare [WAITER]: PrimitiveWaiter | null;

  /** Makes a primitive that no thread runs yet. */
  constructor() {
    super();
    this[WAITER] = null;
  }

  /**
   * Begins the work.
   *
   * @returns `null` if the result is there now; a promise to wait on; or
   * {@linkcode SUSPEND} / {@linkcode SUSPEND_EXTERNAL} to wait for {@linkcode wake}.
   */
  abstract start(): Wait;

  /**
   * Takes in how the promise `start` (or the last `settled`) gave ended. Only primitives
   * that wait on promises need it; the default throws.
   *
   * @param ok Whether the promise fulfilled.
   * @param value Its value, or the reason it rejected.
   * @returns Another promise to wait on, or `null` when done.
   */
  settled(ok: boolean, value: unknown): PromiseLike<unknown> | null {
    void ok, value;
    throw new TypeError(
      `Cannot settle primitive ${this.description}: it waited on a promise but does not define settled()`,
    );
  }

  /**
   * Gives the result once the wait is over, or throws the error.
   *
   * @returns The value the thread resumes with.
   */
  abstract finish(): T;

  /** Undoes what `start` began, leaving anything it produced for the next operation. */
  abstract cancel(): void;

  /**
   * Ends a {@linkcode SUSPEND} or {@linkcode SUSPEND_EXTERNAL} wait: the thread is queued
   * and `finish` is called when it runs. Safe to call at any time and from anywhere: it
   * does nothing unless a thread is waiting on this primitive, so a late or second call is
   * harmless.
   */
  wake(): void {
    this[WAITER]?.wake(this);
  }

  /** Whether a thread is running this primitive now, from `start` until `finish`/`cancel`. */
  get busy(): boolean {
    return this[WAITER] !== null;
  }

  static {
    tagKind(this, Kind.Primitive);
    // One load and one store to start, one store to finish: every primitive class has its
    // own shape, so in a kernel that runs many of them each access of the field is slow.
    claimPrimitive = (primitive, waiter) => {
      if (primitive[WAITER] !== null) return false;
      primitive[WAITER] = waiter;
      return true;
    };
    releasePrimitive = (primitive) => {
      primitive[WAITER] = null;
    };
  }
}
