// A leaf operation (a primitive: a receive, an acquire, a socket read) with a deadline,
// waited on in the caller's own thread: what `withTimeout` and `moveOnAfter` make of a
// primitive. They run any other operation in a helper thread, and a helper that has
// finished holds its result until its caller runs again: a caller killed in that instant
// would lose it (an item received, a lock acquired). A primitive needs no helper: this
// wrapper starts it for the caller, and the kernel arms the caller's own timer for the
// deadline (kernel.ts, #onPrimitive), so the result reaches the caller through its one
// wait, with nothing in between, and whatever the primitive was handed before its caller
// ran, its own `cancel` gives back, as for any wait.
import {
  claimPrimitive,
  Primitive,
  releasePrimitive,
  SUSPEND,
  SUSPEND_EXTERNAL,
  type Wait,
} from "./_primitive.ts";

/**
 * How a timed wait about to wait asks the kernel for a timer: `start` leaves itself here,
 * and the kernel takes it once `start` returns. A primitive's `start` is the only code
 * between, so nothing else can see it. Of nested timed waits, the earliest deadline wins
 * (on a tie, the inner one, as for limits on coroutines: the kernel orders deadlines of an
 * instant innermost first): it expires the inner one, whose result the outer one then
 * gives.
 */
export const deadlineRequest: { wait: TimedWait<unknown, unknown> | null } = { wait: null };

/**
 * `thenable` as a promise of this realm. A thenable that is not one may call back at once,
 * more than once, or throw; the promise made from it calls back once, and never from
 * inside `then`. The kernel waits on promises through this too.
 */
export function ownPromise(thenable: PromiseLike<unknown>): PromiseLike<unknown> {
  return thenable instanceof Promise ? thenable : Promise.resolve(thenable);
}

// How a timed wait's inner primitive waits (see `TimedWait.#innerWait`).
const INNER_IDLE = 0;
const INNER_STARTING = 1;
const INNER_SUSPENDED = 2;
const INNER_FOLLOWING = 3;

/** One wait of a {@linkcode TimedWait}: its primitive until the wait ends, then null. */
interface Round {
  wait: object | null;
}
const ENDED_ROUND: Round = { wait: null };

/** `inner` with a deadline; `R` is what the caller gets either way. */
export abstract class TimedWait<T, R> extends Primitive<R> {
  /** The deadline, in milliseconds from the start of the wait; the kernel reads it. */
  declare readonly ms: number;
  declare readonly inner: Primitive<T>;
  /** The inner primitive's `wake` lands here. */
  readonly #waiter = { wake: (): void => this.#innerWoken() };
  /** Between `start` and `finish` or `cancel`. */
  #active = false;
  /**
   * How the inner primitive waits: `wake` ends only a suspension, as in the kernel; one
   * from inside its `start` counts if `start` then suspends, and a stray one while it waits
   * on a promise is ignored (it is done when the promise settles).
   */
  #innerWait = INNER_IDLE;
  #wokenInStart = false;
  /** The inner primitive has its result: the deadline no longer matters. */
  #done = false;
  #expired = false;
  /** An error from cancelling the inner primitive at the deadline, or from its `settled`. */
  #failure: { error: unknown } | null = null;
  /**
   * The current wait, from a start to its end, which empties it: a promise of an earlier
   * wait finds it empty and is ignored. Its callbacks reach this primitive only through
   * it, so a promise that outlives the wait (an OS read a timed-out `recv` left running,
   * which the next read waits on too) keeps neither this primitive nor its inner one.
   */
  #round: Round = ENDED_ROUND;

  constructor(inner: Primitive<T>, ms: number) {
    super();
    this.inner = inner;
    this.ms = ms;
  }

  /** What the caller gets when the deadline came first. */
  protected abstract expired(): R;
  /** What the caller gets from the inner primitive's result. */
  protected abstract finished(value: T): R;

  start(): Wait {
    const inner = this.inner;
    if (!claimPrimitive(inner, this.#waiter)) {
      throw new TypeError(
        `Cannot start ${inner.description}: it is already in progress in another thread`,
      );
    }
    this.#round = { wait: this };
    this.#active = true;
    this.#done = this.#expired = false;
    this.#failure = null;
    let wait: Wait;
    this.#innerWait = INNER_STARTING;
    this.#wokenInStart = false;
    try {
      wait = inner.start();
    } catch (error) {
      this.#active = false;
      this.#innerWait = INNER_IDLE;
      releasePrimitive(inner);
      throw error;
    }
    if (wait === null || ((wait === SUSPEND || wait === SUSPEND_EXTERNAL) && this.#wokenInStart)) {
      this.#innerWait = INNER_IDLE;
      this.#done = true;
      return null;
    }
    if (wait === SUSPEND || wait === SUSPEND_EXTERNAL) this.#innerWait = INNER_SUSPENDED;
    else {
      this.#innerWait = INNER_FOLLOWING;
      // A promise: followed here rather than by the kernel, so that the deadline can end
      // the wait (the kernel wakes a thread that waits on a promise only when it settles).
      try {
        this.#follow(wait, this.#round);
      } catch (error) {
        // A promise subclass whose `then` throws: the inner primitive is cancelled, as the
        // kernel cancels one it waits on, and the error goes to the caller.
        this.cancel();
        throw error;
      }
      wait = SUSPEND_EXTERNAL;
    }
    const asked = deadlineRequest.wait;
    if (asked === null || this.ms < asked.ms) deadlineRequest.wait = this;
    return wait;
  }

  #follow(promise: PromiseLike<unknown>, round: Round): void {
    const settled = (ok: boolean, value: unknown): void => {
      const wait = round.wait as TimedWait<T, R> | null;
      if (wait !== null) wait.#settled(round, ok, value); // else the wait ended meanwhile
    };
    ownPromise(promise).then((value) => settled(true, value), (error) => settled(false, error));
  }

  #settled(round: Round, ok: boolean, value: unknown): void {
    try {
      // Handed over now, not when the caller runs: a kill in between finds it taken in.
      const next = this.inner.settled(ok, value);
      if (next !== null) return this.#follow(next, round);
    } catch (error) {
      this.#failure = { error };
    }
    this.#innerDone();
  }

  #endRound(): void {
    this.#round.wait = null;
    this.#round = ENDED_ROUND;
  }

  #innerWoken(): void {
    if (this.#innerWait === INNER_STARTING) this.#wokenInStart = true;
    else if (this.#innerWait === INNER_SUSPENDED) this.#innerDone();
  }

  #innerDone(): void {
    if (!this.#active || this.#done || this.#expired) return;
    this.#innerWait = INNER_IDLE;
    this.#done = true;
    this.wake();
  }

  /**
   * The deadline passed while the caller waits; the kernel calls this. Unless the inner
   * primitive already has its result, it is cancelled, and the caller is woken.
   */
  expire(): void {
    if (!this.#active || this.#done || this.#expired) return;
    this.#expired = true;
    this.#innerWait = INNER_IDLE;
    this.#endRound();
    const inner = this.inner;
    releasePrimitive(inner);
    try {
      inner.cancel();
    } catch (error) {
      this.#failure = { error };
    }
    this.wake();
  }

  finish(): R {
    this.#active = false;
    this.#innerWait = INNER_IDLE;
    this.#endRound();
    const failure = this.#failure;
    if (this.#expired) {
      if (failure !== null) throw failure.error;
      return this.expired();
    }
    const inner = this.inner;
    releasePrimitive(inner);
    // One whose `settled` broke its contract is not asked to finish (as the kernel does).
    if (failure !== null) throw failure.error;
    return this.finished(inner.finish());
  }

  cancel(): void {
    this.#active = false;
    this.#innerWait = INNER_IDLE;
    this.#endRound();
    if (this.#expired) return; // cancelled already
    const inner = this.inner;
    releasePrimitive(inner);
    if (this.#failure === null) inner.cancel();
  }
}
