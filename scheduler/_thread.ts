// A thread of a run, as the kernel sees it, and the handle users hold. The kernel owns every
// field here; users only ever see a `Task`, which exposes none of them.
import { atOnce } from "./_at_once.ts";
import { Kind, tagKind } from "./_effects.ts";
import { Finished } from "./_finished.ts";
import { asFrame } from "./_native_generator.ts";
import type { Primitive, PrimitiveWaiter } from "./_primitive.ts";
import type { TimedWait } from "./_timed_wait.ts";
import type { TimerEntry } from "./_timer_heap.ts";
import type { Coroutine } from "./coroutine.ts";
import { Effect } from "./effect.ts";
import { KilledError } from "./errors.ts";
import type { Task } from "./task.ts";

/** What a thread is doing. */
export const enum ThreadState {
  /** In the ready queue. */
  Ready,
  /** Being stepped by the kernel right now. */
  Running,
  /** Waiting on a timer. */
  Sleeping,
  /** Waiting on a promise (or a primitive's promise). */
  Awaiting,
  /** Waiting for another thread to end (`join`). */
  Joining,
  /** Waiting for a thread it killed to finish unwinding (`kill`). */
  KillWaiting,
  /** Waiting for a primitive's `wake()` from another thread of the run. */
  Suspended,
  /** Waiting for a primitive's `wake()` from outside the run. */
  SuspendedExternal,
  /** A scope whose code has ended, waiting for the threads it owns to end. */
  Closing,
  /** Finished; `ending` says how. */
  Done,
}

/** How the kernel resumes a thread's top frame next. */
export const enum ResumeMode {
  Next,
  Throw,
  Return,
  /** Not resumed yet: the event it yielded last, in `resumeValue`, is still to be handled. */
  Handle,
}

/** How a finished thread ended. */
export const enum Ending {
  None,
  Returned,
  Failed,
  Killed,
}

/**
 * Marks a spawned generator with its thread, for Bluelet-style `join(gen)`/`kill(gen)`, and
 * a called one with null: a generator runs once, and one run before is refused, not run
 * again (a finished generator would give `undefined` at once, whatever its type said).
 */
export const THREAD: unique symbol = Symbol("bluelet.thread");

/** A generator that may have been spawned (its thread) or called (null) already. */
export type Spawned = Coroutine<unknown> & { [THREAD]?: Thread | null };

/** What the kernel does for a thread; the kernel implements it. */
export interface ThreadHost {
  wakePrimitive(thread: Thread, primitive: Primitive<unknown>): void;
  /** Whether the run has ended. */
  readonly ended: boolean;
  /**
   * Says when a timer with `deadline` fires, for a description: the instant on a virtual
   * clock (tests read it from 0), the time left on the real one (its instants are
   * `performance.now()` readings, which mean nothing to a reader).
   */
  describeDeadline(deadline: number): string;
}

/**
 * The fields only some threads need (those joined before they end, killed, shielded, or
 * given an abort signal), kept apart so that a plain sleeping thread stays small.
 */
export class ThreadExtras {
  /** The threads joining it, and those killing it (waiting for its unwinding). */
  joiners: Thread[] | null;
  killers: Thread[] | null;
  /** The threads waiting for it to end without joining it (see `WatchEndEffect`). */
  watchers: Thread[] | null;
  abortController: AbortController | null;
  /** While killing: frames below this index are being unwound. */
  unwindDepth: number;
  /** The errors thrown by `finally` blocks during a kill, chained. */
  cleanupError: unknown;
  cleanupFailed: boolean;
  /** The errors in `cleanupError`, and in a closing scope's `closingResult`: each once. */
  cleanupSeen: Set<unknown> | null;
  closingSeen: Set<unknown> | null;
  /** The thread waited on by a join or a kill. */
  waitingOn: Thread | null;
  /**
   * Of a scope: the thread that spawned it and was joining it when it was killed (see
   * `#stopWaiting`), which its error goes to while that thread unwinds.
   */
  abandonedBy: Thread | null;
  /** The threads waited on by a kill of many (`KillAllEffect`), and how many still run. */
  waitingOnAll: Thread[] | null;
  killsLeft: number;
  /** The name given to `spawn`, if any. */
  name: string | undefined;
  /** In `trace` mode: where each frame was called (index 0: where the thread was spawned). */
  frameSites: (Error | undefined)[] | null;
  /** The reason given to `kill`, if any. */
  killReason: unknown;
  /**
   * The teardown that killed it, if one did: the kernel for a run that fails, the scope
   * for a scope killed (or failing) with its threads, or ending with some left. A join of
   * a thread the same teardown killed throws in its cleanup; that is no failure of its own.
   */
  tornDown: object | null;
  /** A scope whose threads were killed with it: what is given to it later is killed too. */
  membersKilled: boolean;
  /** Those threads were killed because the scope failed (see `#killMembers`). */
  membersFailed: boolean;
  /** The stack depths of the shielded frames, innermost last. */
  shields: number[] | null;
  /** A kill that waits for the shielded frames to end. */
  killDeferred: boolean;
  /** Threads spawned by this one while the run was ending: killed when it ends. */
  teardownChildren: Thread[] | null;
  /** The thread that spawned this one during a teardown (see `teardownChildren`). */
  spawnedInTeardownOf: Thread | null;
  /** Set once the thread is killed: its stack is being unwound. */
  killing: boolean;
  /** The thread whose error a join or a kill handed it, until it throws it. */
  handedFrom: Thread | null;
  /** The threads whose errors a kill of many handed it, until it throws them. */
  handedMany: Thread[] | null;
  /** The `TypeError` a misuse of an event got, until the thread throws it. */
  misuse: unknown;
  /** Once failed: how many threads it handed its error to have not thrown it yet. */
  receivers: number;
  /** Once failed: whether a thread it handed its error to threw it. */
  errorTaken: boolean;
  /** Once failed: sets its error's story back to where the thread ended (`storyFork`). */
  endStory: (() => void) | null;
  /** Once failed: the thread that last took its error in (see `Kernel#takeHandedErrors`). */
  storyTaker: Thread | null;
  /** The timed wait whose deadline the thread's timer stands for, while it waits. */
  deadlineWait: TimedWait<unknown, unknown> | null;
  /**
   * The thread that spawned it from inside a shield, and the number of the outermost
   * shield it was in (see `shieldSerials`): spared by teardowns until that shield ends.
   */
  spawnedInShield: Thread | null;
  shieldSerial: number;
  /** The numbers of the shielded frames, innermost last: beside `shields`. */
  shieldSerials: number[] | null;
  /**
   * Threads a teardown spared because this one's shield spawned them: killed, unless still
   * spared, when that shield ends (or this thread does).
   */
  spared: Thread[] | null;
  /**
   * Threads a teardown spared because this one spawned them (or their ancestors) while it
   * was torn down: killed, unless still spared, when this thread ends. Apart from `spared`,
   * so that each shield that ends does not look at them again.
   */
  sparedTillEnd: Thread[] | null;
  /** Whether the thread is a scope. */
  isScope: boolean;
  /**
   * Whether it is a task group's child (`group.spawn`): its error fails the group even
   * when a thread joined it, so that the rest are killed at once, as a group promises.
   */
  failsItsGroup: boolean;
  /** For a scope: the live threads it owns, made when it first owns one. */
  members: Set<Thread> | null;
  /** For a closing scope: how it ended, told to its joiners once its threads are gone. */
  closingEnding: Ending;
  closingResult: unknown;

  constructor() {
    // Assigned here rather than with field initializers, which cost a step per allocation.
    this.joiners = null;
    this.killers = null;
    this.watchers = null;
    this.abortController = null;
    this.unwindDepth = 0;
    this.cleanupError = undefined;
    this.cleanupFailed = false;
    this.waitingOn = null;
    this.abandonedBy = null;
    this.waitingOnAll = null;
    this.killsLeft = 0;
    this.name = undefined;
    this.frameSites = null;
    this.killReason = undefined;
    this.tornDown = null;
    this.membersKilled = false;
    this.membersFailed = false;
    this.shields = null;
    this.killDeferred = false;
    this.teardownChildren = null;
    this.spawnedInTeardownOf = null;
    this.killing = false;
    this.handedFrom = null;
    this.handedMany = null;
    this.misuse = undefined;
    this.receivers = 0;
    this.errorTaken = false;
    this.endStory = null;
    this.storyTaker = null;
    this.cleanupSeen = null;
    this.closingSeen = null;
    this.deadlineWait = null;
    this.spawnedInShield = null;
    this.shieldSerial = 0;
    this.shieldSerials = null;
    this.spared = null;
    this.sparedTillEnd = null;
    this.isScope = false;
    this.failsItsGroup = false;
    this.members = null;
    this.closingEnding = Ending.None;
    this.closingResult = undefined;
  }
}

/** One thread of a run. */
export class Thread implements PrimitiveWaiter {
  declare readonly id: number;
  declare readonly host: ThreadHost;
  /** The innermost frame of the thread's call stack: the generator it runs now. */
  declare frame: Coroutine<unknown>;
  /** The frames below `frame`, innermost last; null until the thread first calls. */
  declare callers: Coroutine<unknown>[] | null;
  /**
   * The thread that spawned it; null for a run's root thread. Once it has ended, the
   * nearest thread it descends from that is still of use (see `Kernel#finish`): then
   * `parent.generation` is below `generation - 1`.
   */
  declare parent: Thread | null;
  /** How many threads it descends from (0 for a run's main thread): a time limit's depth. */
  declare readonly generation: number;
  /** The scope thread that owns it, or null when it belongs to the run. */
  declare readonly scope: Thread | null;
  declare state: ThreadState;
  declare resumeMode: ResumeMode;
  declare resumeValue: unknown;
  declare ending: Ending;
  declare timer: TimerEntry<Thread> | null;
  /** The primitive the thread runs, from its start until it is finished or cancelled. */
  declare primitive: Primitive<unknown> | null;
  /** The callbacks handed to promises, made on the first wait; null once retired. */
  declare waiter: PromiseWaiter | null;
  declare extras: ThreadExtras | null;
  /** The run's list of live threads. */
  declare prev: Thread | null;
  declare next: Thread | null;
  /**
   * On the real clock, the instant whose work it is part of while a deadline is held back
   * (the kernel's count of instants); 0 for none.
   */
  declare instant: number;

  constructor(
    host: ThreadHost,
    id: number,
    coroutine: Coroutine<unknown>,
    parent: Thread | null,
    scope: Thread | null,
  ) {
    // The fields are declared, not defined: each is set once, here, rather than defined
    // as undefined and then set. In this order, which is their order in memory: what a
    // step and a join read lies together, in one or two cache lines of the thread's
    // (152 bytes). Joining many threads that ended reads each one's first fields only,
    // and with them apart, spawn + join took about 5% longer.
    this.state = ThreadState.Ready;
    this.ending = Ending.None;
    this.resumeValue = undefined;
    this.host = host;
    this.resumeMode = ResumeMode.Next;
    this.frame = asFrame(coroutine);
    this.primitive = null;
    this.extras = null;
    this.id = id;
    this.parent = parent;
    this.generation = parent === null ? 0 : parent.generation + 1;
    this.scope = scope;
    this.callers = null;
    this.timer = null;
    this.waiter = null;
    this.prev = null;
    this.next = null;
    this.instant = 0;
  }

  /** Set once the thread is killed: its stack is being unwound. */
  get killing(): boolean {
    return this.extras !== null && this.extras.killing;
  }

  /** Whether it is a scope (`spawn(op, { scope: true })`): it owns what is spawned inside. */
  get isScope(): boolean {
    return this.extras !== null && this.extras.isScope;
  }

  /**
   * Once done: what it returned, or what it failed with. Kept in `resumeValue`, which a
   * finished thread no longer needs.
   */
  get result(): unknown {
    return this.resumeValue;
  }

  /** How many frames the thread's call stack holds. */
  get depth(): number {
    return this.callers === null ? 1 : this.callers.length + 1;
  }

  /** Calls `coroutine`: it becomes the innermost frame. */
  pushFrame(coroutine: Coroutine<unknown>): void {
    (this.callers ??= []).push(this.frame);
    this.frame = asFrame(coroutine);
  }

  /** Drops the innermost frame; gives its index (0 for the thread's own coroutine). */
  popFrame(): number {
    const callers = this.callers;
    if (callers === null || callers.length === 0) return 0;
    const index = callers.length;
    this.frame = callers.pop()!;
    return index;
  }

  /** The thread's extras, made on first use. */
  withExtras(): ThreadExtras {
    return this.extras ??= new ThreadExtras();
  }

  /** Aborted when the thread is killed or ends; created on first use. */
  get signal(): AbortSignal {
    const extras = this.withExtras();
    if (extras.abortController === null) {
      extras.abortController = new AbortController();
      if (this.state === ThreadState.Done || this.killing) {
        extras.abortController.abort(this.abortReason());
      }
    }
    return extras.abortController.signal;
  }

  /** Aborts the thread's signal, if anyone asked for it. */
  abortSignal(): void {
    const controller = this.extras?.abortController;
    if (controller != null && !controller.signal.aborted) controller.abort(this.abortReason());
  }

  abortReason(): unknown {
    const extras = this.extras;
    if (extras !== null && extras.killReason !== undefined) return extras.killReason;
    const name = extras?.name;
    const who = name === undefined
      ? `Thread ${this.id}`
      : `Thread ${this.id} ${JSON.stringify(name)}`;
    return new KilledError(
      this.state === ThreadState.Done && !this.killing ? `${who} has ended` : `${who} was killed`,
    );
  }

  wake(primitive: Primitive<unknown>): void {
    this.host.wakePrimitive(this, primitive);
  }
}

/** The callbacks a thread hands to the promises it waits on. */
export interface PromiseWaiter {
  /** The waiting thread and its kernel; null once the waiter is retired. */
  thread: Thread | null;
  host: object | null;
  fulfilled: (value: unknown) => void;
  rejected: (error: unknown) => void;
}

// The iterator every event has. (A keyed `super[Symbol.iterator]` would be a slow runtime
// lookup in V8 on every join.)
const effectIterator = Effect.prototype[Symbol.iterator];

/** Gives the thread behind a task handle; only the kernel calls this. */
export let threadOf: (task: TaskHandle) => Thread;

/**
 * The {@linkcode Task} users hold: a window on a thread that exposes nothing mutable. It
 * is also the thread's join event, so `yield* task` and Bluelet-style `yield task` join it
 * without making another event.
 */
export class TaskHandle extends Effect<unknown> implements Task<unknown> {
  readonly #thread: Thread;

  constructor(thread: Thread) {
    super();
    this.#thread = thread;
  }

  get id(): number {
    return this.#thread.id;
  }

  get done(): boolean {
    return this.#thread.state === ThreadState.Done;
  }

  get killed(): boolean {
    return this.#thread.state === ThreadState.Done && this.#thread.ending === Ending.Killed;
  }

  /**
   * Joins the thread. One that has returned answers at once, without an event: what a
   * join at once gives does not depend on when it is asked (see `AtOnceJoin`).
   */
  override [Symbol.iterator](): Iterator<Effect<unknown>, unknown, unknown> {
    const thread = this.#thread;
    if (thread.state === ThreadState.Done && thread.ending === Ending.Returned) {
      const join = atOnce.join;
      if (join !== null && join(thread.host)) return new Finished(thread.resumeValue);
    }
    return effectIterator.call(this) as Iterator<Effect<unknown>, unknown, unknown>;
  }

  /** The join event's target: this task. */
  get target(): TaskHandle {
    return this;
  }

  get description(): string {
    return `join(thread ${this.#thread.id})`;
  }

  static {
    tagKind(this, Kind.Join);
    threadOf = (task) => task.#thread;
  }
}
