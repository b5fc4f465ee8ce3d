/**
 * The kernel: runs threads of generators and is the only code that drives them.
 *
 * Rules this file keeps:
 *
 * 1. Effects are the only way in. Coroutines yield events; only the kernel calls a
 *    generator's `next`, `throw` or `return`. Features (timeouts, `all`, `race`, `server`)
 *    live outside, built from the public effects. Leaf operations that wait on the
 *    outside world (the socket events) are primitives (scheduler/_primitive.ts): small
 *    state machines the kernel starts, settles, finishes or cancels, each at a fixed
 *    point, which is what lets a killed reader lose no bytes.
 * 2. One step is O(1) and allocation-light: a FIFO ready queue, a timer heap, and an
 *    explicit per-thread stack of generators for `call`, so neither deep call chains nor
 *    many threads touch the JS stack or scan every thread.
 * 3. Kill unwinds the whole stack of its target, innermost frame first, with `return()`.
 *    A `finally` that yields is run to its end as ordinary steps of the dying thread before
 *    the kill completes; frames called from inside such a `finally` run normally.
 * 4. Nothing is swallowed: an error that escapes a thread goes to the threads joining (or
 *    killing) it; with none, the run ends with it after every other thread was killed and
 *    its `finally` blocks ran. Later errors during that teardown are chained as
 *    `SuppressedError`s.
 * 5. The loop has three phases: due timers, ready threads, then waiting. Ready threads run
 *    in slices; between slices the kernel returns to the JS event loop, so a thread
 *    spinning on `null()` cannot starve timers or I/O. The hop is `setImmediate` (a few
 *    µs; timers run), but Deno polls sockets only about every 60th such hop, so every
 *    `HOPS_PER_IO_POLL`th hop in a row is a `setTimeout(0)` (about 2 ms), which does poll
 *    them: measured, this bounds the accept latency under a spinning thread to about 35 ms
 *    instead of 240 ms.
 *
 * @module
 */
import { type AnyEffect, JoinEffect, Kind, type Outcome, YIELD_NOW } from "./_effects.ts";
import {
  bindPrimitive,
  type Primitive,
  type PrimitiveWaiter,
  SUSPEND,
  SUSPEND_EXTERNAL,
  type Wait,
} from "./_primitive.ts";
import type { Coroutine } from "./coroutine.ts";
import { Effect } from "./effect.ts";
import { asCoroutine, type Operation } from "./operation.ts";
import { DeadlockError, KilledError } from "./errors.ts";
import { RingQueue } from "./_ring_queue.ts";
import { type TimerEntry, TimerHeap } from "./_timer_heap.ts";
import type { Task } from "./task.ts";
import { advanceClock, type VirtualClock } from "./virtual_clock.ts";

/** How long the kernel runs ready threads before it lets the event loop in. */
const SLICE_MS = 4;
/** How many generator steps pass between two looks at the time. */
const STEPS_PER_CHECK = 1024;
/** Every this many back-to-back slice hops, one is a timer hop, which lets Deno poll I/O. */
const HOPS_PER_IO_POLL = 8;

// How a thread is resumed next.
const NEXT = 0;
const THROW = 1;
const RETURN = 2;

// What a thread is doing.
const READY = 0;
const RUNNING = 1;
const SLEEPING = 2;
const AWAITING = 3;
const JOINING = 4;
const KILL_WAITING = 5;
const SUSPENDED = 6;
const DONE = 7;

// How a finished thread ended.
const RETURNED = 1;
const FAILED = 2;
const KILLED = 3;

/** Marks a spawned generator with its thread, for Bluelet-style `join(gen)`/`kill(gen)`. */
const THREAD: unique symbol = Symbol("bluelet.thread");

type Spawned = Coroutine<unknown> & { [THREAD]?: Thread };

/** One thread of the run. It is the {@linkcode Task} handle users hold. */
export class Thread implements Task<unknown>, PrimitiveWaiter {
  readonly id: number;
  readonly kernel: Kernel;
  readonly stack: Coroutine<unknown>[];
  state: number = READY;
  mode: number = NEXT;
  input: unknown = undefined;
  /** Bumped whenever a suspension ends, so late resume callbacks are ignored. */
  waitId = 0;
  waitingOn: Thread | null = null;
  timer: TimerEntry<Thread> | null = null;
  joiners: Thread[] | null = null;
  killers: Thread[] | null = null;
  killing = false;
  /** While killing: frames below this index are being unwound. */
  unwindDepth = 0;
  cleanupFailed = false;
  cleanupError: unknown = undefined;
  outcome = 0;
  result: unknown = undefined;
  abortController: AbortController | null = null;
  waiter: PromiseWaiter | null = null;
  /** The primitive the thread waits on, from its start until it is finished or cancelled. */
  primitive: Primitive<unknown> | null = null;
  /** Whether the primitive's suspension waits on the outside world. */
  externalSuspend = false;
  prev: Thread | null = null;
  next: Thread | null = null;

  constructor(kernel: Kernel, id: number, coroutine: Coroutine<unknown>) {
    this.kernel = kernel;
    this.id = id;
    this.stack = [coroutine];
  }

  get done(): boolean {
    return this.state === DONE;
  }

  /** Aborted when the thread is killed or ends; created on first use. */
  get signal(): AbortSignal {
    if (this.abortController === null) {
      this.abortController = new AbortController();
      if (this.state === DONE || this.killing) {
        this.abortController.abort(
          new KilledError(`Thread ${this.id} has ended`),
        );
      }
    }
    return this.abortController.signal;
  }

  [Symbol.iterator](): Iterator<Effect<unknown>, unknown, unknown> {
    return new JoinEffect(this)[Symbol.iterator]();
  }

  wake(primitive: Primitive<unknown>): void {
    this.kernel.wakePrimitive(this, primitive);
  }
}

interface PromiseWaiter {
  fulfilled: (value: unknown) => void;
  rejected: (error: unknown) => void;
}

/** The options the kernel needs from {@linkcode run}. */
export interface KernelOptions {
  clock?: VirtualClock;
  signal?: AbortSignal;
}

/** Runs one coroutine and every thread it spawns, to completion. */
export class Kernel {
  readonly #queue = new RingQueue<Thread>();
  readonly #timers = new TimerHeap<Thread>();
  readonly #clock: VirtualClock | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #resolve: (value: unknown) => void;
  readonly #reject: (error: unknown) => void;
  #root!: Thread;
  #nextId = 0;
  #live = 0;
  #first: Thread | null = null;
  #externalWaits = 0;
  #running = false;
  #finished = false;
  #failed = false;
  #error: unknown = undefined;
  #budget = STEPS_PER_CHECK;
  #wakeHandle: ReturnType<typeof setTimeout> | undefined = undefined;
  #wakeAt = 0;
  #immediateHandle: ReturnType<typeof setImmediate> | undefined = undefined;
  #hopTimerHandle: ReturnType<typeof setTimeout> | undefined = undefined;
  /** Slice hops since the kernel last ran out of ready threads. */
  #busyHops = 0;

  constructor(
    options: KernelOptions,
    resolve: (value: unknown) => void,
    reject: (error: unknown) => void,
  ) {
    this.#clock = options.clock;
    this.#signal = options.signal;
    this.#resolve = resolve;
    this.#reject = reject;
  }

  /** Starts the root thread and runs until it has to wait. */
  start(operation: Operation<unknown>): void {
    const coroutine = asCoroutine(operation);
    if (!isGenerator(coroutine)) {
      this.#finished = true;
      this.#reject(
        new TypeError(
          `Cannot run coroutine: ${describe(coroutine)} is not a generator`,
        ),
      );
      return;
    }
    const signal = this.#signal;
    if (signal?.aborted) {
      this.#finished = true;
      coroutine.return(undefined);
      this.#reject(signal.reason);
      return;
    }
    signal?.addEventListener("abort", this.#onAbort);
    this.#root = this.spawn(coroutine);
    this.#drive();
  }

  /** The kernel's time: the virtual clock's, or the monotonic real time. */
  now(): number {
    return this.#clock === undefined ? performance.now() : this.#clock.now();
  }

  spawn(coroutine: Coroutine<unknown>): Thread {
    const thread = new Thread(this, this.#nextId++, coroutine);
    (coroutine as Spawned)[THREAD] = thread;
    const first = this.#first;
    if (first !== null) {
      thread.next = first;
      first.prev = thread;
    }
    this.#first = thread;
    this.#live++;
    this.#enqueue(thread);
    // A run that is ending kills what its `finally` blocks spawn, so that it can end.
    if (this.#failed) this.#startKill(thread);
    return thread;
  }

  // ---------------------------------------------------------------------------------------
  // The loop

  readonly #onWake = (): void => {
    this.#wakeHandle = undefined;
    this.#drive();
  };

  readonly #onImmediate = (): void => {
    this.#immediateHandle = undefined;
    this.#drive();
  };

  readonly #onHopTimer = (): void => {
    this.#hopTimerHandle = undefined;
    this.#drive();
  };

  readonly #onAbort = (): void => {
    // Aborted from inside a step of this run (a coroutine calling `abort()`, or a thread's
    // abort listener during a kill): killing the running thread in the middle of handling
    // its event would lose the kill, so wait until the kernel is between steps.
    if (this.#running) {
      queueMicrotask(this.#onAbort);
      return;
    }
    // Killing runs threads' own abort listeners, which must not re-enter the loop.
    this.#running = true;
    try {
      this.#fail(this.#signal!.reason);
    } finally {
      this.#running = false;
    }
    this.#drive();
  };

  #drive(): void {
    if (this.#running || this.#finished) return;
    this.#running = true;
    try {
      this.#loop();
    } finally {
      this.#running = false;
    }
  }

  #loop(): void {
    const queue = this.#queue;
    // The slice starts at the first look at the time, not here: most drives are one
    // thread woken by I/O, and reading the clock costs more than stepping it.
    let sliceEnd = 0;
    this.#budget = STEPS_PER_CHECK;
    for (;;) {
      // Phase 1 and 2: run ready threads, looking at timers and the time now and then.
      let thread: Thread | undefined;
      while ((thread = queue.shift()) !== undefined) {
        this.#step(thread);
        if (this.#budget <= 0) {
          this.#budget = STEPS_PER_CHECK;
          this.#fireDueTimers();
          const now = performance.now();
          if (sliceEnd === 0) sliceEnd = now + SLICE_MS;
          else if (now >= sliceEnd && queue.size > 0) {
            this.#hop();
            return;
          }
        }
      }
      this.#busyHops = 0;
      if (this.#live === 0) return this.#complete();
      if (this.#fireDueTimers()) continue;

      // Phase 3: nothing is ready; wait for a timer, a promise, or report a deadlock.
      const nextTimer = this.#timers.peek();
      if (nextTimer !== undefined) {
        if (this.#clock !== undefined && this.#externalWaits === 0) {
          advanceClock(this.#clock, nextTimer.deadline);
          continue;
        }
        this.#armWake(nextTimer.deadline);
        return;
      }
      if (this.#externalWaits > 0) return;
      if (!this.#deadlock()) return;
      sliceEnd = 0;
    }
  }

  /** Lets the event loop in while threads are still ready; see rule 5. */
  #hop(): void {
    if (this.#immediateHandle !== undefined || this.#hopTimerHandle !== undefined) return;
    if (++this.#busyHops % HOPS_PER_IO_POLL === 0) {
      this.#hopTimerHandle = setTimeout(this.#onHopTimer, 0);
    } else this.#immediateHandle = setImmediate(this.#onImmediate);
  }

  /** Moves every due timer's thread to the ready queue; says whether any was due. */
  #fireDueTimers(): boolean {
    if (this.#timers.peek() === undefined) return false;
    const now = this.now();
    let fired = false;
    let entry: TimerEntry<Thread> | undefined;
    while ((entry = this.#timers.popDue(now)) !== undefined) {
      const thread = entry.owner!;
      thread.timer = null;
      this.#enqueue(thread);
      fired = true;
    }
    return fired;
  }

  #armWake(deadline: number): void {
    if (this.#wakeHandle !== undefined) {
      if (this.#wakeAt === deadline) return;
      clearTimeout(this.#wakeHandle);
    }
    this.#wakeAt = deadline;
    // setTimeout fires at once past 2^31 - 1 ms; waking early just re-arms.
    const delay = Math.min(Math.max(0, deadline - this.now()), 2 ** 31 - 1);
    this.#wakeHandle = setTimeout(this.#onWake, delay);
  }

  /** Handles a run where nothing can ever wake up again; says whether to keep looping. */
  #deadlock(): boolean {
    const stuck: number[] = [];
    let allKilling = true;
    for (let t = this.#first; t !== null; t = t.next) {
      if (stuck.length < 10) stuck.push(t.id);
      if (!t.killing) allKilling = false;
    }
    const error = new DeadlockError(
      `Cannot continue run: every thread is blocked forever (threads ${stuck.join(", ")}${
        this.#live > stuck.length ? ", ..." : ""
      })`,
    );
    if (!this.#failed) {
      this.#fail(error);
      return true;
    }
    if (!allKilling) {
      for (let t = this.#first; t !== null; t = t.next) this.#startKill(t);
      return true;
    }
    // Teardown itself is stuck: give up on those threads rather than hang.
    this.#fail(error);
    this.#complete();
    return false;
  }

  #complete(): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.#wakeHandle !== undefined) clearTimeout(this.#wakeHandle);
    if (this.#immediateHandle !== undefined) {
      clearImmediate(this.#immediateHandle);
    }
    this.#wakeHandle = this.#immediateHandle = undefined;
    this.#signal?.removeEventListener("abort", this.#onAbort);
    const root = this.#root;
    if (this.#failed) this.#reject(this.#error);
    else if (root.outcome === RETURNED) this.#resolve(root.result);
    else if (root.outcome === FAILED) this.#reject(root.result);
    else {this.#reject(
        new KilledError("Cannot finish run: its root coroutine was killed"),
      );}
  }

  // ---------------------------------------------------------------------------------------
  // Stepping one thread

  /** Runs `thread` until it waits, ends, or the step budget runs out. */
  #step(thread: Thread): void {
    thread.state = RUNNING;
    const primitive = thread.primitive;
    if (primitive !== null) this.#finishPrimitive(thread, primitive);
    const stack = thread.stack;
    for (;;) {
      // Charge every resumption, also one that ends in a wait or a requeue: otherwise
      // threads taking turns on `null()` never use up the budget and starve timers and I/O.
      this.#budget--;
      const generator = stack[stack.length - 1];
      const mode = thread.mode;
      const input = thread.input;
      thread.mode = NEXT;
      thread.input = undefined;
      let result: IteratorResult<unknown, unknown>;
      try {
        result = mode === NEXT
          ? generator.next(input)
          : mode === THROW
          ? generator.throw(input)
          : generator.return(input);
      } catch (error) {
        if (!this.#frameEnded(thread, false, error)) return;
        continue;
      }
      if (result.done) {
        if (!this.#frameEnded(thread, true, result.value)) return;
      } else if (result.value === YIELD_NOW) {
        // The commonest event, before any dispatch: alone in the queue, the thread goes on.
        if (this.#queue.size !== 0) {
          this.#enqueue(thread);
          return;
        }
      } else if (!this.#handle(thread, result.value)) {
        return;
      }
      if (this.#budget <= 0) {
        this.#enqueue(thread);
        return;
      }
    }
  }

  /** Pops the finished top frame; says whether the thread goes on running. */
  #frameEnded(thread: Thread, ok: boolean, value: unknown): boolean {
    const stack = thread.stack;
    const depth = stack.length - 1;
    stack.pop();
    if (thread.killing && depth < thread.unwindDepth) {
      // A frame that was being unwound by a kill: go on unwinding the one below it.
      thread.unwindDepth = depth;
      if (!ok && !thread.cleanupFailed) {
        thread.cleanupFailed = true;
        thread.cleanupError = value;
      }
      if (depth === 0) {
        this.#finish(
          thread,
          thread.cleanupFailed ? FAILED : KILLED,
          thread.cleanupError,
        );
        return false;
      }
      thread.mode = RETURN;
      return true;
    }
    if (depth === 0) {
      this.#finish(thread, ok ? RETURNED : FAILED, value);
      return false;
    }
    thread.mode = ok ? NEXT : THROW;
    thread.input = value;
    return true;
  }

  /** Acts on a yielded value; says whether the thread goes on running right away. */
  #handle(thread: Thread, yielded: unknown): boolean {
    // A generator (a Bluelet-style call) first: `instanceof Effect` would walk its whole
    // prototype chain to fail, and socket calls yielded this way are the I/O hot path.
    if (
      typeof yielded === "object" && yielded !== null &&
      typeof (yielded as Coroutine<unknown>).next === "function"
    ) {
      if (isGenerator(yielded)) {
        thread.stack.push(yielded);
        return true;
      }
    } else if (yielded instanceof Effect) {
      const effect = yielded as AnyEffect;
      switch (effect.kind) {
        case Kind.YieldNow:
          return this.#yieldNow(thread);
        case Kind.Sleep: {
          // `sleep()` gives the `null()` event for `ms <= 0`, so a timer is always due later.
          thread.timer = this.#timers.push(this.now() + effect.ms, thread);
          thread.state = SLEEPING;
          return false;
        }
        case Kind.Call:
          return this.#call(thread, effect.coroutine);
        case Kind.Spawn: {
          const operation = effect.coroutine;
          const coroutine = asCoroutine(operation);
          if (!isGenerator(coroutine)) {
            return this.#throwInto(
              thread,
              `Cannot spawn coroutine: ${describe(coroutine)} is not a generator`,
            );
          }
          if ((coroutine as Spawned)[THREAD] !== undefined) {
            return this.#throwInto(
              thread,
              "Cannot spawn coroutine: it was already spawned",
            );
          }
          thread.input = this.spawn(coroutine);
          return true;
        }
        case Kind.Join:
          return this.#join(thread, effect.target);
        case Kind.Kill:
          return this.#kill(thread, effect.target);
        case Kind.End:
          thread.mode = RETURN;
          thread.input = effect.value;
          return true;
        case Kind.Until: {
          const source = effect.source;
          let awaited: unknown = source;
          if (typeof source === "function") {
            try {
              awaited = source();
            } catch (error) {
              thread.mode = THROW;
              thread.input = error;
              return true;
            }
          }
          if (!isThenable(awaited)) {
            thread.input = awaited;
            return true;
          }
          this.#await(thread, awaited);
          return false;
        }
        case Kind.Suspend:
          return this.#suspend(thread, effect.register);
        case Kind.Self:
          thread.input = thread;
          return true;
        case Kind.Primitive:
          return this.#startPrimitive(thread, effect);
      }
    }
    if (isThenable(yielded)) {
      this.#await(thread, yielded);
      return false;
    }
    return this.#throwInto(
      thread,
      `Cannot handle yielded value: ${describe(yielded)} is not an event, a generator or a promise`,
    );
  }

  #yieldNow(thread: Thread): boolean {
    // Alone in the queue, the thread simply goes on: no queue round trip.
    if (this.#queue.size === 0) return true;
    this.#enqueue(thread);
    return false;
  }

  #call(thread: Thread, coroutine: unknown): boolean {
    if (!isGenerator(coroutine)) {
      return this.#throwInto(
        thread,
        `Cannot call coroutine: ${describe(coroutine)} is not a generator`,
      );
    }
    thread.stack.push(coroutine);
    return true;
  }

  #startPrimitive(thread: Thread, primitive: Primitive<unknown>): boolean {
    if (primitive.busy) {
      return this.#throwInto(
        thread,
        `Cannot start ${primitive.description}: it is already in progress in another thread`,
      );
    }
    bindPrimitive(primitive, thread);
    thread.primitive = primitive;
    let wait: Wait;
    try {
      wait = primitive.start();
    } catch (error) {
      thread.primitive = null;
      bindPrimitive(primitive, null);
      thread.mode = THROW;
      thread.input = error;
      return true;
    }
    const wokenDuringStart = thread.state !== RUNNING;
    thread.state = RUNNING;
    if (wait === null) {
      this.#finishPrimitive(thread, primitive);
      return true;
    }
    if (wait === SUSPEND || wait === SUSPEND_EXTERNAL) {
      if (wokenDuringStart) {
        // Woken during start: the result is there already.
        this.#finishPrimitive(thread, primitive);
        return true;
      }
      thread.state = SUSPENDED;
      thread.externalSuspend = wait === SUSPEND_EXTERNAL;
      if (thread.externalSuspend) this.#externalWaits++;
      return false;
    }
    this.#await(thread, wait);
    return false;
  }

  /** Ends a primitive's suspension; see {@linkcode Primitive.wake}. */
  wakePrimitive(thread: Thread, primitive: Primitive<unknown>): void {
    if (thread.primitive !== primitive) return;
    if (thread.state === RUNNING) {
      // Woken from inside its own start: mark it, so the suspension ends at once.
      thread.state = READY;
      return;
    }
    if (thread.state !== SUSPENDED) return;
    if (thread.externalSuspend) {
      thread.externalSuspend = false;
      this.#externalWaits--;
    }
    this.#enqueue(thread);
    this.#drive();
  }

  /** Sets `thread` up to resume with what its primitive gives. */
  #finishPrimitive(thread: Thread, primitive: Primitive<unknown>): void {
    thread.primitive = null;
    bindPrimitive(primitive, null);
    try {
      thread.input = primitive.finish();
    } catch (error) {
      thread.mode = THROW;
      thread.input = error;
    }
  }

  #throwInto(thread: Thread, message: string): boolean {
    thread.mode = THROW;
    thread.input = new TypeError(message);
    return true;
  }

  /**
   * Finds the thread a `join`/`kill` target names. If it names none, sets `thread` up to
   * receive a `TypeError` that says why, and gives null.
   */
  #target(thread: Thread, target: unknown, verb: string): Thread | null {
    let found: Thread | undefined;
    let problem: string | undefined;
    if (target instanceof Thread) found = target;
    else if (isGenerator(target)) {
      found = (target as Spawned)[THREAD];
      if (found === undefined) problem = `Cannot ${verb} coroutine: it was never spawned`;
    } else {
      problem = `Cannot ${verb} thread: ${describe(target)} is not a task or a spawned generator`;
    }
    if (found !== undefined && found.kernel !== this) {
      problem = `Cannot ${verb} thread ${found.id}: it belongs to another run`;
    }
    if (problem === undefined) return found!;
    this.#throwInto(thread, problem);
    return null;
  }

  #join(thread: Thread, target: unknown): boolean {
    const found = this.#target(thread, target, "join");
    if (found === null) return true;
    if (found === thread) {
      return this.#throwInto(
        thread,
        `Cannot join thread ${thread.id}: a thread cannot join itself`,
      );
    }
    if (found.state === DONE) {
      this.#deliverOutcome(thread, found);
      return true;
    }
    (found.joiners ??= []).push(thread);
    thread.waitingOn = found;
    thread.state = JOINING;
    return false;
  }

  #kill(thread: Thread, target: unknown): boolean {
    const found = this.#target(thread, target, "kill");
    if (found === null) return true;
    if (found.state === DONE) return true;
    this.#startKill(found);
    if (found === thread) return true;
    (found.killers ??= []).push(thread);
    thread.waitingOn = found;
    thread.state = KILL_WAITING;
    return false;
  }

  #await(thread: Thread, promise: PromiseLike<unknown>): void {
    thread.state = AWAITING;
    this.#externalWaits++;
    const waiter = thread.waiter ?? (thread.waiter = this.#promiseWaiter(thread));
    promise.then(waiter.fulfilled, waiter.rejected);
  }

  /**
   * The callbacks a thread hands to the promises it waits on, made once per thread rather
   * than per wait. A thread waits on one promise at a time and leaves the wait only when it
   * settles, or when it is killed, which retires the waiter: so a callback whose waiter is
   * no longer the thread's belongs to a wait that ended and is ignored.
   */
  #promiseWaiter(thread: Thread): PromiseWaiter {
    const settle = (mode: number, value: unknown): void => {
      if (thread.waiter !== waiter || thread.state !== AWAITING) return;
      const primitive = thread.primitive;
      if (primitive === null) {
        thread.mode = mode;
        thread.input = value;
      } else {
        // The primitive takes the outcome in now, not when the thread runs: a kill in
        // between then finds it taken in, and nothing is lost.
        let next: PromiseLike<unknown> | null;
        try {
          next = primitive.settled(mode === NEXT, value);
        } catch (error) {
          // A broken primitive: its error goes to the thread rather than nowhere.
          thread.primitive = null;
          bindPrimitive(primitive, null);
          thread.mode = THROW;
          thread.input = error;
          next = null;
        }
        if (next !== null) {
          next.then(waiter.fulfilled, waiter.rejected);
          return;
        }
      }
      this.#externalWaits--;
      this.#enqueue(thread);
      this.#drive();
    };
    const waiter: PromiseWaiter = {
      fulfilled: (value) => settle(NEXT, value),
      rejected: (error) => settle(THROW, error),
    };
    return waiter;
  }

  #suspend(
    thread: Thread,
    register: (resume: (outcome: Outcome<unknown>) => void) => void,
  ): boolean {
    const waitId = ++thread.waitId;
    thread.state = SUSPENDED;
    register((outcome) => {
      if (thread.waitId !== waitId || thread.state !== SUSPENDED) return;
      thread.waitId++;
      if (outcome.ok) thread.input = outcome.value;
      else {
        thread.mode = THROW;
        thread.input = outcome.error;
      }
      this.#enqueue(thread);
      this.#drive();
    });
    return false;
  }

  #enqueue(thread: Thread): void {
    thread.state = READY;
    this.#queue.push(thread);
  }

  // ---------------------------------------------------------------------------------------
  // Kill, finish, fail

  /** Makes `target` unwind its stack from wherever it waits. */
  #startKill(target: Thread): void {
    if (target.state === DONE || target.killing) return;
    target.killing = true;
    target.unwindDepth = target.stack.length;
    const primitive = target.primitive;
    if (primitive !== null) {
      target.primitive = null;
      bindPrimitive(primitive, null);
      try {
        primitive.cancel();
      } catch (error) {
        target.cleanupFailed = true;
        target.cleanupError = error;
      }
    }
    target.abortController?.abort(
      new KilledError(`Thread ${target.id} was killed`),
    );
    const state = target.state;
    target.mode = RETURN;
    target.input = undefined;
    // A ready thread is already queued and a running one is the caller killing itself:
    // both just carry on in unwinding mode.
    if (state === READY || state === RUNNING) return;
    this.#stopWaiting(target, state);
    this.#enqueue(target);
  }

  #stopWaiting(thread: Thread, state: number): void {
    switch (state) {
      case SLEEPING:
        this.#timers.cancel(thread.timer!);
        thread.timer = null;
        break;
      case AWAITING:
        thread.waiter = null;
        this.#externalWaits--;
        break;
      case JOINING:
        remove(thread.waitingOn!.joiners!, thread);
        break;
      case KILL_WAITING:
        remove(thread.waitingOn!.killers!, thread);
        break;
      case SUSPENDED:
        thread.waitId++;
        if (thread.externalSuspend) {
          thread.externalSuspend = false;
          this.#externalWaits--;
        }
        break;
    }
    thread.waitingOn = null;
  }

  #finish(thread: Thread, outcome: number, result: unknown): void {
    thread.state = DONE;
    thread.outcome = outcome;
    thread.result = result;
    // Unlink from the live list.
    if (thread.prev !== null) thread.prev.next = thread.next;
    else this.#first = thread.next;
    if (thread.next !== null) thread.next.prev = thread.prev;
    thread.prev = thread.next = null;
    this.#live--;
    const controller = thread.abortController;
    if (controller !== null && !controller.signal.aborted) {
      controller.abort(new KilledError(`Thread ${thread.id} has ended`));
    }

    const joiners = thread.joiners;
    const killers = thread.killers;
    thread.joiners = thread.killers = null;
    if (joiners !== null) {
      for (const joiner of joiners) {
        joiner.waitingOn = null;
        this.#deliverOutcome(joiner, thread);
        this.#enqueue(joiner);
      }
    }
    if (killers !== null) {
      for (const killer of killers) {
        killer.waitingOn = null;
        if (outcome === FAILED) {
          killer.mode = THROW;
          killer.input = result;
        }
        this.#enqueue(killer);
      }
    }
    const handled = (joiners !== null && joiners.length > 0) ||
      (killers !== null && killers.length > 0);
    if (outcome === FAILED && !handled) this.#fail(result);
  }

  /** Sets up `joiner` to receive how `target` ended. */
  #deliverOutcome(joiner: Thread, target: Thread): void {
    if (target.outcome === RETURNED) {
      joiner.input = target.result;
    } else {
      joiner.mode = THROW;
      joiner.input = target.outcome === FAILED
        ? target.result
        : new KilledError(`Thread ${target.id} was killed`);
    }
  }

  /** Ends the run with `error`: kills every thread, then rejects once they are gone. */
  #fail(error: unknown): void {
    if (this.#finished) return;
    if (this.#failed) {
      this.#error = new SuppressedError(
        error,
        this.#error,
        "Another error occurred while the run was ending",
      );
      return;
    }
    this.#failed = true;
    this.#error = error;
    for (let t = this.#first; t !== null; t = t.next) this.#startKill(t);
  }
}

function remove(list: Thread[], thread: Thread): void {
  const index = list.indexOf(thread);
  if (index >= 0) list.splice(index, 1);
}

/** Whether `value` is a generator object (what `function*` returns). */
export function isGenerator(value: unknown): value is Coroutine<unknown> {
  return typeof value === "object" && value !== null &&
    typeof (value as Coroutine<unknown>).next === "function" &&
    typeof (value as Coroutine<unknown>).throw === "function" &&
    typeof (value as Coroutine<unknown>).return === "function";
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === "object" || typeof value === "function") &&
    value !== null &&
    typeof (value as PromiseLike<unknown>).then === "function";
}

/** Names a value in an error message without dumping it. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "function") {
    return `function ${value.name || "(anonymous)"}`;
  }
  if (typeof value === "object") {
    return `an object (${value.constructor?.name ?? "no prototype"})`;
  }
  if (typeof value === "string") {
    return `the string ${JSON.stringify(value.length > 20 ? value.slice(0, 20) + "..." : value)}`;
  }
  return `${typeof value} ${String(value)}`;
}
