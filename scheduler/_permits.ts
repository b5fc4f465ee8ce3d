// The queue behind Lock and Semaphore: a count of free permits and a FIFO of waiting
// acquires. A release hands its permit straight to the first waiter (no barging: a thread
// that arrives later cannot take it first), and the waiter is woken. If the waiter is
// killed before it runs, the kernel cancels its acquire, which passes the permit on.
import type { Coroutine } from "./coroutine.ts";
import { Primitive, SUSPEND } from "./lowlevel.ts";
import type { Operation } from "./operation.ts";
import { type Link, WaitList } from "./_wait_list.ts";

export class Permits {
  readonly waiters: WaitList<Acquire> = new WaitList<Acquire>();
  /**
   * Permits held by `withLock`/`withPermit`, from their grant to their end: each gives its
   * own back, so `release()` must not (a stray one let two threads into a lock).
   */
  scoped = 0;
  /**
   * @param available The permits there are, all free.
   * @param label What descriptions call it.
   */
  constructor(public available: number, readonly label: string) {}

  tryAcquire(): boolean {
    if (this.available > 0 && this.waiters.size === 0) {
      this.available--;
      return true;
    }
    return false;
  }

  release(): void {
    const waiter = this.waiters.shift();
    if (waiter === null) this.available++;
    else waiter.granted();
  }
}

const IDLE = 0;
const QUEUED = 1;
const GRANTED = 2;

/** One acquire, a new object per call. */
export class Acquire extends Primitive<void> implements Link {
  prevLink: Link | null = null;
  nextLink: Link | null = null;
  inList: WaitList<Link> | null = null;
  #state = IDLE;

  /**
   * @param permits The queue it waits in.
   * @param scoped Whether `withLock`/`withPermit` holds what it gets (see `Permits.scoped`).
   */
  constructor(readonly permits: Permits, readonly scoped = false) {
    super();
  }

  get description(): string {
    return `acquire(${this.permits.label})`;
  }

  start(): typeof SUSPEND | null {
    if (this.permits.tryAcquire()) {
      if (this.scoped) this.permits.scoped++;
      return null;
    }
    this.#state = QUEUED;
    this.permits.waiters.push(this);
    return SUSPEND;
  }

  granted(): void {
    this.#state = GRANTED;
    if (this.scoped) this.permits.scoped++;
    this.wake();
  }

  finish(): void {
    this.#state = IDLE;
  }

  cancel(): void {
    const state = this.#state;
    this.#state = IDLE;
    if (state === QUEUED) this.permits.waiters.remove(this);
    else if (state === GRANTED) {
      if (this.scoped) this.permits.scoped--;
      this.permits.release();
    }
  }
}

/** Runs `operation` holding one of `permits`; shared with Lock. */
export function* holding<T>(permits: Permits, operation: Operation<T>): Coroutine<T> {
  yield new Acquire(permits, true);
  try {
    return (yield operation) as T;
  } finally {
    permits.scoped--;
    permits.release();
  }
}
