/**
 * The kernel: runs threads of generators and is the only code that drives them.
 *
 * Rules this file keeps:
 *
 * 1. Effects are the only way in. Coroutines yield events; only the kernel calls a
 *    generator's `next`, `throw` or `return`, and each kind of event has one handler
 *    (`#onSleep`, `#onSpawn`, ...), listed in `#dispatch`. Features (timeouts, `all`,
 *    `race`, channels, `server`) live outside, built from the public effects and the
 *    low-level primitive protocol (scheduler/lowlevel.ts): small state machines the kernel
 *    starts, finishes or cancels, each at a fixed point, which is what lets a killed reader
 *    lose no bytes and a killed receiver lose no item.
 * 2. One step is O(1) and allocation-light: a FIFO ready queue, a timer heap, and an
 *    explicit per-thread stack of generators for `call`, so neither deep call chains nor
 *    many threads touch the JS stack or scan every thread. An event that never waits (a
 *    spawn, a join of a thread that returned) is done where `yield*` asks it for its
 *    first result, without suspending the generator, and a primitive is begun there
 *    (scheduler/_at_once.ts); each still counts toward the thread's turn.
 * 3. Kill unwinds the whole stack of its target, innermost frame first, with `return()`.
 *    A `finally` that yields is run to its end as ordinary steps of the dying thread before
 *    the kill completes; frames called from inside such a `finally` run normally. A kill
 *    waits for shielded frames (`shield`) to end before it takes effect.
 * 4. Nothing is swallowed: an error that escapes a thread goes to the threads joining (or
 *    killing) it; with none, the scope that owns the thread fails with it (killed, so no
 *    `catch` can swallow it), or, with no scope, the run ends with it after every other
 *    thread was killed and its `finally` blocks ran. Later errors (a second failing
 *    `finally`, another thread's error during that teardown) are chained as
 *    `SuppressedError`s, newest outermost, as JavaScript's `using` does.
 * 5. The loop has three phases: ready threads, due timers, then waiting. Whatever keeps it
 *    busy (ready threads, due timers, virtual-clock jumps), the kernel returns to the JS
 *    event loop once a slice of a few milliseconds is used up, so nothing can starve timers
 *    or I/O. The hop is `setImmediate` (a few µs; timers run), but Deno polls sockets only
 *    about every 60th such hop, so every `HOPS_PER_IO_POLL`th hop in a row is a
 *    `setTimeout(0)` (about 2 ms), which does poll them.
 *
 * @module
 */
import {
  type AnyEffect,
  type CallEffect,
  type EndEffect,
  type JoinEffect,
  type KillAllEffect,
  type KillEffect,
  KillFailures,
  KIND as kindKey,
  Kind,
  type ShieldEffect,
  type SleepEffect,
  type SpawnEffect,
  type Tagged,
  type UntilEffect,
  WatchEndEffect,
  YIELD_NOW as yieldNowEvent,
} from "./_effects.ts";
import {
  claimPrimitive,
  type Primitive,
  releasePrimitive,
  SUSPEND as suspend,
  SUSPEND_EXTERNAL as suspendExternal,
  type Wait,
} from "./_primitive.ts";
import { type AtOnce, atOnce, type AtOnceJoin, FAST_PATH_RUN } from "./_at_once.ts";
import { RingQueue } from "./_ring_queue.ts";
import {
  Ending,
  type PromiseWaiter,
  ResumeMode,
  type Spawned,
  TaskHandle,
  THREAD as threadKey,
  Thread,
  type ThreadExtras,
  type ThreadHost,
  threadOf,
  ThreadState,
} from "./_thread.ts";
import { deadlineRequest, ownPromise, type TimedWait } from "./_timed_wait.ts";
import { TimerHeap } from "./_timer_heap.ts";
import { NativeGenerator, resumeNext } from "./_native_generator.ts";
import type { Coroutine } from "./coroutine.ts";
import { Effect } from "./effect.ts";
import { DeadlockError, KilledError } from "./errors.ts";
import { asCoroutine, type Operation } from "./operation.ts";
import { advanceClock, claimClock, releaseClock, type VirtualClock } from "./virtual_clock.ts";
import { addToStory, stepping, storyFork, tracing } from "./_story.ts";
import type { ThreadSnapshot } from "./snapshot.ts";
import {
  callItHint,
  describe,
  describeLineage,
  describeWait,
  isInstance,
  label,
  snapshotOf,
  unreadable,
} from "./_describe.ts";

export { Thread } from "./_thread.ts";

/**
 * A finished thread's frame. Its task may be held long after it ended, and through the
 * task its thread: the generator it ran, which nothing steps again, is let go.
 */
const ENDED: Coroutine<unknown> = (function* () {})();

/**
 * The generator built-in that resumes every frame (see _native_generator.ts), in a constant
 * of this module's own: the compiler calls it directly, as it would not an import.
 */
const RESUME_NEXT = resumeNext;

/**
 * The `KilledError`s a join throws for a thread that a teardown killed, each with its
 * teardown (see `ThreadExtras.tornDown`). One thrown in the cleanup of a thread the same
 * teardown killed (a `finally` that joins what its thread started) is the teardown's own
 * doing: it is not recorded as that thread's failure, where it would end up on top of the
 * error that began the teardown.
 */
const teardownKills = new WeakMap<object, object>();

/** Whether `error` is the `KilledError` of a thread that `teardown` killed. */
function killedBy(error: unknown, teardown: object | null | undefined): boolean {
  return teardown != null && teardownKills.get(error as object) === teardown;
}

/**
 * Says whether a shield holds up `thread`'s end: its kill waits for the shield, or its
 * cleanup, begun by a kill, entered one (a kill's cleanup ends whatever it waits on).
 */
function stuckInShield(thread: Thread): boolean {
  const extras = thread.extras;
  if (extras === null) return false;
  if (thread.killing) return extras.shields !== null && extras.shields.length > 0;
  return extras.killDeferred;
}

/** No primitive's result to resume with: `#finishPrimitive`'s answer when `finish` threw. */
const NO_RESULT: unique symbol = Symbol("no result");

// The constants the kernel compares against, copied here from the modules that define them.
// Deno compiles each module on its own, so an enum imported from another module is an
// object at run time, and every imported binding a cell: each `ThreadState.Running` or
// `YIELD_NOW` in this file would be a load that V8 cannot fold away. A constant of this
// module is folded into the code: a thread switch is about 10% faster so.
const YIELD_NOW: typeof yieldNowEvent = yieldNowEvent;
const KIND: typeof kindKey = kindKey;
const THREAD: typeof threadKey = threadKey;
const SUSPEND: typeof suspend = suspend;
const SUSPEND_EXTERNAL: typeof suspendExternal = suspendExternal;
const STATE_READY = ThreadState.Ready;
const STATE_RUNNING = ThreadState.Running;
const STATE_SLEEPING = ThreadState.Sleeping;
const STATE_AWAITING = ThreadState.Awaiting;
const STATE_JOINING = ThreadState.Joining;
const STATE_KILL_WAITING = ThreadState.KillWaiting;
const STATE_SUSPENDED = ThreadState.Suspended;
const STATE_SUSPENDED_EXTERNAL = ThreadState.SuspendedExternal;
const STATE_CLOSING = ThreadState.Closing;
const STATE_DONE = ThreadState.Done;
const MODE_NEXT = ResumeMode.Next;
const MODE_THROW = ResumeMode.Throw;
const MODE_RETURN = ResumeMode.Return;
const MODE_HANDLE = ResumeMode.Handle;
const ENDING_RETURNED = Ending.Returned;
const ENDING_FAILED = Ending.Failed;
const ENDING_KILLED = Ending.Killed;
const KIND_CALL = Kind.Call;
const KIND_INSPECT = Kind.Inspect;
const KIND_SPAWN = Kind.Spawn;
const KIND_JOIN = Kind.Join;
const KIND_KILL = Kind.Kill;
const KIND_END = Kind.End;
const KIND_SLEEP = Kind.Sleep;
const KIND_YIELD_NOW = Kind.YieldNow;
const KIND_UNTIL = Kind.Until;
const KIND_SELF = Kind.Self;
const KIND_SHIELD = Kind.Shield;
const KIND_PRIMITIVE = Kind.Primitive;
const KIND_KILL_ALL = Kind.KillAll;

/** How long the kernel runs before it lets the event loop in. */
const SLICE_MS = 4;
/** How many generator steps pass between two looks at the time. */
const STEPS_PER_CHECK = 1024;
/**
 * On the real clock, a budget is also looked at within, in stretches, for slow steps (see
 * #endStretch for when one ends the budget early). A thread whose steps take a millisecond
 * would otherwise hold timers and I/O back for a whole budget, a second. A drive's first
 * stretch is this many steps at most; the next one is twice as long while they take under
 * a quarter of a slice, and otherwise as long as half a slice's worth of steps at the last
 * one's pace. A stretch ends only where the budget is already looked at (a step costs one
 * compare more, when the budget's count reaches 0).
 */
const FIRST_STRETCH = 16;
/**
 * The longest stretch: a thread whose steps turn slow late in a budget of fast ones holds
 * the event loop back for this many of them at most (the more stretches, the more looks).
 */
const MAX_STRETCH = 256;
/**
 * A stretch is slow if the rest of its budget would take this long at its pace (a budget
 * of steps of a few microseconds, code not yet compiled, is not); and a budget that has
 * lasted this long ends, whatever the pace.
 */
const LONG_BUDGET_MS = 4 * SLICE_MS;
/**
 * How many step budgets a deadline may be held back on a virtual clock while threads keep
 * the queue busy (#fireDueTimers): an instant's work of up to some 16,000 steps (a
 * thousand clients woken at once, each taking a few) runs before that instant's deadlines.
 * Virtual time does not pass meanwhile, so the hold costs nothing but real time; on the
 * real clock a hold lasts until its instant's own work is done (HOLD_ROUNDS_REAL).
 */
const HOLD_CHECKS_VIRTUAL = 16;
/**
 * On the real clock, a deadline waits for its instant's work (what the timers due by then
 * woke, and what that work wakes in turn) however long busy threads that were running
 * already hold it back, but a thread of that work that never stops must not keep the
 * deadline back for ever: it waits HOLD_ROUNDS_REAL turns of every ready thread and
 * HOLD_STEPS_REAL steps at most.
 */
const HOLD_ROUNDS_REAL = 4;
/**
 * And, on the real clock, at most this many milliseconds, looked at when the kernel looks
 * at the time: beside busy threads whose steps are slow, a count of steps is no bound.
 */
const HOLD_MS_REAL = 20;
const HOLD_STEPS_REAL = 2 * STEPS_PER_CHECK;
/** How many runs of this module are live (started, not finished), in this thread. */
let liveRuns = 0;

/** Thread.instant of a thread a timer woke, until it runs or joins an instant's work. */
const WOKEN_BY_TIMER = -1;
/** Every this many back-to-back slice hops, one is a timer hop, which lets Deno poll I/O. */
const HOPS_PER_IO_POLL = 8;
/**
 * And a hop this long after the last timer hop is one too, however few hops came between:
 * a kernel driven only by promise reactions (writes to a client that keeps reading settle
 * at once) goes idle between them, which starts the count afresh, while Deno's event loop
 * never does, and polls no socket.
 */
const IO_POLL_MS = HOPS_PER_IO_POLL * SLICE_MS;
/**
 * How much work drives from promise reactions do between two looks at the time: one for
 * each step a drive ran, and REACTION_WORK_PER_DRIVE for the drive itself.
 */
const REACTION_WORK_PER_CHECK = 64;
/**
 * A drive counts as this many steps: a look at the time comes at least every four drives,
 * however slow their steps (a handler that compresses each chunk it writes), so that such
 * drives are not left to run for 64 steps' time before the event loop gets a turn.
 */
const REACTION_WORK_PER_DRIVE = 16;
/**
 * How many threads stuck in a shield a run's stuck teardown kills through it one at a
 * time (see #deadlock); the rest go at once.
 */
const FORCED_ONE_BY_ONE = 64;
/** How many stuck threads a `DeadlockError` names. */
const DEADLOCK_REPORT_LIMIT = 10;

/** The options the kernel needs from {@linkcode run}. */
export interface KernelOptions {
  clock?: VirtualClock;
  signal?: AbortSignal;
  trace?: boolean;
  name?: string;
}

/** Runs one coroutine and every thread it spawns, to completion. */
export class Kernel implements ThreadHost {
  readonly #queue = new RingQueue<Thread>();
  readonly #timers = new TimerHeap<Thread>();
  readonly #clock: VirtualClock | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #trace: boolean;
  readonly #rootName: string | undefined;
  readonly #resolve: (value: unknown) => void;
  readonly #reject: (error: unknown) => void;
  #root!: Thread;
  #nextId = 0;
  /** The live threads, as a linked list, and how many there are. */
  #first: Thread | null = null;
  #live = 0;
  /** Promises and outside wake-ups pending: while any is, the virtual clock holds still. */
  #externalWaits = 0;
  #running = false;
  #finished = false;
  /** The run is ending with `#error`: its threads are being killed. */
  #failed = false;
  #error: unknown = undefined;
  /** The run's signal was aborted during a step: acted on between steps. */
  #abortPending = false;
  /** Steps left in the budget's current stretch (see FIRST_STRETCH). */
  #budget = STEPS_PER_CHECK;
  /** Steps left in the budget after the current stretch; always 0 on a virtual clock. */
  #budgetRest = 0;
  /** How long the next stretch is (see FIRST_STRETCH). */
  #stretch = FIRST_STRETCH;
  /** When the kernel last looked at the time in a budget (its start, or a stretch's end). */
  #lastStepLook = 0;
  /**
   * When the current budget began, as looked at then, or, if that was in an earlier drive,
   * at the drive's first look: the event loop's time between two drives is no step's.
   */
  #budgetStartedAt = 0;
  /** Whether the kernel has looked at the time in a budget since this drive began. */
  #driveLooked = false;
  /** Whether the current budget ended early, having lasted a slice (#endStretch). */
  #budgetSliceUsed = false;
  /** How many steps the current stretch was given. */
  #stretchLength = STEPS_PER_CHECK;
  /**
   * How many stretches in a row went at a pace that would make the rest of their budget
   * last LONG_BUDGET_MS or more: two, and a budget that has lasted a slice ends (one alone
   * may be a short pause of the garbage collector, not slow steps). A pause of
   * LONG_BUDGET_MS or more ends it anyway, as do two in a row: compiling code at a
   * process's start can, so a fresh process's first budgets may end early.
   */
  #slowStretches = 0;
  /** Steps a budget had left when slow steps ended it early: not steps taken. */
  #forfeited = 0;
  /** How many times the budget has run out and refilled: with it, steps can be counted. */
  #refills = 0;
  /** A deadline that came due is held back (#fireDueTimers). */
  #holding = false;
  /** How many more budget checks a hold may last (see HOLD_CHECKS_VIRTUAL). */
  #holdChecks = 0;
  /**
   * On the real clock, how many more steps the first held deadline may wait for its
   * instant's work (HOLD_ROUNDS_REAL); 0 when not holding.
   */
  #holdSteps = 0;
  /** How many more steps of any thread the first held deadline may wait (#startHoldWait). */
  #holdTotal = 0;
  /** When the first held deadline's wait began (real time; see HOLD_MS_REAL). */
  #holdStartedAt = 0;
  /**
   * On the real clock, the instant of the first held deadline: the look at the time that
   * found it due. Threads stamped with it or an earlier one (Thread.instant) are the work
   * it waits for. 0 when not holding.
   */
  #instant = 0;
  /** How many instants the real clock's holds have had; numbers each one. */
  #instants = 0;
  /** The first instant of the current hold: stamps below it are left from an earlier one. */
  #holdFirst = 0;
  /**
   * How many ready threads each instant of the hold has, from `#instantBase` on; the
   * first count also holds those of the hold's instants before it (merged as the first
   * held deadline's instant moves on, so that a hold that lasts keeps few counts).
   */
  #instantCounts: number[] = [];
  /** The instant of `#instantCounts[0]`. */
  #instantBase = 0;
  /** How many ready threads the instants up to `#instant` have: at 0 its work is done. */
  #instantReady = 0;
  /**
   * Whether the instant's work has had the event loop's turn (once, when it waits on
   * promises): what settles at once is part of it.
   */
  #instantTurned = false;
  /** During that turn: every thread queued is part of the instant's work. */
  #instantOpen = false;
  /** The timer heap's `heldSoFar` when the kernel last looked. */
  #heldSeen = 0;
  /** This run's count for channel operations done inside `yield*` (see `fastPath`). */
  #fastPathCredit = FAST_PATH_RUN;
  /** Numbers each shield, so that a later shield as deep is told from an ended one. */
  #shieldSerial = 0;
  #wakeHandle: ReturnType<typeof setTimeout> | undefined = undefined;
  #wakeAt = 0;
  #immediateHandle: ReturnType<typeof setImmediate> | undefined = undefined;
  /** Jumps a virtual clock after a quiet spell; see `VirtualClockOptions`. */
  #autojumpHandle: ReturnType<typeof setTimeout> | undefined = undefined;
  #hopTimerHandle: ReturnType<typeof setTimeout> | undefined = undefined;
  /** The event loop's turn before a virtual clock jumps, while it is pending. */
  #jumpHandle: ReturnType<typeof setImmediate> | undefined = undefined;
  /** How many turns of the event loop the armed jump still waits (see #armTurnBeforeJump). */
  #jumpTurnsLeft = 0;
  /** While `start` runs the first drive, inside the caller's `run()`. */
  #starting = false;
  /** Whether that turn came: the clock may jump now. */
  #turnBeforeJump = false;
  /** Whether a drive for a wake from outside the run is queued. */
  #driveQueued = false;
  /** Work of drives from promise reactions since the last look at the time. */
  #reactionWork = 0;
  /** When the pending macrotask mark was set: reaction drives since then had no macrotask. */
  #reactionsSince = 0;
  /** A timer that, when it fires, shows that a macrotask ran. */
  #macrotaskMark: ReturnType<typeof setTimeout> | undefined = undefined;
  /** When a macrotask mark last fired (0: never). */
  #macrotaskSeen = 0;
  /** The errors the run's failure holds (see `seenBefore`). */
  readonly #failures = new Set<unknown>();
  /** A DeadlockError of this run's is in `#error` already (#deadlock). */
  #deadlockReported = false;
  /** Once the run's signal has aborted it: the abort's reason, every kill's from then on. */
  #abortReason: { reason: unknown } | null = null;
  /**
   * The threads whose kill waited for a shield when the run's teardown first stuck: those
   * a deadlock may kill through their shield (#deadlock); null until then.
   */
  #forcible: Set<Thread> | null = null;
  /** How many of them were killed through their shield one by one. */
  #forcedOneByOne = 0;
  /** The thread `#step` runs now; null between turns. */
  #stepping: Thread | null = null;
  /** Slice hops since the kernel last went idle. */
  #busyHops = 0;
  /** When the last timer hop was made (see IO_POLL_MS). */
  #lastIoPoll = 0;
  /** When #driveFromReaction last looked at the time. */
  #lastLook = 0;

  constructor(
    options: KernelOptions,
    resolve: (value: unknown) => void,
    reject: (error: unknown) => void,
  ) {
    this.#clock = options.clock;
    this.#signal = options.signal ?? undefined;
    this.#trace = options.trace === true;
    this.#rootName = options.name ?? undefined;
    this.#resolve = resolve;
    this.#reject = reject;
  }

  /** Starts the root thread and runs until it has to wait. */
  start(operation: Operation<unknown>): void {
    const coroutine = asCoroutine(operation);
    const problem = coroutineProblem(coroutine, "run");
    if (problem !== null) {
      this.#finished = true;
      this.#reject(new TypeError(problem));
      return;
    }
    const signal = this.#signal;
    if (signal?.aborted) {
      this.#finished = true;
      coroutine.return(undefined);
      this.#reject(signal.reason);
      return;
    }
    const clock = this.#clock;
    if (clock !== undefined && !claimClock(clock, this)) {
      this.#finished = true;
      coroutine.return(undefined);
      this.#reject(
        new TypeError(
          "Cannot run with this virtual clock: another run uses it (use one clock per run)",
        ),
      );
      return;
    }
    signal?.addEventListener("abort", this.#onAbort);
    liveRuns++;
    // Counted from the start, not from 0: a run's first hop is an immediate one, like the
    // seven after it, not a timer (which costs a short run a millisecond or two).
    this.#lastIoPoll = performance.now();
    this.#root = this.#spawn(coroutine, null, false);
    if (this.#rootName !== undefined) this.#root.withExtras().name = this.#rootName;
    this.#starting = true;
    try {
      this.#drive(true);
    } finally {
      this.#starting = false;
    }
  }

  /** Whether the run has ended: settled, with every thread it could end ended. */
  get ended(): boolean {
    return this.#finished;
  }

  describeDeadline(deadline: number): string {
    if (this.#clock !== undefined) return `until ${Number(deadline.toFixed(3))}`;
    const left = Math.max(deadline - performance.now(), 0);
    return `with ${Number(left.toFixed(1))} ms left`;
  }

  /** The kernel's time: the virtual clock's, or the monotonic real time. */
  now(): number {
    return this.#clock === undefined ? performance.now() : this.#clock.now();
  }

  #spawn(
    coroutine: Coroutine<unknown>,
    parent: Thread | null,
    isScope: boolean,
    owner: Thread | null = null,
  ): Thread {
    // A thread belongs to the scope it is given, or else to the one its spawner is, or
    // belongs to.
    const scope = owner !== null
      ? owner
      : parent === null
      ? null
      : parent.isScope
      ? parent
      : parent.scope;
    const thread = new Thread(this, this.#nextId++, coroutine, parent, scope);
    if (isScope) thread.withExtras().isScope = true;
    if (scope !== null) (scope.withExtras().members ??= new Set()).add(thread);
    markRun(coroutine, thread);
    const first = this.#first;
    if (first !== null) {
      thread.next = first;
      first.prev = thread;
    }
    this.#first = thread;
    this.#live++;
    this.#enqueue(thread);
    // A teardown (the run ending, a scope closing, a kill) lets what a `finally` spawns run
    // (a cleanup may use `withTimeout`), but no longer than the thread that spawned it.
    // One given to a scope explicitly (`owner`, a task group's child) is that scope's to end.
    if (
      parent !== null &&
      owner === null && (this.#failed || parent.killing || scope?.state === STATE_CLOSING)
    ) {
      addToKillLater(parent.withExtras().teardownChildren ??= [], thread);
      thread.withExtras().spawnedInTeardownOf = parent; // spared while its spawner unwinds
    }
    // What a shielded frame spawns is spared by teardowns until the outermost shield it
    // is in ends: every shielded operation around it may still wait for it. Not one it
    // gives a scope (`group.spawn`): that is the scope's to end.
    const shields = parent?.extras?.shields;
    if (owner === null && shields != null && shields.length > 0) {
      const extras = thread.withExtras();
      extras.spawnedInShield = parent;
      extras.shieldSerial = parent!.extras!.shieldSerials![0];
    }
    // Started in a scope that is killing what it owns (a task group failing, or killed, or
    // ending): that teardown's, as if it had been there. Given to the scope, it is killed
    // at once, before it runs, as Trio starts a task in a cancelled nursery cancelled; a
    // helper that a shielded operation or a `finally` starts lives until that ends.
    if (scope !== null && (scope.state === STATE_CLOSING || scope.extras!.membersKilled)) {
      this.#killUnlessShielded(thread, scope.extras!.tornDown ?? scope);
    }
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
    this.#drive(true);
  };

  readonly #onMacrotaskMark = (): void => {
    this.#macrotaskMark = undefined;
    this.#macrotaskSeen = performance.now();
  };

  /**
   * Gives the event loop a turn before the clock jumps (or held deadlines fire), unless one
   * is asked for already. Asked for inside `run()` itself, the turn would come before what
   * the caller queues right after `run()` returns (a `setImmediate` that sends, or aborts),
   * which in real time comes first: so it takes two turns.
   */
  #armTurnBeforeJump(): void {
    if (this.#jumpHandle !== undefined) return;
    this.#jumpTurnsLeft = this.#starting ? 2 : 1;
    this.#jumpHandle = setImmediate(this.#onTurnBeforeJump);
  }

  readonly #onTurnBeforeJump = (): void => {
    if (--this.#jumpTurnsLeft > 0) {
      this.#jumpHandle = setImmediate(this.#onTurnBeforeJump);
      return;
    }
    this.#jumpHandle = undefined;
    // The turn counts for the drive it starts only: one left over (its jump or deadline
    // went ahead another way meanwhile) must not let a later one skip its own turn.
    this.#turnBeforeJump = true;
    this.#drive();
    this.#turnBeforeJump = false;
  };

  readonly #onHopTimer = (): void => {
    this.#hopTimerHandle = undefined;
    this.#drive(true);
  };

  readonly #onAbort = (): void => {
    if (this.#running) {
      // Aborted from inside a step (a coroutine calling `abort()`, or a thread's abort
      // listener during a kill): act once that step is over. A zero budget ends the
      // running thread's turn at its next yield.
      this.#abortPending = true;
      this.#budget = this.#budgetRest = 0;
      // So does an operation done without the kernel (a channel's fast path), which asks
      // for a step at once (see `fastPath`), and is refused. Aborted from a run started
      // inside this one's step, whose count is in `atOnce` now, this run's is in its field
      // until that run's drive puts it back (see #drive).
      this.#fastPathCredit = 0;
      if (atOnce.owner === this) atOnce.credit = 0;
      return;
    }
    // Killing runs threads' own abort listeners, which must not re-enter the loop.
    this.#running = true;
    try {
      this.#fail(this.#signal!.reason, true);
    } finally {
      this.#running = false;
    }
    this.#drive();
  };

  readonly #onAutojump = (): void => {
    this.#autojumpHandle = undefined;
    const next = this.#timers.peek();
    if (next !== undefined) advanceClock(this.#clock!, next.deadline);
    this.#drive();
  };

  /**
   * Runs the kernel for a while. `busy`: the drive is likely a long one (the run's first,
   * or one after a hop), so its time is looked at from its start (see #cutStretch).
   */
  #drive(busy = false): void {
    if (this.#running || this.#finished) return;
    if (this.#autojumpHandle !== undefined) {
      // Something happened: the quiet spell starts again when the kernel next waits.
      clearTimeout(this.#autojumpHandle);
      this.#autojumpHandle = undefined;
    }
    this.#running = true;
    if (this.#clock === undefined) this.#cutStretch(busy);
    // Events record where they are made only while a tracing run steps its threads.
    const tracingBefore = tracing.on;
    tracing.on = this.#trace;
    const lineageBefore = stepping.lineage;
    stepping.lineage = this.#steppingLineage;
    // A run started from inside another run's step has its own: restored on the way out.
    const atOnceBefore = atOnce.run;
    const joinBefore = atOnce.join;
    // The driving run's count goes back to its field meanwhile, where an abort of that run
    // from inside this one (see #onAbort) finds it.
    const ownerBefore = atOnce.owner as Kernel | null;
    if (ownerBefore !== null) ownerBefore.#fastPathCredit = atOnce.credit;
    atOnce.owner = this;
    atOnce.run = this.#doAtOnce;
    atOnce.join = this.#joinAtOnce;
    const suspendBefore = atOnce.suspend;
    atOnce.suspend = this.#suspendAtOnce;
    const chargeBefore = atOnce.charge;
    atOnce.charge = this.#chargeAtOnce;
    atOnce.credit = this.#fastPathCredit;
    try {
      this.#loop();
    } finally {
      tracing.on = tracingBefore;
      stepping.lineage = lineageBefore;
      atOnce.run = atOnceBefore;
      atOnce.join = joinBefore;
      atOnce.suspend = suspendBefore;
      atOnce.charge = chargeBefore;
      this.#fastPathCredit = atOnce.credit;
      atOnce.owner = ownerBefore;
      atOnce.credit = ownerBefore === null ? FAST_PATH_RUN : ownerBefore.#fastPathCredit;
      this.#running = false;
    }
  }

  /** The thread being stepped, for a story (see `stepping`). */
  readonly #steppingLineage = (): string | null => {
    const thread = this.#stepping;
    return thread === null ? null : describeLineage(thread);
  };

  #loop(): void {
    const queue = this.#queue;
    this.#instantOpen = false; // the event loop's turn, if one was asked for, is over
    // The slice starts at the first look at the time, not here: most drives are one
    // thread woken by I/O, and reading the clock costs more than stepping it.
    let sliceEnd = 0;
    // The step budget carries over from one drive to the next: where a busy thread gives
    // way then depends on steps alone, not on when the event loop came in, so a run on a
    // virtual clock takes the same turns however long its steps take in real time.
    for (;;) {
      // Phase 1: run the ready threads, looking at the time now and then.
      let thread: Thread | undefined;
      while ((thread = queue.shift()) !== undefined) {
        if (this.#holdSteps === 0) this.#step(thread);
        else if (this.#stepHeld(thread)) return this.#hop();
        if (this.#budget <= 0 && this.#spent()) {
          this.#refillBudget();
          this.#refills++;
          if (this.#abortPending) this.#takeAbort();
          // Deadlines held back long enough: busy threads hold them no longer.
          if (this.#holding && --this.#holdChecks <= 0) this.#fireHeld(true);
          const now = performance.now();
          // A budget that slow steps ended has lasted a slice of this drive already.
          const sliceUsed = this.#budgetSliceUsed;
          this.#budgetSliceUsed = false;
          this.#lastStepLook = this.#budgetStartedAt = now;
          this.#driveLooked = true;
          // On the real clock, an instant's work of more than HOLD_MS_REAL is no instant:
          // however few steps it took, slow ones beside it held the deadline long enough.
          if (this.#holdSteps !== 0 && now - this.#holdStartedAt >= HOLD_MS_REAL) {
            this.#fireHeld(true);
          }
          this.#fireDueTimers();
          if (sliceUsed && queue.size > 0) return this.#hop();
          if (sliceEnd === 0) sliceEnd = now + SLICE_MS;
          else if (now >= sliceEnd && queue.size > 0) return this.#hop();
        }
      }
      if (this.#abortPending) {
        this.#takeAbort();
        continue;
      }
      if (this.#live === 0) return this.#complete();

      // Phase 2: timers that are due, or, on a virtual clock with nothing else pending,
      // the next one, which is the same thing. Reading the real clock costs about as much
      // as a thread's step (about 90 ns in Deno), and most drives are one thread woken by
      // I/O: so a short drive that finds the earliest timer already covered by the armed
      // wake leaves that timer to the wake. A busy drive (one that has looked at the time)
      // and one woken by the wake itself still look, so timers keep their turn.
      let nextTimer = this.#timers.peek();
      // Deadlines held back: nothing is ready, so what else was due in their instant has
      // run. They go before timers due since, which could otherwise keep them waiting.
      let woke = this.#fireHeldWhenIdle();
      if (woke === null) return; // the event loop's turn first
      if (
        !woke && nextTimer !== undefined &&
        (sliceEnd !== 0 || this.#clock !== undefined || this.#wakeHandle === undefined ||
          this.#wakeAt !== nextTimer.deadline)
      ) {
        woke = this.#fireDueTimers();
        nextTimer = this.#timers.peek();
        // Deadlines that came due with nothing else due in their instant.
        if (!woke) {
          woke = this.#fireHeldWhenIdle();
          if (woke === null) return;
        }
      }
      if (
        !woke && nextTimer !== undefined && this.#clock !== undefined && this.#externalWaits === 0
      ) {
        // Before time passes, the event loop has a turn: what the program does outside the
        // run meanwhile (an abort right after `run()`, a send from a timer) comes before
        // the jump, as it would in real time.
        if (!this.#turnBeforeJump) {
          this.#armTurnBeforeJump();
          // Something became ready as it was armed (see #armedTimer): the turn that counts
          // comes after that thread has run.
          if (this.#armedTimer()) {
            clearImmediate(this.#jumpHandle);
            this.#jumpHandle = undefined;
          }
          return;
        }
        this.#turnBeforeJump = false;
        advanceClock(this.#clock, nextTimer.deadline);
        woke = this.#fireDueTimers();
        // Only deadlines came due: nothing else is due in their instant.
        if (!woke && this.#holding) woke = this.#fireHeld(false);
      }
      if (woke) {
        // Timers keep the kernel busy as much as ready threads do.
        const now = performance.now();
        if (sliceEnd === 0) sliceEnd = now + SLICE_MS;
        else if (now >= sliceEnd) return this.#hop();
        continue;
      }

      // Phase 3: nothing is ready; wait for a timer, a promise, or report a deadlock.
      this.#busyHops = 0;
      if (nextTimer !== undefined) {
        // A virtual timer cannot fire in real time: with something outside pending, the
        // clock holds still, or jumps after the threshold's quiet spell.
        if (this.#clock === undefined) this.#armWake(nextTimer.deadline);
        else if (this.#clock.autojumpThreshold !== Infinity) {
          // setTimeout fires at once past 2^31 - 1 ms; no test waits that long anyway.
          const threshold = Math.min(this.#clock.autojumpThreshold, 2 ** 31 - 1);
          this.#autojumpHandle = setTimeout(this.#onAutojump, threshold);
        }
        // The next drive clears the autojump timer: something happened.
        this.#armedTimer();
        return;
      }
      if (this.#externalWaits > 0) return;
      if (!this.#deadlock()) return;
    }
  }

  /**
   * Drives the kernel for a promise reaction, a microtask. A thread that keeps waiting on
   * promises already settled would keep driving it from microtasks alone, and the event
   * loop (timers, I/O, the run's signal) would never get a turn: so once in a while this
   * looks whether a macrotask ran since such drives began, and past a slice without one,
   * leaves the woken threads queued for a hop (rule 5). While a hop is pending, the hop
   * drives. A server's reads and writes drive it this way thousands of times a second
   * (each drive runs every thread whose op completed in one turn of Deno's event loop),
   * each from a macrotask of its own: so a mark is set only when none fired in the last
   * slice, about one timer per slice rather than one per look (a timer costs Deno
   * microseconds).
   */
  #driveFromReaction(): void {
    if (this.#immediateHandle !== undefined || this.#hopTimerHandle !== undefined) return;
    if (this.#reactionWork >= REACTION_WORK_PER_CHECK) {
      const now = performance.now();
      // Drives that took a slice or more since the last look (slow steps: a handler that
      // compresses each chunk it writes) are looked at one by one from now on, so that the
      // hop comes a drive after the mark, not four; fast ones again every four or so.
      this.#reactionWork = now - this.#lastLook >= SLICE_MS ? REACTION_WORK_PER_CHECK : 0;
      this.#lastLook = now;
      if (this.#macrotaskMark === undefined) {
        if (now - this.#macrotaskSeen >= SLICE_MS) {
          this.#reactionsSince = now;
          this.#macrotaskMark = setTimeout(this.#onMacrotaskMark, 0);
        }
      } else if (now - this.#reactionsSince >= SLICE_MS && !this.#running && !this.#finished) {
        this.#reactionsSince = now;
        return this.#hop();
      }
    }
    // Counted in steps, not drives: one drive may run every thread whose promise settled
    // in the same turn of the event loop. (The budget refills each time it runs out.)
    const budget = this.#budget + this.#budgetRest;
    const refills = this.#refills;
    this.#drive();
    this.#reactionWork += REACTION_WORK_PER_DRIVE + budget - this.#budget - this.#budgetRest +
      (this.#refills - refills) * STEPS_PER_CHECK;
  }

  #takeAbort(): void {
    this.#abortPending = false;
    this.#fail(this.#signal!.reason, true);
  }

  /**
   * Called just after the kernel armed a timer (or an immediate) and is about to wait:
   * under `deno test`, the process's first timer call runs the microtasks queued so far
   * inside the call, and a promise reaction there may have woken a thread (or asked for an
   * abort) while the kernel ran, which refused to be driven for it. Such a thread runs
   * from a hop, not at the timer (it could be a second away, or a virtual clock jump),
   * and not at once: a promise's thread never resumes before `run()` has returned. Says
   * whether there was one.
   */
  #armedTimer(): boolean {
    if (this.#queue.size === 0 && !this.#abortPending) return false;
    this.#hop();
    return true;
  }

  /** Lets the event loop in while the kernel is still busy; see rule 5. */
  #hop(): void {
    if (this.#immediateHandle !== undefined || this.#hopTimerHandle !== undefined) return;
    // Hops come at most once a slice, so reading the clock here costs little.
    const now = performance.now();
    if (++this.#busyHops % HOPS_PER_IO_POLL === 0 || now - this.#lastIoPoll >= IO_POLL_MS) {
      this.#lastIoPoll = now;
      this.#hopTimerHandle = setTimeout(this.#onHopTimer, 0);
    } else this.#immediateHandle = setImmediate(this.#onImmediate);
  }

  /**
   * Moves every due timer's thread to the ready queue; says whether any was due. A time
   * limit's deadline (a late timer) is held back instead (#fireHeld): what is due in its
   * instant runs first (the holder that releases the lock at that very moment), so an
   * operation that finishes then counts as done, whatever its form. On the real clock the
   * instant's work is known by its threads (Thread.instant): those timers woke that have
   * not run yet, and what they wake, spawn or requeue; busy threads that were running
   * already are not part of it, so they hold the deadline back only as long as they hold
   * back that work. On a virtual clock, where no time passes meanwhile, the hold lasts
   * HOLD_CHECKS_VIRTUAL step budgets, the budget starting afresh as the hold begins, so
   * that the hold is the same number of steps whatever ran before.
   */
  #fireDueTimers(): boolean {
    const timers = this.#timers;
    if (timers.peek() === undefined) return false;
    const now = this.now();
    let fired = false;
    let entry;
    const real = this.#clock === undefined;
    if (real) timers.instant = this.#instants + 1; // for deadlines coming due now
    while ((entry = timers.popDue(now)) !== undefined) {
      const thread = entry.owner!;
      thread.timer = null;
      this.#enqueue(thread);
      // Due work of an instant a deadline may be held for, until it runs.
      if (real) thread.instant = WOKEN_BY_TIMER;
      fired = true;
    }
    const heldSoFar = timers.heldSoFar;
    if (heldSoFar !== this.#heldSeen) {
      this.#heldSeen = heldSoFar;
      if (this.#clock !== undefined) {
        if (!this.#holding) {
          // The same number of steps, whatever ran before.
          this.#budget = STEPS_PER_CHECK;
          this.#holdChecks = HOLD_CHECKS_VIRTUAL;
        }
      } else {
        // The threads timers woke that have not run yet are this instant's work, which its
        // deadlines wait for; a hold in progress goes on for its own first deadline.
        const instant = ++this.#instants;
        if (!this.#holding) {
          this.#holdChecks = Infinity;
          this.#instant = this.#instantBase = this.#holdFirst = instant;
          this.#instantCounts = [];
          this.#instantReady = 0;
          this.#instantTurned = false;
          this.#startHoldWait();
        }
        this.#stampTimerWoken(instant);
      }
      this.#holding = true;
    }
    return fired;
  }

  /**
   * Makes the threads that timers woke and that have not run since part of the instant
   * held for: the work due by its deadline, whichever look at the time found it due.
   */
  #stampTimerWoken(instant: number): void {
    const queue = this.#queue;
    for (let i = 0; i < queue.size; i++) {
      const thread = queue.at(i)!;
      if (thread.instant === WOKEN_BY_TIMER) {
        thread.instant = instant;
        this.#countInstant(instant, 1);
      }
    }
  }

  /** Counts `delta` more ready threads of `instant`'s work. */
  #countInstant(instant: number, delta: number): void {
    const counts = this.#instantCounts;
    const at = Math.max(instant - this.#instantBase, 0);
    counts[at] = (counts[at] ?? 0) + delta;
    if (instant <= this.#instant) this.#instantReady += delta;
  }

  /**
   * Steps `thread` while a deadline is held back on the real clock, and fires the deadline
   * once its instant's work is done; says whether the event loop is to have a turn first.
   */
  #stepHeld(thread: Thread): boolean {
    const instant = thread.instant;
    const ofHold = instant >= this.#holdFirst && instant > 0;
    if (ofHold) this.#countInstant(instant, -1);
    // The hold's own work is charged its steps (alone in the queue, a thread takes many in
    // one turn); a busy thread that was running already, a turn, whatever its steps.
    const budget = this.#budget + this.#budgetRest;
    const forfeited = this.#forfeited;
    this.#step(thread);
    const left = this.#budget + this.#budgetRest;
    const steps = Math.max(budget - left - (this.#forfeited - forfeited), 1);
    this.#holdSteps -= ofHold ? steps : 1;
    this.#holdTotal -= steps;
    return (this.#holdSteps <= 0 || this.#holdTotal <= 0 || this.#instantReady === 0) &&
      this.#instantDone();
  }

  /**
   * On the real clock, a held deadline's instant has no more work ready (or its hold ran
   * out): the first held deadline fires, or, with the queue empty, phase 2 fires it. Says
   * whether the event loop is to have a turn first: the work waits on promises, and what
   * settles at once is part of the instant.
   */
  #instantDone(): boolean {
    if (this.#holdSteps <= 0 || this.#holdTotal <= 0) {
      this.#fireHeld(true);
      return false;
    }
    // The first deadline still held may be of a later instant (the earlier ones' waits
    // ended on their own): it waits for its own instant's work.
    const first = this.#timers.peekHeld();
    if (first === undefined) {
      this.#endHold(); // all cancelled meanwhile
      return false;
    }
    if (first.instant > this.#instant) {
      this.#advanceInstant(first.instant);
      if (this.#instantReady > 0) return false;
    }
    if (this.#queue.size === 0) return false; // phase 2, which gives the turn itself
    if (this.#externalWaits > 0 && !this.#instantTurned) {
      this.#instantTurned = this.#instantOpen = true;
      return true;
    }
    this.#fireHeld(false);
    return false;
  }

  /**
   * Starts the first held deadline's wait for its instant's work: HOLD_ROUNDS_REAL steps
   * of every ready thread and HOLD_STEPS_REAL more, counting that work's steps and a turn
   * of any other thread; and, in all steps, no longer than HOLD_ROUNDS_REAL turns of every
   * ready thread at a whole budget each and HOLD_CHECKS_VIRTUAL budgets more (busy threads
   * that take a budget of steps a turn, beside work that never stops).
   */
  #startHoldWait(): void {
    this.#holdStartedAt = performance.now();
    const ready = this.#queue.size;
    this.#holdSteps = HOLD_ROUNDS_REAL * ready + HOLD_STEPS_REAL;
    this.#holdTotal = (HOLD_ROUNDS_REAL * ready + HOLD_CHECKS_VIRTUAL) * STEPS_PER_CHECK;
  }

  /**
   * Makes `instant` the one the first held deadline waits for: it waits for the work of
   * that instant and the earlier ones, from now on, as long as a hold may last.
   */
  #advanceInstant(instant: number): void {
    this.#instant = instant;
    let ready = 0;
    const counts = this.#instantCounts;
    const merged = instant - this.#instantBase + 1;
    for (let at = 0; at < merged && at < counts.length; at++) ready += counts[at] ?? 0;
    // Those instants' counts are only ever read together from now on: one count for all.
    counts.splice(0, merged, ready);
    this.#instantBase = instant;
    this.#instantReady = ready;
    this.#instantTurned = false;
    this.#startHoldWait();
  }

  /** Makes the threads queued from place `from` on part of `instant`'s work. */
  #stampInstant(from: number, instant: number): void {
    const queue = this.#queue;
    for (let i = from; i < queue.size; i++) queue.at(i)!.instant = instant;
    this.#countInstant(instant, queue.size - from);
  }

  /** Nothing is held back any more. */
  #endHold(): void {
    this.#holding = false;
    this.#holdSteps = 0;
    this.#instant = 0;
  }

  /**
   * Fires deadlines held back once nothing is ready (#fireHeld). With a promise pending
   * (one already settled, say), the event loop has a turn first, as before a clock jump:
   * what settles at once is part of the instant too. Says whether any fired, or null if
   * the kernel is to wait for that turn.
   */
  #fireHeldWhenIdle(): boolean | null {
    if (!this.#holding) return false;
    if (!this.#timers.hasHeld) {
      this.#endHold(); // all cancelled meanwhile
      return false;
    }
    if (this.#externalWaits > 0 && !this.#turnBeforeJump) {
      // What the turn wakes is part of the instant's work (on the real clock); so is what
      // a first timer call wakes as it is made (see #armedTimer).
      if (this.#instant !== 0) this.#instantTurned = this.#instantOpen = true;
      this.#armTurnBeforeJump();
      return null;
    }
    this.#turnBeforeJump = false;
    return this.#fireHeld(false);
  }

  /**
   * Fires the deadlines held back, innermost first: each ends its wait and wakes its
   * thread, which runs before the next one fires, unless `all` (a hold that lasted a whole
   * budget). Says whether any fired.
   */
  #fireHeld(all: boolean): boolean {
    const timers = this.#timers;
    const queue = this.#queue;
    const before = queue.size;
    let fired = false;
    let instant = 0;
    let entry;
    while ((entry = timers.popHeld()) !== undefined) {
      const thread = entry.owner!;
      thread.timer = null;
      if (thread.state === STATE_SLEEPING) this.#enqueue(thread); // a coroutine limit's timer
      else this.#expireDeadline(thread);
      fired = true;
      instant = entry.instant;
      if (!all && queue.size > before) break;
    }
    if (!timers.hasHeld) this.#endHold();
    else if (this.#clock === undefined) {
      // One fired: what it woke is its instant's work, which the rest wait for too, with
      // whatever of their own instants' work is still to run.
      if (instant >= this.#holdFirst) this.#stampInstant(before, instant);
      const next = timers.peekHeld()!.instant;
      if (next > this.#instant) this.#advanceInstant(next);
      this.#instantTurned = false;
      if (this.#holdSteps <= 0) this.#startHoldWait();
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
    // A run sees its own threads only: one that waits on something another run shares
    // with it (a channel, a lock, an in-memory connection) looks stuck, and may be.
    const others = liveRuns > 1
      ? "; another run is live in this process: if these threads wait on something it shares with this run (a channel, a lock, an in-memory connection), it cannot wake them, since a run sees its own threads only"
      : "";
    const error = new DeadlockError(
      `Cannot continue run: every thread is blocked forever (${this.#describeStuck()})${others}`,
    );
    if (!this.#failed) {
      this.#deadlockReported = true;
      this.#fail(error);
      return true;
    }
    // Threads spawned during the teardown, stuck: kill them too.
    let killed = false;
    for (let t = this.#first; t !== null; t = t.next) {
      if (t.killing || t.extras?.killDeferred || t.state === STATE_CLOSING) continue;
      this.#startKill(t, undefined);
      killed = true;
    }
    if (killed) return true;
    // Teardown itself is stuck. Stuck since a deadlock began the teardown, it is that same
    // deadlock (a thread stuck in a shield); otherwise this one goes on top of the error,
    // once: stuck again after the kills below, it is still the same deadlock.
    if (!this.#deadlockReported) {
      this.#deadlockReported = true;
      this.#fail(error);
    }
    // Threads whose end waits for a shield that nothing can end now (their kill waits for
    // it, or their cleanup entered it): the kill goes through it, so that their `finally`
    // blocks run (a lock they hold is let go, say). One at a time, oldest of each kind
    // first (see below), each time the run is stuck again: what one lets go of
    // may let another's shield end on its own. Only those stuck when the teardown first
    // stuck: a cleanup that retries a helper stuck in a shield would otherwise go on for
    // ever. A thread stuck again in its cleanup is given up on below.
    if (this.#forcible === null) {
      this.#forcible = new Set();
      for (let t = this.#first; t !== null; t = t.next) {
        if (stuckInShield(t)) this.#forcible.add(t);
      }
    }
    // One whose kill a shield holds back goes first; then one whose cleanup, begun by a
    // kill, entered a shield (it may wait on what the first kind holds: a lock); and one
    // that waits on another thread's end (a combinator's shielded cleanup killing its
    // losers) goes last: through its shield, it would leave what it waits for undone.
    let oldest: Thread | null = null;
    let oldestCleaning: Thread | null = null;
    let oldestWaitingOnThread: Thread | null = null;
    for (let t = this.#first; t !== null; t = t.next) {
      if (!this.#forcible.has(t) || !stuckInShield(t)) continue;
      if (t.state === STATE_KILL_WAITING || t.state === STATE_JOINING) oldestWaitingOnThread = t;
      else if (t.killing) oldestCleaning = t;
      else oldest = t;
    }
    oldest ??= oldestCleaning ?? oldestWaitingOnThread;
    if (oldest !== null) {
      // Each look walks every thread: past FORCED_ONE_BY_ONE, the rest go at once, or a
      // teardown of many thousands stuck would take minutes.
      const all = ++this.#forcedOneByOne > FORCED_ONE_BY_ONE;
      for (const t of all ? [...this.#forcible] : [oldest]) {
        this.#forcible.delete(t);
        if (!stuckInShield(t)) continue;
        const extras = t.extras!;
        extras.killDeferred = false;
        extras.shields!.length = 0;
        extras.shieldSerials!.length = 0;
        if (extras.spared !== null) this.#reconsiderSpared(extras);
        this.#beginUnwinding(t);
      }
      return true;
    }
    // Still stuck: give up on those threads rather than hang.
    // Errors the stuck threads hold (a failing scope's, a failed cleanup's) would have
    // reached the run had they ended: they are not dropped.
    for (const held of this.#heldErrors()) {
      if (held !== this.#error) this.#error = chain(this.#error, held);
    }
    // What they wait on is cancelled, as for any thread whose run ends: a lock's queue, say,
    // lets them go. What a `cancel` throws is chained too.
    for (let t = this.#first; t !== null; t = t.next) {
      const failure = this.#cancelPrimitive(t);
      if (failure !== null) this.#error = chain(failure.error, this.#error);
    }
    this.#complete();
    return false;
  }

  /** The errors live threads hold for when they end, oldest thread first, each once. */
  #heldErrors(): Set<unknown> {
    const threads: Thread[] = [];
    for (let t = this.#first; t !== null; t = t.next) threads.push(t);
    const held = new Set<unknown>();
    for (const t of threads.reverse()) {
      const extras = t.extras;
      if (extras === null) continue;
      if (t.state === STATE_CLOSING && extras.closingEnding === ENDING_FAILED) {
        held.add(extras.closingResult);
      } else if (extras.cleanupFailed) held.add(extras.cleanupError);
    }
    return held;
  }

  /** Says what each stuck thread waits on, e.g. `thread 1 waits on join(thread 2)`. */
  #describeStuck(): string {
    // The live list runs newest first; the report names the oldest (the root first).
    const stuck: Thread[] = [];
    for (let t = this.#first; t !== null; t = t.next) stuck.push(t);
    stuck.reverse();
    const lines = stuck.slice(0, DEADLOCK_REPORT_LIMIT).map((t) =>
      `${label(t)} waits on ${describeWait(t)}`
    );
    if (stuck.length > DEADLOCK_REPORT_LIMIT) {
      lines.push(`${stuck.length - DEADLOCK_REPORT_LIMIT} more`);
    }
    return lines.join("; ");
  }

  #complete(): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.#root !== undefined) liveRuns--;
    if (this.#wakeHandle !== undefined) clearTimeout(this.#wakeHandle);
    if (this.#immediateHandle !== undefined) clearImmediate(this.#immediateHandle);
    if (this.#hopTimerHandle !== undefined) clearTimeout(this.#hopTimerHandle);
    if (this.#autojumpHandle !== undefined) clearTimeout(this.#autojumpHandle);
    if (this.#macrotaskMark !== undefined) clearTimeout(this.#macrotaskMark);
    if (this.#jumpHandle !== undefined) clearImmediate(this.#jumpHandle);
    this.#wakeHandle =
      this.#immediateHandle =
      this.#hopTimerHandle =
      this.#jumpHandle =
        undefined;
    this.#autojumpHandle = this.#macrotaskMark = undefined;
    this.#signal?.removeEventListener("abort", this.#onAbort);
    if (this.#clock !== undefined) releaseClock(this.#clock, this);
    const root = this.#root;
    if (this.#failed) this.#reject(this.#error);
    else if (root.ending === ENDING_RETURNED) this.#resolve(root.result);
    else if (root.ending === ENDING_FAILED) this.#reject(root.result);
    else {
      this.#reject(
        new KilledError("Cannot finish run: its root coroutine was killed", {
          cause: root.extras?.killReason,
        }),
      );
    }
  }

  // ---------------------------------------------------------------------------------------
  // Stepping one thread

  /** Runs `thread` until it waits, ends, or the step budget runs out. */
  #step(thread: Thread): void {
    thread.state = STATE_RUNNING;
    const primitive = thread.primitive;
    // A primitive's result goes to the generator from a local, not through the thread's
    // `resumeValue`: a thread lives long and a result is new, and V8 takes the slow path
    // of its write barrier for every new object stored into an old one.
    let finishedValue = primitive === null ? NO_RESULT : this.#finishPrimitive(thread, primitive);
    // Set for the whole turn, not around each resumption: the null() step is the hot loop.
    this.#stepping = thread;
    for (;;) {
      // Charge every resumption, also one that ends in a wait or a requeue: otherwise
      // threads taking turns on `null()` never use up the budget and starve timers and I/O.
      // A stretch of the budget that ends here ends at once (see FIRST_STRETCH): the checks
      // below then see the budget's end only. (One call, out of the way: #step's size
      // decides how V8 optimizes it.)
      if (--this.#budget <= 0 && this.#budgetRest !== 0) this.#endStretch();
      const generator = thread.frame;
      const mode = thread.resumeMode;
      let value: unknown;
      thread.resumeMode = MODE_NEXT;
      if (finishedValue !== NO_RESULT) {
        value = finishedValue;
        finishedValue = NO_RESULT;
      } else {
        value = thread.resumeValue;
        thread.resumeValue = undefined;
      }
      let result: IteratorResult<unknown, unknown>;
      try {
        if (mode === MODE_NEXT) result = RESUME_NEXT.call(generator, value);
        else if (mode === MODE_THROW) {
          const extras = thread.extras;
          if (extras !== null) {
            if (extras.handedFrom !== null || extras.handedMany !== null) {
              this.#takeHandedErrors(thread, extras);
            }
            extras.misuse = undefined;
          }
          result = generator.throw(value);
        } else if (mode === MODE_RETURN) result = generator.return(value);
        else result = { done: false, value }; // yielded before it gave way: handled now
      } catch (error) {
        const failure = thread.state === STATE_RUNNING ? null : this.#abandonAtOnce(thread);
        const outcome = failure === null ? error : chain(failure.error, error);
        if (!this.#frameEnded(thread, false, outcome)) break;
        continue;
      }
      if (thread.state !== STATE_RUNNING) {
        // Its primitive began where `yield*` delegated to it (see #doAtOnce) and waits: the
        // generator has only to suspend on it, as it just did. Woken meanwhile, it is done.
        if (!result.done && result.value === thread.primitive) {
          if (thread.state !== STATE_READY) break;
          thread.state = STATE_RUNNING;
          finishedValue = this.#finishPrimitive(thread, thread.primitive!);
          continue;
        }
        const failure = this.#abandonAtOnce(thread);
        if (failure !== null) {
          if (result.done) {
            if (!this.#frameEnded(thread, false, failure.error)) break;
          } else {
            thread.resumeMode = MODE_THROW;
            thread.resumeValue = failure.error;
          }
          continue;
        }
      }
      if (result.done) {
        if (!this.#frameEnded(thread, true, result.value)) break;
        // What the frame returned reaches its caller before the thread gives way; a frame
        // unwound by a kill hands nothing on, so a deep unwinding still gives way.
        if (this.#budget <= 0 && (thread.resumeMode as ResumeMode) === MODE_RETURN) {
          this.#enqueue(thread);
          break;
        }
        continue;
      }
      const yielded = result.value;
      if (yielded === YIELD_NOW) {
        // The commonest event, recognized before any dispatch.
        if (!this.#onYieldNow(thread)) break;
        if (this.#budget <= 0) {
          this.#enqueue(thread);
          break;
        }
        continue;
      }
      // Out of steps, the thread gives way; never between an event and its result, which a
      // kill meanwhile would lose (an item received, a thread spawned). So it gives way
      // before most events take effect (a kill meanwhile finds them undone), but after those
      // that must take effect with the code that yields them (see `deferrable`). An event
      // it gave way before is handled first thing on its next turn, whatever the budget.
      // (A stretch that ended in an operation done at once, which then refused the next,
      // ends here: the thread gives way at the end of its budget only.)
      if (
        this.#budget <= 0 && mode !== MODE_HANDLE && deferrable(yielded) && this.#spent()
      ) {
        thread.resumeMode = MODE_HANDLE;
        thread.resumeValue = yielded;
        this.#enqueue(thread);
        break;
      }
      let goesOn: boolean;
      try {
        goesOn = this.#handle(thread, yielded);
      } catch (error) {
        goesOn = this.#handleThrew(thread, error, yielded);
      }
      if (!goesOn) break;
      if (this.#budget <= 0 && !deferrable(yielded)) {
        this.#enqueue(thread);
        break;
      }
    }
    this.#stepping = null;
  }

  /**
   * The budget's current stretch is used up (`#budget <= 0`): says whether the whole
   * budget is, after starting its next stretch if it has one (see FIRST_STRETCH).
   */
  #spent(): boolean {
    if (this.#budgetRest !== 0) this.#endStretch();
    return this.#budget <= 0;
  }

  /**
   * Ends a stretch of the budget, on the real clock: looks at the time, and ends the budget
   * if it has lasted a slice after two slow stretches in a row, or LONG_BUDGET_MS whatever
   * their pace (the running thread gives way, and the kernel looks as at the end of any
   * budget, so timers, I/O and the event loop get their turn); otherwise the next stretch
   * begins.
   */
  #endStretch(): void {
    const rest = this.#budgetRest;
    const now = performance.now();
    if (!this.#driveLooked) {
      // The budget's time in this drive starts here.
      this.#driveLooked = true;
      this.#budgetStartedAt = now;
    } else {
      // The next stretch is to take about half a slice, and fast ones double.
      const took = now - this.#lastStepLook;
      const stretch = this.#stretch;
      this.#stretch = took < SLICE_MS / 4
        ? Math.min(stretch * 2, MAX_STRETCH)
        : Math.min(Math.max(Math.floor(stretch * SLICE_MS / 2 / took), 1), MAX_STRETCH);
      const slow = took / this.#stretchLength * rest >= LONG_BUDGET_MS;
      this.#slowStretches = slow ? this.#slowStretches + 1 : 0;
      // Or, whatever the stretches' pace (a slow step every so many fast ones), once the
      // budget has lasted LONG_BUDGET_MS.
      const lasted = now - this.#budgetStartedAt;
      if ((this.#slowStretches >= 2 && lasted >= SLICE_MS) || lasted >= LONG_BUDGET_MS) {
        // What is left counts for a held deadline's wait as no steps taken.
        this.#forfeited += rest + Math.max(this.#budget, 0);
        this.#budget = this.#budgetRest = 0;
        this.#budgetSliceUsed = true;
        return;
      }
    }
    this.#lastStepLook = now;
    const next = Math.min(this.#stretch, rest);
    this.#budget += next;
    this.#budgetRest = rest - next;
    this.#stretchLength = Math.max(this.#budget, 1);
  }

  /**
   * Starts a new budget: on the real clock, in stretches as long as the last budget's
   * pace allows (see FIRST_STRETCH). Starting each budget at the first stretch again would
   * add looks to every budget of fast steps, and catch no slow step sooner than the last
   * stretch of a budget does.
   */
  #refillBudget(): void {
    if (this.#clock !== undefined) {
      this.#budget = STEPS_PER_CHECK;
      return;
    }
    this.#budget = this.#stretchLength = this.#stretch;
    this.#budgetRest = STEPS_PER_CHECK - this.#stretch;
  }

  /**
   * At the start of a drive on the real clock: the budget left from the last one goes on
   * in a first stretch, so that slow steps in this drive are looked at soon. The budget's
   * time starts with the drive if it is `busy`; otherwise (most drives are one thread
   * woken by I/O, for which reading the clock would cost more than stepping it) at the
   * drive's first look.
   */
  #cutStretch(busy: boolean): void {
    if (this.#stretch > FIRST_STRETCH) this.#stretch = FIRST_STRETCH;
    const stretch = this.#stretch;
    const budget = this.#budget;
    if (budget > stretch) {
      this.#budgetRest += budget - stretch;
      this.#budget = stretch;
    }
    this.#stretchLength = Math.max(this.#budget, 1);
    this.#driveLooked = busy;
    if (busy) this.#lastStepLook = this.#budgetStartedAt = performance.now();
    // A budget that slow steps ended in an earlier drive used up that drive's slice.
    this.#budgetSliceUsed = false;
  }

  /** A thread throws the error of a thread it joined (or those it killed): it is taken. */
  #takeHandedErrors(thread: Thread, extras: ThreadExtras): void {
    const from = extras.handedFrom;
    const many = extras.handedMany;
    extras.handedFrom = null;
    extras.handedMany = null;
    for (const target of from === null ? many! : [from]) {
      const fromExtras = target.extras!;
      fromExtras.receivers--;
      fromExtras.errorTaken = true;
    }
    // The error goes on from where its thread ended, not from where another joiner took it
    // (joiners handed one error together throw it one after the other), unless that joiner
    // still runs, and may yet throw it: one error tells one story, and its frames stay.
    if (from !== null) {
      const fromExtras = from.extras!;
      const last = fromExtras.storyTaker;
      if (last === null || last.state === STATE_DONE) fromExtras.endStory?.();
      fromExtras.storyTaker = thread;
    }
  }

  /**
   * A thread handed `from`'s error will never throw it: if no other thread handed it did
   * or still can, it goes where it would have gone had nobody taken it, to `from`'s scope
   * or the run, not nowhere.
   */
  #dropHandedError(from: Thread): void {
    const fromExtras = from.extras!;
    if (--fromExtras.receivers === 0 && !fromExtras.errorTaken) this.#unhandled(from, from.result);
  }

  /** Pops the finished top frame; says whether the thread goes on running. */
  #frameEnded(thread: Thread, ok: boolean, value: unknown): boolean {
    const depth = thread.popFrame();
    const extras = thread.extras;
    if (extras !== null) {
      // The ended frame's site goes with it, so that no later frame as deep shows it.
      const sites = extras.frameSites;
      if (sites !== null && depth > 0 && sites.length > depth) sites.length = depth;
      const shields = extras.shields;
      if (shields !== null && shields[shields.length - 1] === depth) {
        shields.pop();
        extras.shieldSerials!.pop();
        // What a teardown spared for the sake of the outermost shield is spared no longer.
        if (extras.spared !== null && shields.length === 0) this.#reconsiderSpared(extras);
        if (shields.length === 0 && extras.killDeferred) {
          // The kill that waited for the shielded frame takes effect now, on the frame
          // that called it. An error the shielded operation threw is a cleanup error.
          extras.killDeferred = false;
          if (!ok) this.#cleanupFailed(thread, value);
          this.#beginUnwinding(thread);
          return true;
        }
      }
      if (thread.killing && depth < extras.unwindDepth) {
        // A frame that was being unwound by a kill: go on unwinding the one below it.
        extras.unwindDepth = depth;
        if (!ok) this.#cleanupFailed(thread, value);
        if (depth === 0) {
          this.#finish(
            thread,
            extras.cleanupFailed ? ENDING_FAILED : ENDING_KILLED,
            extras.cleanupError,
          );
          return false;
        }
        thread.resumeMode = MODE_RETURN;
        return true;
      }
    }
    if (depth === 0) {
      this.#finish(thread, ok ? ENDING_RETURNED : ENDING_FAILED, value);
      return false;
    }
    thread.resumeMode = ok ? MODE_NEXT : MODE_THROW;
    thread.resumeValue = value;
    return true;
  }

  /** Records an error thrown while `thread` was being killed, chaining it to earlier ones. */
  #cleanupFailed(thread: Thread, error: unknown): void {
    const extras = thread.withExtras();
    if (killedBy(error, extras.tornDown)) return;
    // One error that reaches it twice (two children that failed with one shared error) is
    // one failure.
    if (seenBefore(extras.cleanupSeen ??= new Set(), error)) return;
    extras.cleanupError = extras.cleanupFailed
      ? new SuppressedError(
        error,
        extras.cleanupError,
        `Another error occurred while ${label(thread)} was being killed`,
      )
      : error;
    extras.cleanupFailed = true;
  }

  /** Acts on a yielded value; says whether the thread goes on running right away. */
  #handle(thread: Thread, yielded: unknown): boolean {
    // The kernel sees objects of many shapes here, so every property read is a slow
    // (megamorphic) one, and a read that misses (walking the whole prototype chain) the
    // slowest. A generator first: `instanceof` reads no property. Then an event's tag: one
    // read tells an event from a promise and picks its handler.
    if (yielded instanceof NativeGenerator) return this.#callFrame(thread, yielded);
    if (typeof yielded === "object" && yielded !== null) {
      const kind = (yielded as Tagged)[KIND];
      if (kind !== undefined) return this.#dispatch(thread, yielded as AnyEffect, kind);
    }
    if (yielded instanceof Promise) return this.#await(thread, yielded);
    let thenable: boolean;
    try {
      thenable = isThenable(yielded); // a `then` getter may throw
    } catch (error) {
      return this.#resumeThrowing(thread, error);
    }
    if (thenable) return this.#await(thread, yielded as PromiseLike<unknown>);
    if (isGenerator(yielded)) return this.#callFrame(thread, yielded);
    return this.#throwInto(
      thread,
      isAsyncGenerator(yielded)
        ? `Cannot handle yielded value: ${ASYNC_GENERATOR}`
        : `Cannot handle yielded value: ${
          describe(yielded)
        } is not an event, a generator or a promise${callItHint(yielded)}`,
    );
  }

  /**
   * `#handle` threw `error`: a value whose every read throws (a revoked Proxy, a throwing
   * getter), looked at wherever the kernel looks (the yielded value, what an event names).
   * The error goes to the thread at its yield point. Not once the thread waits, nor a
   * stack overflow: those are the kernel's own, maybe halfway through a change, and must
   * not pass for the thread's. (Out of #step, whose size decides how V8 optimizes it.)
   */
  #handleThrew(thread: Thread, error: unknown, yielded: unknown): boolean {
    if (thread.state !== STATE_RUNNING || isStackOverflow(error)) throw error;
    if (unreadable(yielded)) {
      // Not the engine's words: ours, which say what was attempted.
      return this.#throwInto(
        thread,
        `Cannot handle yielded value: ${
          describe(yielded)
        } is not an event, a generator or a promise`,
      );
    }
    return this.#resumeThrowing(thread, error);
  }

  /** Sets `thread` up to resume by throwing `error` at its yield point; it goes on. */
  #resumeThrowing(thread: Thread, error: unknown): boolean {
    thread.resumeMode = MODE_THROW;
    thread.resumeValue = error;
    return true;
  }

  /** A generator yielded: a Bluelet-style call, run as a frame of its own. */
  #callFrame(thread: Thread, coroutine: Coroutine<unknown>): boolean {
    if ((coroutine as Spawned)[THREAD] !== undefined) {
      return this.#throwInto(thread, coroutineProblem(coroutine, "call")!);
    }
    if (this.#trace) this.#recordSite(thread, undefined);
    markRun(coroutine, null); // called: it runs once (see THREAD)
    thread.pushFrame(coroutine);
    return true;
  }

  /** The kernel's instruction list: one handler per kind of event. */
  #dispatch(thread: Thread, effect: AnyEffect, kind: Kind): boolean {
    switch (kind) {
      case KIND_CALL:
        return this.#onCall(thread, effect as CallEffect<unknown>);
      case KIND_SPAWN:
        return this.#onSpawn(thread, effect as SpawnEffect<unknown>);
      case KIND_JOIN:
        return this.#onJoin(thread, effect as JoinEffect<unknown> | TaskHandle);
      case KIND_KILL:
        return this.#onKill(thread, effect as KillEffect);
      case KIND_END:
        return this.#onEnd(thread, effect as EndEffect<unknown>);
      case KIND_SLEEP:
        return this.#onSleep(thread, effect as SleepEffect);
      case KIND_YIELD_NOW:
        return this.#onYieldNow(thread);
      case KIND_UNTIL:
        return this.#onUntil(thread, effect as UntilEffect<unknown>);
      case KIND_SELF:
        return this.#onSelf(thread);
      case KIND_INSPECT:
        return this.#onInspect(thread);
      case KIND_SHIELD:
        return this.#onShield(thread, effect as ShieldEffect<unknown>);
      case KIND_PRIMITIVE:
        return this.#onPrimitive(thread, effect as Primitive<unknown>);
      case KIND_KILL_ALL:
        return this.#onKillAll(thread, effect as KillAllEffect);
    }
  }

  // ---------------------------------------------------------------------------------------
  // The handlers. Each says whether the thread goes on running right away.

  #onCall(thread: Thread, effect: CallEffect<unknown>): boolean {
    if (this.#trace) this.#recordSite(thread, effect.site);
    const make = effect.make;
    if (make === null) return this.#pushFrame(thread, effect.coroutine, "call");
    let coroutine: Coroutine<unknown>;
    try {
      coroutine = make();
    } catch (error) {
      return this.#resumeThrowing(thread, error); // at the yield, where it belongs
    }
    return this.#pushFrame(thread, coroutine, "call");
  }

  /** In `trace` mode: where the frame about to be pushed was called from. */
  #recordSite(thread: Thread, site: Error | undefined): void {
    const extras = thread.withExtras();
    (extras.frameSites ??= [])[thread.depth] = site;
  }

  #onSpawn(thread: Thread, effect: SpawnEffect<unknown>): boolean {
    // Each property of the generator is read once: on generators of many functions every
    // read is slow, and spawn is on the hot path of a server.
    let coroutine: unknown = effect.coroutine;
    if (!isGenerator(coroutine)) {
      if (!isInstance(coroutine, Effect)) {
        return this.#throwInto(thread, coroutineProblem(coroutine, "spawn")!);
      }
      coroutine = asCoroutine(coroutine as Effect<unknown>);
    } else if ((coroutine as Spawned)[THREAD] !== undefined) {
      return this.#throwInto(thread, coroutineProblem(coroutine, "spawn")!);
    }
    let owner: Thread | null = null;
    if (effect.owner !== undefined) {
      const found = this.#ownerScope(effect.owner);
      if (typeof found === "string") return this.#throwInto(thread, found);
      owner = found;
    }
    thread.resumeValue = this.#spawnFor(thread, effect, coroutine as Coroutine<unknown>, owner);
    return true;
  }

  /** The scope thread a spawn's `owner` option names, or why it names none. */
  #ownerScope(owner: unknown): Thread | string {
    if (!isInstance(owner, TaskHandle)) {
      return `Cannot spawn coroutine: the owner must be the task of a scope thread, got ${
        describe(owner)
      }`;
    }
    const found = threadOf(owner as TaskHandle);
    if (found.host !== this) {
      return `Cannot spawn coroutine in thread ${found.id}: it belongs to another run`;
    }
    if (!found.isScope) {
      return `Cannot spawn coroutine in thread ${found.id}: it is not a scope`;
    }
    if (found.state === STATE_DONE) {
      return `Cannot spawn coroutine in scope thread ${found.id}: it has ended`;
    }
    // A closing scope is still killing the threads it owns: it takes one more (#spawn).
    return found;
  }

  /** Spawns `coroutine` as `effect` asks, from `thread`; gives the handle users hold. */
  #spawnFor(
    thread: Thread,
    effect: SpawnEffect<unknown>,
    coroutine: Coroutine<unknown>,
    owner: Thread | null,
  ): TaskHandle {
    const spawned = this.#spawn(coroutine, thread, effect.scope, owner);
    if (effect.name !== undefined) spawned.withExtras().name = effect.name;
    if (effect.site !== undefined) spawned.withExtras().frameSites = [effect.site];
    // The handle users hold: spawn is the one place a thread's handle is made.
    return new TaskHandle(spawned);
  }

  /**
   * Does a spawn, or a join of a thread that returned, and begins a primitive, where
   * `yield*` delegates to it (see scheduler/_at_once.ts). Anything else, and a spawn or a
   * join that would throw, takes the usual way, as does every event once the step budget
   * is used up (so that a loop of spawns still lets other threads, timers and I/O have
   * their turn).
   */
  readonly #doAtOnce: AtOnce = (effect, out) => {
    const thread = this.#stepping;
    // Only for a thread that is running: not once it waits, or has ended.
    if (thread === null || thread.state !== STATE_RUNNING) return false;
    const kind = (effect as Tagged)[KIND];
    if (kind === KIND_SPAWN) {
      const coroutine = (effect as SpawnEffect<unknown>).coroutine;
      if (!isGenerator(coroutine) || (coroutine as Spawned)[THREAD] !== undefined) return false;
      if ((effect as SpawnEffect<unknown>).owner !== undefined) return false; // checked there
      if (--this.#budget <= 0) return this.#refuseAtOnce();
      out.value = this.#spawnFor(thread, effect as SpawnEffect<unknown>, coroutine, null);
      return true;
    }
    if (kind === KIND_PRIMITIVE) {
      // Begun here whether or not it has to wait: if it does, the thread waits from now
      // on, and its generator suspends on the primitive next (see #step).
      if (this.#budget <= 1) return false;
      if (!this.#onPrimitive(thread, effect as Primitive<unknown>)) return false;
      this.#budget--;
      const mode = thread.resumeMode;
      const value = thread.resumeValue;
      thread.resumeMode = MODE_NEXT;
      thread.resumeValue = undefined;
      if (mode === MODE_THROW) {
        if (thread.extras !== null) thread.extras.misuse = undefined;
        throw value; // at the `yield*`, where it belongs
      }
      out.value = value;
      return true;
    }
    if (kind === KIND_JOIN) {
      // `yield* task` (the handle is its own join event) or `yield* join(task)`.
      const target = (effect as JoinEffect<unknown> | TaskHandle).target;
      if (!isInstance(target, TaskHandle)) return false;
      const found = threadOf(target as TaskHandle);
      if (found.state !== STATE_DONE || found.ending !== ENDING_RETURNED) return false;
      if (found.host !== this) return false;
      if (--this.#budget <= 0) return this.#refuseAtOnce();
      out.value = found.result;
      return true;
    }
    return false;
  };

  /**
   * An operation done at once that took its step and found the budget's stretch at its
   * end refuses, to be handled the usual way: at a stretch's end (not the budget's) the
   * step goes back, since the usual way takes it again, and a budget of fast steps ends
   * where it did before stretches. Says false.
   */
  #refuseAtOnce(): false {
    if (this.#budgetRest !== 0) this.#budget++;
    return false;
  }

  /** A primitive about to wait (SUSPEND) begun where `yield*` asked for it. */
  readonly #suspendAtOnce = (primitive: object): boolean => {
    const thread = this.#stepping;
    if (thread === null || thread.state !== STATE_RUNNING || this.#budget <= 1) return false;
    if (!claimPrimitive(primitive as Primitive<unknown>, thread)) return false;
    thread.primitive = primitive as Primitive<unknown>;
    thread.state = STATE_SUSPENDED;
    return true;
  };

  /**
   * Counts the step of a run of channel operations done inside `yield*` (see `fastPath`),
   * as `#doAtOnce` would for one of them; says no where it would, and the operation then
   * takes the usual way, which gives way.
   */
  readonly #chargeAtOnce = (): boolean => {
    const thread = this.#stepping;
    if (thread === null || thread.state !== STATE_RUNNING) return false;
    // At a stretch's end the budget goes on (the operation takes its step, as it would
    // have without stretches), unless the stretch ends it.
    if (this.#budget <= 1 && this.#budgetRest !== 0) this.#endStretch();
    if (this.#budget <= 1) return false;
    this.#budget--;
    return true;
  };

  /** See `AtOnceJoin`: the join of a returned thread of `host`, done by its task. */
  readonly #joinAtOnce: AtOnceJoin = (host) => {
    const thread = this.#stepping;
    return host === this && thread !== null && thread.state === STATE_RUNNING &&
      (--this.#budget > 0 || this.#refuseAtOnce());
  };

  /**
   * Undoes a wait begun by #doAtOnce whose generator did not suspend on it (code that
   * drove an event's iterator by hand): the primitive is cancelled, as by a kill. Gives
   * what its `cancel` threw.
   */
  #abandonAtOnce(thread: Thread): { error: unknown } | null {
    const failure = this.#cancelPrimitive(thread);
    this.#stopWaiting(thread);
    thread.state = STATE_RUNNING;
    return failure;
  }

  #onJoin(thread: Thread, effect: JoinEffect<unknown> | TaskHandle): boolean {
    const target = this.#target(thread, effect.target, "join");
    if (target === null) return true;
    if (target === thread) {
      return this.#throwInto(
        thread,
        `Cannot join thread ${thread.id}: a thread cannot join itself`,
      );
    }
    const watching = effect instanceof WatchEndEffect;
    if (target.state === STATE_DONE) {
      if (!watching) this.#deliverEnding(thread, target);
      return true;
    }
    if (watching) (target.withExtras().watchers ??= []).push(thread);
    else (target.withExtras().joiners ??= []).push(thread);
    thread.withExtras().waitingOn = target;
    thread.state = STATE_JOINING;
    return false;
  }

  #onKill(thread: Thread, effect: KillEffect): boolean {
    const target = this.#target(thread, effect.target, "kill");
    if (target === null) return true;
    if (target.state === STATE_DONE) return true;
    this.#startKill(target, effect.reason);
    if (target === thread) return true;
    // That kill handed the run (or a scope) an error with nowhere else to go, which killed
    // this thread too: it unwinds now rather than wait, and so cannot catch anything.
    if (thread.resumeMode === MODE_RETURN && thread.killing) return true;
    (target.withExtras().killers ??= []).push(thread);
    thread.withExtras().waitingOn = target;
    thread.state = STATE_KILL_WAITING;
    return false;
  }

  #onKillAll(thread: Thread, effect: KillAllEffect): boolean {
    const targets = new Set<Thread>(); // a target named twice is killed, and reported, once
    for (const task of effect.targets) {
      const target = this.#target(thread, task, "kill");
      if (target === null) return true;
      if (target.state !== STATE_DONE) targets.add(target);
    }
    // Every kill begins before any target runs again: see KillAllEffect.
    for (const target of targets) this.#startKill(target, effect.reason);
    if (thread.resumeMode === MODE_RETURN && thread.killing) return true; // as in #onKill
    const waitingOn: Thread[] = [];
    for (const target of targets) {
      if (target.state === STATE_DONE || target === thread) continue;
      (target.withExtras().killers ??= []).push(thread);
      waitingOn.push(target);
    }
    if (waitingOn.length === 0) return true;
    const extras = thread.withExtras();
    extras.waitingOnAll = waitingOn;
    extras.killsLeft = waitingOn.length;
    thread.state = STATE_KILL_WAITING;
    return false;
  }

  /** Every target of a kill of many has ended: its killer goes on, with their errors. */
  #killedAll(killer: Thread): void {
    const extras = killer.extras!;
    const failed = extras.waitingOnAll!.filter((target) => target.ending === ENDING_FAILED);
    extras.waitingOnAll = null;
    if (failed.length > 0) {
      extras.handedMany = failed;
      killer.resumeMode = MODE_THROW;
      killer.resumeValue = new KillFailures(failed.map((target) => target.result));
    }
    this.#enqueue(killer);
  }

  #onEnd(thread: Thread, effect: EndEffect<unknown>): boolean {
    thread.resumeMode = MODE_RETURN;
    thread.resumeValue = effect.value;
    return true;
  }

  #onSleep(thread: Thread, effect: SleepEffect): boolean {
    // `sleep()` gives the `null()` event for `ms <= 0`; a time limit's timer may be due now.
    const now = this.now();
    const deadline = now + effect.ms;
    if (deadline > Number.MAX_SAFE_INTEGER && this.#clock !== undefined) {
      // Past 2^53 a double no longer tells one millisecond from the next: a virtual clock
      // never gets there. A sleep asked for that long is an error; a time limit's timer
      // just never fires, as a limit that far off never would.
      if (!effect.late) {
        return this.#resumeThrowing(
          thread,
          new RangeError(
            `Cannot sleep for ${effect.ms} ms: the virtual clock would pass 2^53 - 1 ms (it is at ${now} ms)`,
          ),
        );
      }
    } else {
      thread.timer = effect.late
        // A limit's timer thread is its caller's child: the limit is as deep as the caller.
        ? this.#timers.push(deadline, thread, true, thread.generation - 1)
        : this.#timers.push(deadline, thread);
    }
    thread.state = STATE_SLEEPING; // with no timer for that far-off limit, until killed
    return false;
  }

  #onYieldNow(thread: Thread): boolean {
    // Alone in the queue, the thread simply goes on: no queue round trip.
    if (this.#queue.size === 0) return true;
    this.#enqueue(thread);
    return false;
  }

  #onUntil(thread: Thread, effect: UntilEffect<unknown>): boolean {
    const source = effect.source;
    let awaited: unknown = source;
    let thenable: boolean;
    try {
      if (typeof source === "function") awaited = source();
      thenable = isThenable(awaited); // a `then` getter may throw
    } catch (error) {
      return this.#resumeThrowing(thread, error);
    }
    if (!thenable) {
      thread.resumeValue = awaited;
      return true;
    }
    return this.#await(thread, awaited as PromiseLike<unknown>);
  }

  #onSelf(thread: Thread): boolean {
    thread.resumeValue = thread;
    return true;
  }

  #onInspect(thread: Thread): boolean {
    const snapshots: ThreadSnapshot[] = [];
    for (let t = this.#first; t !== null; t = t.next) snapshots.push(snapshotOf(t));
    thread.resumeValue = snapshots.reverse();
    return true;
  }

  #onShield(thread: Thread, effect: ShieldEffect<unknown>): boolean {
    const coroutine = asCoroutine(effect.operation);
    const depth = thread.depth;
    if (this.#trace) this.#recordSite(thread, effect.site);
    if (!this.#pushFrame(thread, coroutine, "shield")) return true;
    if (thread.depth > depth) {
      const extras = thread.withExtras();
      (extras.shields ??= []).push(depth);
      (extras.shieldSerials ??= []).push(++this.#shieldSerial);
    }
    return true;
  }

  #onPrimitive(thread: Thread, primitive: Primitive<unknown>): boolean {
    if (!claimPrimitive(primitive, thread)) {
      return this.#throwInto(
        thread,
        `Cannot start ${primitive.description}: it is already in progress in another thread`,
      );
    }
    thread.primitive = primitive;
    let wait: Wait;
    try {
      wait = primitive.start();
    } catch (error) {
      deadlineRequest.wait = null;
      thread.primitive = null;
      releasePrimitive(primitive);
      thread.resumeMode = MODE_THROW;
      thread.resumeValue = error;
      return true;
    }
    // A timed wait that is about to wait (`withTimeout` of a primitive) asks for a timer.
    const timed = deadlineRequest.wait;
    if (timed !== null) deadlineRequest.wait = null;
    // A `wake()` from inside `start` marks the thread ready: the result is there already.
    const wokenDuringStart = thread.state === STATE_READY;
    thread.state = STATE_RUNNING;
    if (wait === null || (wokenDuringStart && (wait === SUSPEND || wait === SUSPEND_EXTERNAL))) {
      const value = this.#finishPrimitive(thread, primitive);
      if (value !== NO_RESULT) thread.resumeValue = value;
      return true;
    }
    if (wait === SUSPEND) {
      thread.state = STATE_SUSPENDED;
      if (timed !== null) this.#armDeadline(thread, timed);
      return false;
    }
    if (wait === SUSPEND_EXTERNAL) {
      thread.state = STATE_SUSPENDED_EXTERNAL;
      this.#externalWaits++;
      if (timed !== null) this.#armDeadline(thread, timed);
      return false;
    }
    return this.#await(thread, wait);
  }

  /**
   * A wait with a deadline (`withTimeout` or `moveOnAfter` of a primitive; of nested ones,
   * the earliest): the thread's own timer, which no other wait uses, ends it
   * (#fireDueTimers).
   */
  #armDeadline(thread: Thread, wait: TimedWait<unknown, unknown>): void {
    const deadline = this.now() + wait.ms;
    // A virtual clock never gets past 2^53 - 1 ms (see #onSleep): such a limit never ends.
    if (deadline > Number.MAX_SAFE_INTEGER && this.#clock !== undefined) return;
    thread.withExtras().deadlineWait = wait;
    thread.timer = this.#timers.push(deadline, thread, true, thread.generation);
  }

  // ---------------------------------------------------------------------------------------
  // Helpers of the handlers

  /** Pushes `coroutine` as a new frame, or throws into `thread` why it cannot. */
  #pushFrame(thread: Thread, coroutine: unknown, verb: string): boolean {
    const problem = coroutineProblem(coroutine, verb);
    if (problem !== null) return this.#throwInto(thread, problem);
    markRun(coroutine as Coroutine<unknown>, null); // called: it runs once (see THREAD)
    thread.pushFrame(coroutine as Coroutine<unknown>);
    return true;
  }

  #throwInto(thread: Thread, message: string): boolean {
    const error = new TypeError(message);
    thread.resumeMode = MODE_THROW;
    thread.resumeValue = error;
    // Marked, so that a kill before the thread throws it keeps it (see #beginUnwinding).
    thread.withExtras().misuse = error;
    return true;
  }

  /**
   * Finds the thread a `join`/`kill` target names. If it names none, sets `thread` up to
   * receive a `TypeError` that says why, and gives null.
   */
  #target(thread: Thread, target: unknown, verb: string): Thread | null {
    let found: Thread | undefined;
    let problem: string | undefined;
    // A generator first (Bluelet's `join(gen)`): `instanceof` of the generator prototype
    // fails at once on a handle, while `instanceof TaskHandle` walks a generator's chain.
    if (isGenerator(target)) {
      found = (target as Spawned)[THREAD] ?? undefined; // null: it was called, not spawned
      if (found === undefined) problem = `Cannot ${verb} coroutine: it was never spawned`;
    } else if (isInstance(target, TaskHandle)) found = threadOf(target as TaskHandle);
    else {
      problem = `Cannot ${verb} thread: ${describe(target)} is not a task or a spawned generator`;
    }
    if (found !== undefined && found.host !== this) {
      // A run that has ended may have given up on a thread stuck in its teardown.
      const ended = found.state === STATE_DONE
        ? "where it has ended"
        : found.host.ended
        ? "which has ended"
        : null;
      problem = `Cannot ${verb} thread ${found.id}: it belongs to another run` +
        (ended === null ? "" : `, ${ended} (a task is joined or killed in its own run only)`);
    }
    if (problem === undefined) return found!;
    this.#throwInto(thread, problem);
    return null;
  }

  /** Waits on `promise`; says whether the thread goes on (only if `then` threw). */
  #await(thread: Thread, promise: PromiseLike<unknown>): boolean {
    const waiter = thread.waiter ??= this.#promiseWaiter(thread);
    // Waiting first: a `then` may call back before it returns.
    thread.state = STATE_AWAITING;
    this.#externalWaits++;
    try {
      ownPromise(promise).then(waiter.fulfilled, waiter.rejected);
    } catch (error) {
      // A promise subclass whose `then` throws: the error belongs at the yield point.
      thread.state = STATE_RUNNING;
      this.#externalWaits--;
      this.#cancelPrimitive(thread);
      return this.#resumeThrowing(thread, error);
    }
    return false;
  }

  /**
   * The callbacks a thread hands to the promises it waits on, made once per thread rather
   * than per wait. A thread waits on one promise at a time and leaves the wait only when it
   * settles, or when it is killed, which retires the waiter: so a callback whose waiter is
   * no longer the thread's belongs to a wait that ended and is ignored. The callbacks reach
   * the thread and the kernel through the waiter only, which a retirement empties: a
   * promise that never settles (one a program keeps, an OS accept on a quiet listener)
   * keeps the small waiter of each wait it outlived, not the thread or the run.
   */
  #promiseWaiter(thread: Thread): PromiseWaiter {
    const waiter: PromiseWaiter = {
      thread,
      host: this,
      fulfilled: (value) => {
        const host = waiter.host as Kernel | null;
        if (host !== null) host.#settle(waiter, true, value);
      },
      rejected: (error) => {
        const host = waiter.host as Kernel | null;
        if (host !== null) host.#settle(waiter, false, error);
      },
    };
    return waiter;
  }

  /** A promise that `waiter`'s thread waits on settled. */
  #settle(waiter: PromiseWaiter, ok: boolean, value: unknown): void {
    const thread = waiter.thread!;
    if (thread.waiter !== waiter || thread.state !== STATE_AWAITING) return;
    const primitive = thread.primitive;
    if (primitive === null) {
      thread.resumeMode = ok ? MODE_NEXT : MODE_THROW;
      thread.resumeValue = value;
    } else if (this.#primitiveSettled(thread, primitive, ok, value)) {
      return; // waiting on the primitive's next promise
    }
    this.#externalWaits--;
    this.#enqueue(thread);
    // A thread alone in waiting on the outside is driven at once. Where others wait too
    // (a server's connections), their promises may settle in this same turn of Deno's
    // event loop, which resolves every op that completed: their threads then run in one
    // drive, queued behind the last of them, rather than in one drive each.
    if (this.#externalWaits === 0 && !this.#driveQueued) this.#driveFromReaction();
    else this.#driveSoon();
  }

  /**
   * Hands a settled promise's outcome to the primitive now, not when the thread runs: a
   * kill in between then finds it taken in, and nothing is lost. Says whether the
   * primitive waits on another promise.
   */
  #primitiveSettled(
    thread: Thread,
    primitive: Primitive<unknown>,
    ok: boolean,
    value: unknown,
  ): boolean {
    try {
      const next = primitive.settled(ok, value);
      if (next === null) return false;
      ownPromise(next).then(thread.waiter!.fulfilled, thread.waiter!.rejected);
      return true;
    } catch (error) {
      // A primitive that broke its contract (or a thenable that did): its error goes to
      // the thread rather than nowhere. It is not asked to cancel, being broken.
      releasePrimitive(primitive);
      thread.primitive = null;
      thread.resumeMode = MODE_THROW;
      thread.resumeValue = error;
      return false;
    }
  }

  /** Ends a primitive's suspension; see {@linkcode Primitive.wake}. */
  wakePrimitive(thread: Thread, primitive: Primitive<unknown>): void {
    if (thread.primitive !== primitive) return;
    // A wait with a deadline that ended first.
    if (thread.timer !== null) this.#cancelDeadline(thread);
    if (thread.state === STATE_RUNNING) {
      // Woken from inside its own `start`: marked, so the suspension ends at once.
      thread.state = STATE_READY;
      return;
    }
    const state = thread.state;
    if (state === STATE_SUSPENDED_EXTERNAL) this.#externalWaits--;
    else if (state !== STATE_SUSPENDED) return;
    if (thread === this.#stepping) {
      // Begun where `yield*` asked for it, and woken before its generator suspended (by the
      // thread's own code, which drove the iterator by hand): #step takes it from here.
      thread.state = STATE_READY;
      return;
    }
    this.#enqueue(thread);
    // Most wakes come from a thread the kernel is stepping (a send waking a receiver). One
    // from outside the run (a timer callback's `trySend`, a promise reaction) drives the
    // kernel once the caller's code is done, in a microtask: threads run inside no one's
    // half-done operation (a broadcast halfway through its subscribers, say).
    this.#driveSoon();
  }

  /** Drives the kernel in a microtask, unless it is running or a drive is queued already. */
  #driveSoon(): void {
    if (!this.#running && !this.#driveQueued) {
      this.#driveQueued = true;
      queueMicrotask(this.#onQueuedDrive);
    }
  }

  readonly #onQueuedDrive = (): void => {
    this.#driveQueued = false;
    this.#driveFromReaction();
  };

  /**
   * Detaches the thread's primitive and gives what its `finish` gives, for the thread to
   * resume with; if `finish` throws, sets the thread to throw that instead and gives
   * NO_RESULT.
   */
  #finishPrimitive(thread: Thread, primitive: Primitive<unknown>): unknown {
    thread.primitive = null;
    releasePrimitive(primitive);
    try {
      return primitive.finish();
    } catch (error) {
      thread.resumeMode = MODE_THROW;
      thread.resumeValue = error;
      return NO_RESULT;
    }
  }

  /** Detaches the thread's primitive, calling its `cancel`; gives what that threw. */
  #cancelPrimitive(thread: Thread): { error: unknown } | null {
    const primitive = thread.primitive;
    if (primitive === null) return null;
    thread.primitive = null;
    releasePrimitive(primitive);
    try {
      primitive.cancel();
      return null;
    } catch (error) {
      return { error };
    }
  }

  #enqueue(thread: Thread): void {
    thread.state = STATE_READY;
    this.#queue.push(thread);
    // While a deadline is held back on the real clock, what its instant's work wakes (or
    // spawns, or requeues) is part of that work; so is what the event loop's turn for it
    // wakes.
    if (this.#instant !== 0) {
      const by = this.#instantOpen ? this.#instant : this.#stepping?.instant ?? 0;
      if (by >= this.#holdFirst && by > 0) {
        thread.instant = by;
        this.#countInstant(by, 1);
        return;
      }
    }
    thread.instant = 0; // no longer of an instant, nor woken by a timer
  }

  // ---------------------------------------------------------------------------------------
  // Kill, finish, fail

  /** Makes `target` unwind its stack from wherever it waits, once no shield holds it. */
  #startKill(target: Thread, reason: unknown): void {
    const state = target.state;
    if (state === STATE_DONE || state === STATE_CLOSING || target.killing) return;
    if (reason === undefined && this.#abortReason !== null) reason = this.#abortReason.reason;
    if (reason !== undefined || target.extras !== null) {
      const extras = target.withExtras();
      if (extras.killReason === undefined) extras.killReason = reason;
      if (extras.shields !== null && extras.shields.length > 0) {
        extras.killDeferred = true;
        return;
      }
    }
    this.#beginUnwinding(target);
  }

  /**
   * Kills `thread` for a teardown that kills many (a run that fails, a scope that ends),
   * unless a thread it descends from is inside a shield: what the shielded code spawned
   * (`withTimeout`'s helper threads, say) is its to end, and a kill now would cut the
   * shielded operation short. Such a thread is killed once that ancestor has ended. So is
   * one that descends from a thread spawned while its spawner was torn down (a `finally` of
   * a killed thread that uses `withTimeout`): it lives as long as that spawner.
   */
  #killUnlessShielded(thread: Thread, teardown?: object, failing = false): void {
    for (let t: Thread | null = thread; t !== null;) {
      // A scope closing, or being killed, ends its members itself: what spares it (a shield
      // of its spawner's) does not spare them. And a thread this teardown killed found no
      // shield above it: one below it need not look again (oldest first, a chain of
      // spawns is walked once, not once per thread).
      if (
        t !== thread &&
        (t.state === STATE_CLOSING ||
          (t.killing && (t.isScope || (teardown !== undefined && t.extras!.tornDown === teardown))))
      ) break;
      const extras = t.extras;
      const parent: Thread | null = t.parent;
      // A thread given to a scope lives as that scope does, whoever started it.
      const given: boolean = parent !== null &&
        t.scope !== (parent.isScope ? parent : parent.scope);
      if (extras !== null) {
        // A spawner whose code has ended (a closing scope) waits for it: no longer spared.
        const spawner = extras.spawnedInTeardownOf;
        if (spawner !== null && spawner.state !== STATE_DONE && spawner.state !== STATE_CLOSING) {
          this.#markTornDown(thread, teardown); // the kill when the spawner ends is this one
          addToKillLater(spawner.withExtras().sparedTillEnd ??= [], thread);
          return;
        }
        // A thread given to a scope is that scope's to end, not its spawner's shield's.
        const by = given ? null : extras.spawnedInShield;
        if (by !== null && by.state !== STATE_DONE) {
          // Still inside the very shield it was spawned in (not a later one)?
          const byExtras = by.extras!;
          if (byExtras.shieldSerials?.[0] === extras.shieldSerial) {
            this.#markTornDown(thread, teardown); // the kill when the shield ends is this one
            addToKillLater(byExtras.spared ??= [], thread);
            return;
          }
        }
      }
      t = given ? t.scope : parent;
    }
    this.#markTornDown(thread, teardown);
    this.#startKill(thread, undefined);
    // A scope whose own code a shield holds back, in a scope that failed: its threads go
    // now all the same, but for those the shield's operation started. (Killed, not failed,
    // it takes its threads when its kill takes effect, as a kill waits for a shield.)
    if (failing && thread.extras?.killDeferred && thread.extras.members !== null) {
      this.#killMembers(thread, true);
    }
  }

  /**
   * Notes that `teardown` kills `thread` (now, or once what spares it ends), unless another
   * kill has begun already, or waits for a shield: a thread's own `kill`, whose killer is
   * owed what its cleanup throws.
   */
  #markTornDown(thread: Thread, teardown: object | undefined): void {
    if (
      teardown !== undefined && !thread.killing && thread.state !== STATE_DONE &&
      thread.state !== STATE_CLOSING && !(thread.extras?.killDeferred ?? false)
    ) {
      thread.withExtras().tornDown ??= teardown;
    }
  }

  /** Kills what a teardown spared for the sake of a shield of this thread, unless still shielded. */
  #reconsiderSpared(extras: ThreadExtras): void {
    const spared = extras.spared!;
    extras.spared = null;
    for (const t of spared) this.#killUnlessShielded(t);
  }

  #beginUnwinding(target: Thread): void {
    this.#unwind(target);
    // A scope's threads are killed with it, in this instant, not once its own cleanup is
    // done: none of them runs again (as the losers of `all` do not), and a nested scope's
    // threads go at once too. After it, so that they unwind after it, oldest first, as in
    // a run that fails.
    if (target.extras!.members !== null) this.#killMembers(target, false);
  }

  /** Kills a scope's threads, as one teardown (see `tornDown`), and those given to it later. */
  #killMembers(scope: Thread, failing: boolean): void {
    const extras = scope.extras!;
    // A scope that fails, its threads killed already: they may hold nested scopes that a
    // shield spared for its kill, whose threads go now (see #killUnlessShielded).
    if (extras.membersKilled && (!failing || extras.membersFailed)) return;
    extras.membersKilled = true;
    if (failing) extras.membersFailed = true;
    extras.tornDown ??= scope;
    for (const member of extras.members!) {
      this.#killUnlessShielded(member, extras.tornDown, failing);
    }
  }

  /** Sets `target` to unwind its frames, and queues it. */
  #unwind(target: Thread): void {
    const extras = target.withExtras();
    extras.killing = true;
    extras.unwindDepth = target.depth;
    // Killed before it could throw the error of a thread it joined (or killed): if no other
    // thread handed that error threw it or still can, it goes where it would have gone had
    // the kill come a moment earlier, to that thread's scope or the run, not nowhere. But
    // a scope it spawned and joined (a task group's) is part of its own work, as the
    // children of `all` are: that error goes to its killer, as `all`'s would.
    const from = extras.handedFrom;
    if (from !== null) {
      extras.handedFrom = null;
      if (from.parent === target && from.isScope) {
        const fromExtras = from.extras!;
        fromExtras.receivers--;
        fromExtras.errorTaken = true;
        this.#cleanupFailed(target, from.result);
      } else {
        this.#dropHandedError(from);
      }
    }
    const many = extras.handedMany;
    if (many !== null) {
      extras.handedMany = null;
      for (const target of many) this.#dropHandedError(target);
    }
    const failure = this.#cancelPrimitive(target);
    if (failure !== null) this.#cleanupFailed(target, failure.error);
    target.abortSignal();
    const state = target.state;
    // Killed before it could throw a misuse's TypeError (a `kill` or `shield` with a wrong
    // argument, answered just before the thread gave way): kept as if its cleanup threw
    // it, so that a mistake in the code does not vanish with the thread that made it. The
    // kill lands where the thread gave way, as any kill does, before its code could catch
    // the error: its `finally` blocks run whole, and its killer and joiners get the error.
    const misuse = extras.misuse;
    extras.misuse = undefined;
    if (
      misuse !== undefined && state === STATE_READY && target.resumeMode === MODE_THROW &&
      target.resumeValue === misuse
    ) {
      this.#cleanupFailed(target, misuse);
    }
    target.resumeMode = MODE_RETURN;
    target.resumeValue = undefined;
    // A ready thread is already queued and a running one is the caller killing itself:
    // both just carry on in unwinding mode.
    if (state === STATE_READY || state === STATE_RUNNING) return;
    this.#stopWaiting(target);
    this.#enqueue(target);
  }

  #stopWaiting(thread: Thread): void {
    switch (thread.state) {
      case STATE_SLEEPING:
        // None for a time limit's timer the virtual clock never reaches (#onSleep).
        if (thread.timer !== null) this.#timers.cancel(thread.timer);
        thread.timer = null;
        break;
      case STATE_AWAITING: {
        // Retired: its callbacks, still on the promise, no longer reach the thread or run.
        const waiter = thread.waiter!;
        waiter.thread = waiter.host = null;
        thread.waiter = null;
        this.#externalWaits--;
        break;
      }
      case STATE_JOINING: {
        const target = thread.extras!.waitingOn!;
        const { joiners, watchers } = target.extras!;
        if (joiners !== null) remove(joiners, thread);
        if (watchers !== null) remove(watchers, thread);
        thread.extras!.waitingOn = null;
        // A scope it spawned (a task group's) is part of its own work, as the children of
        // `all` are: should the scope fail before this thread is done unwinding, the error
        // goes to this thread's killer, as `all`'s would (see #finish).
        if (target.parent === thread && target.isScope) target.extras!.abandonedBy = thread;
        break;
      }
      case STATE_KILL_WAITING: {
        const extras = thread.extras!;
        const all = extras.waitingOnAll;
        if (all === null) {
          remove(extras.waitingOn!.extras!.killers!, thread);
          extras.waitingOn = null;
          break;
        }
        extras.waitingOnAll = null;
        for (const target of all) {
          if (target.state !== STATE_DONE) remove(target.extras!.killers!, thread);
          else if (target.ending === ENDING_FAILED) this.#dropHandedError(target);
        }
        break;
      }
      case STATE_SUSPENDED_EXTERNAL:
        this.#externalWaits--;
        this.#cancelDeadline(thread);
        break;
      case STATE_SUSPENDED:
        this.#cancelDeadline(thread);
        break;
    }
  }

  #cancelDeadline(thread: Thread): void {
    if (thread.timer !== null) {
      this.#timers.cancel(thread.timer);
      thread.timer = null;
      thread.extras!.deadlineWait = null;
    }
  }

  /** A timed wait's deadline passed: it ends, and wakes the thread (#armDeadline). */
  #expireDeadline(thread: Thread): void {
    const extras = thread.extras!;
    const wait = extras.deadlineWait!;
    extras.deadlineWait = null;
    wait.expire();
  }

  #finish(thread: Thread, ending: Ending, result: unknown): void {
    const members = thread.extras?.members;
    if (members != null && members.size > 0) {
      // A scope ends once the threads it owns have: kill them, and wait.
      const extras = thread.extras!;
      thread.state = STATE_CLOSING;
      extras.closingEnding = ending;
      extras.closingResult = result;
      extras.closingSeen?.clear();
      if (ending === ENDING_FAILED) seenBefore(extras.closingSeen ??= new Set(), result);
      extras.tornDown ??= thread;
      for (const member of members) this.#killUnlessShielded(member, extras.tornDown);
      return;
    }
    if (ending === ENDING_FAILED) {
      addToStory(result, [`in ${describeLineage(thread)}`]);
      // Each joiner goes on from here, not from where another joiner's took it.
      thread.withExtras().endStory = storyFork(result);
    }
    thread.state = STATE_DONE;
    thread.ending = ending;
    thread.resumeValue = result; // read back as `result`
    // A thread that spawns the next and ends, over and over (a restart loop), would keep
    // every one before it through `parent`: an ended thread skips spawners that have ended
    // and that nothing needs to see (see uselessSpawner).
    if (thread.extras !== null) dropEndedSpares(thread.extras);
    let parent = thread.parent;
    while (parent !== null && uselessSpawner(parent)) parent = parent.parent;
    // Those passed on the way skip to the same one (each of them has ended), so that many
    // threads ending below a long chain of ended ones walk it once, not once each.
    for (let passed = thread.parent; passed !== parent;) {
      const next: Thread | null = passed!.parent;
      passed!.parent = parent;
      passed = next;
    }
    thread.parent = parent;
    // A task outlives its thread's generator: let the generator go.
    thread.frame = ENDED;
    // Unlink from the live list.
    if (thread.prev !== null) thread.prev.next = thread.next;
    else this.#first = thread.next;
    if (thread.next !== null) thread.next.prev = thread.prev;
    thread.prev = thread.next = null;
    this.#live--;
    const extras = thread.extras;
    if (extras !== null) {
      thread.abortSignal();
      const { joiners, killers } = extras;
      extras.joiners = extras.killers = null;
      // Those handed the error, until they throw it or are killed first (#beginUnwinding).
      let receivers = 0;
      if (joiners !== null) {
        for (const joiner of joiners) {
          const joinerExtras = joiner.extras!;
          joinerExtras.waitingOn = null;
          this.#deliverEnding(joiner, thread);
          if (ending === ENDING_FAILED) {
            joinerExtras.handedFrom = thread;
            receivers++;
          }
          this.#enqueue(joiner);
        }
      }
      if (killers !== null) {
        for (const killer of killers) {
          const killerExtras = killer.extras!;
          if (killerExtras.waitingOnAll !== null) {
            // A kill of many: its errors are handed over once all have ended.
            if (ending === ENDING_FAILED) receivers++;
            if (--killerExtras.killsLeft === 0) this.#killedAll(killer);
            continue;
          }
          killerExtras.waitingOn = null;
          if (ending === ENDING_FAILED) {
            killer.resumeMode = MODE_THROW;
            killer.resumeValue = result;
            killer.extras!.handedFrom = thread;
            receivers++;
          }
          this.#enqueue(killer);
        }
      }
      extras.receivers = receivers;
      // Those waiting for its end: told nothing of how it ended (see WatchEndEffect).
      const watchers = extras.watchers;
      if (watchers !== null) {
        extras.watchers = null;
        for (const watcher of watchers) {
          watcher.extras!.waitingOn = null;
          this.#enqueue(watcher);
        }
      }
      const children = extras.teardownChildren;
      if (children !== null) { for (const child of children) this.#startKill(child, undefined); }
      if (extras.spared !== null) this.#reconsiderSpared(extras);
      // What a teardown spared while this thread unwound (see #killUnlessShielded).
      const sparedTillEnd = extras.sparedTillEnd;
      if (sparedTillEnd !== null) {
        extras.sparedTillEnd = null;
        for (const t of sparedTillEnd) this.#killUnlessShielded(t);
      }
      // A task group's child fails the group even if a thread joined it (which gets the
      // error too, unless the group's teardown kills it first); a killer takes it as ever.
      const handled = (joiners !== null && joiners.length > 0 && !extras.failsItsGroup) ||
        (killers !== null && killers.length > 0);
      if (ending === ENDING_FAILED && !handled) {
        // A scope abandoned by its spawner's kill: while the spawner still unwinds its
        // frames, the error is one of its cleanup's, for its killer (see #stopWaiting). A
        // spawner that is a scope closing takes it in as one of its members' instead.
        const by = extras.abandonedBy;
        if (by !== null && by.killing && by.state !== STATE_DONE && by.state !== STATE_CLOSING) {
          this.#cleanupFailed(by, result);
        } else this.#unhandled(thread, result);
      }
    } else if (ending === ENDING_FAILED) this.#unhandled(thread, result);
    // Last: a closing scope takes in this thread's error (above) before it ends.
    const scope = thread.scope;
    if (scope !== null) {
      const scopeExtras = scope.extras!;
      scopeExtras.members!.delete(thread);
      if (scope.state === STATE_CLOSING && scopeExtras.members!.size === 0) {
        this.#finish(scope, scopeExtras.closingEnding, scopeExtras.closingResult);
      }
    }
  }

  /**
   * An error escaped a thread nobody joins: the scope that owns the thread fails with it,
   * or, with no scope, the run ends with it.
   */
  #unhandled(thread: Thread, error: unknown): void {
    let scope = thread.scope;
    while (scope !== null && scope.state === STATE_DONE) scope = scope.scope;
    if (scope === null) return this.#fail(error);
    // A KilledError of this scope's own teardown, come back to it: no failure of its own.
    // (A scope an outer teardown spared, then closing, kills as that teardown.)
    if (killedBy(error, scope) || killedBy(error, scope.extras?.tornDown)) return;
    const extras = scope.extras!;
    if (scope.state === STATE_CLOSING) {
      const seen = extras.closingSeen ??= new Set();
      if (extras.closingEnding !== ENDING_FAILED) {
        seen.clear();
        seenBefore(seen, error);
        extras.closingResult = error;
      } else if (!seenBefore(seen, error)) {
        extras.closingResult = chain(error, extras.closingResult);
      }
      extras.closingEnding = ENDING_FAILED;
      return;
    }
    // The scope fails with the error: it is killed where it waits (a shield is waited for),
    // so no `catch` in it can swallow the error, and it ends with the error (any later
    // ones chained), once its threads are gone too. The kill first: an error the scope was
    // handed and had yet to throw (a child's it joined) came before this one, and the kill
    // records it first, so that the newest is outermost.
    this.#startKill(scope, error);
    this.#cleanupFailed(scope, error);
    // Its other threads are killed with it (see #beginUnwinding), even while a shield holds
    // its own kill back: the scope has failed, and none of them may run again.
    this.#killMembers(scope, true);
  }

  /** Sets up `joiner` to receive how `target` ended. */
  #deliverEnding(joiner: Thread, target: Thread): void {
    if (target.ending === ENDING_RETURNED) {
      joiner.resumeValue = target.result;
      return;
    }
    joiner.resumeMode = MODE_THROW;
    if (target.ending === ENDING_FAILED) {
      target.extras?.endStory?.();
      joiner.resumeValue = target.result;
      return;
    }
    const error = new KilledError(`T${label(target).slice(1)} was killed`, {
      cause: target.extras?.killReason,
    });
    const teardown = target.extras?.tornDown ?? null;
    if (teardown !== null) teardownKills.set(error, teardown);
    joiner.resumeValue = error;
  }

  /**
   * Ends the run with `error`: kills every thread (for that reason, if the run was
   * `aborted`), then rejects once they are gone.
   */
  #fail(error: unknown, aborted = false): void {
    if (this.#finished) return;
    if (this.#failed) {
      // A KilledError of this run's teardown, come back to it (through a killer torn down
      // too): the teardown's own doing.
      if (killedBy(error, this)) return;
      // The same error twice (two threads that failed with one shared error, say, both
      // receivers of a channel closed with it) is one failure: it is there already.
      if (seenBefore(this.#failures, error)) return;
      this.#error = new SuppressedError(
        error,
        this.#error,
        "Another error occurred while the run was ending",
      );
      return;
    }
    this.#failed = true;
    this.#error = error;
    // Aborted, the run kills its threads for the abort's reason, as `kill(task, reason)`
    // does: their signals give it, so a `fetch` given one rejects with it. (Not a thread a
    // shield spares that then ends on its own: it was not killed.)
    if (aborted) this.#abortReason = { reason: error };
    seenBefore(this.#failures, error);
    // Oldest first (the live list runs newest first): a thread's `finally` that kills or
    // joins the threads it started then runs before theirs end, and what they throw
    // reaches it (a server hands a handler's errors to `onError` so), not the run.
    const threads: Thread[] = [];
    for (let t = this.#first; t !== null; t = t.next) threads.push(t);
    // Those killed before keep their place: woken in order (say, by a channel), they must
    // run in that order.
    const before = new Set<Thread>();
    for (const t of threads) if (t.killing) before.add(t);
    for (let i = threads.length - 1; i >= 0; i--) this.#killUnlessShielded(threads[i], this);
    // And they unwind oldest first too: a thread that was ready already (woken in this
    // instant) would otherwise end before an older one could kill or join it, and what it
    // threw would have nobody to go to but the run.
    const killed: Thread[] = [];
    const spared: Thread[] = [];
    for (let t; (t = this.#queue.shift()) !== undefined;) {
      (t.killing && !before.has(t) ? killed : spared).push(t);
    }
    killed.sort((a, b) => a.id - b.id);
    for (const t of killed) this.#queue.push(t);
    for (const t of spared) this.#queue.push(t);
  }
}

/**
 * Whether a thread out of steps gives way before `yielded` takes effect, rather than after.
 * Before, for most events: what they hand the thread (an item received, a task spawned)
 * would be lost to a kill between the two. After, for those that must take effect with the
 * code that yields them, and hand it nothing: a `shield` holds before a kill can land (a
 * `finally` that shields its cleanup is not cut short), a `kill` of many happens in the
 * step that decided it (a combinator's losers do not run again), a promise is waited
 * on at once (its rejection is seen), and a sleep starts when it is asked for: it hands
 * nothing and gives way itself, and put off by a turn of every ready thread, it would end
 * that much later on the real clock (after a time limit set after it, say).
 */
/**
 * Whether `error` is V8's stack overflow: the kernel's own, which may come after a handler
 * changed some of its state, so it must not pass for an error of the thread's.
 */
function isStackOverflow(error: unknown): boolean {
  try {
    return error instanceof RangeError && error.message === "Maximum call stack size exceeded";
  } catch {
    return false; // a thrown revoked Proxy, a `message` getter that throws: the user's value
  }
}

/**
 * Whether an ended thread's spawner is of no use to the threads it descends to: it has
 * ended, is not the root, is no scope, was spawned in no shield or teardown, and belongs
 * to its own spawner's scope. A kill walking up from a descendant (#killUnlessShielded) then goes
 * through it to its spawner and finds nothing, so it may go there at once.
 */
function uselessSpawner(spawner: Thread): boolean {
  // The root is kept anyway (by the kernel), and a story names it.
  if (spawner.state !== STATE_DONE || spawner.parent === null) return false;
  const extras = spawner.extras;
  if (extras !== null) dropEndedSpares(extras);
  if (
    extras !== null &&
    (extras.isScope || extras.spawnedInShield !== null || extras.spawnedInTeardownOf !== null)
  ) return false;
  const up = spawner.parent;
  return spawner.scope === (up === null ? null : up.isScope ? up : up.scope);
}

/**
 * Forgets what spared a thread once it can spare it no more (see #killUnlessShielded): the
 * thread that spawned it from a shield, once that thread has ended or left that shield;
 * the one that spawned it during its teardown, once that one has ended or is closing. A
 * restart loop whose links spawn the next from a shield would otherwise keep every link
 * through these, and through `parent` (see uselessSpawner).
 */
function dropEndedSpares(extras: ThreadExtras): void {
  const by = extras.spawnedInShield;
  if (
    by !== null &&
    (by.state === STATE_DONE || by.extras!.shieldSerials?.[0] !== extras.shieldSerial)
  ) extras.spawnedInShield = null;
  const spawner = extras.spawnedInTeardownOf;
  if (spawner !== null && (spawner.state === STATE_DONE || spawner.state === STATE_CLOSING)) {
    extras.spawnedInTeardownOf = null;
  }
}

function deferrable(yielded: unknown): boolean {
  if (typeof yielded !== "object" || yielded === null) return false;
  let kind: Kind | undefined;
  try {
    if (yielded instanceof NativeGenerator) return true; // a call
    kind = (yielded as Tagged)[KIND];
  } catch {
    return false; // a revoked Proxy, say: #handle gives the thread the error
  }
  if (kind === KIND_UNTIL) return typeof (yielded as UntilEffect<unknown>).source === "function";
  return kind !== undefined && kind !== KIND_SHIELD && kind !== KIND_KILL &&
    kind !== KIND_KILL_ALL && kind !== KIND_SLEEP;
}

/**
 * Adds `thread` to a list of threads to kill later (when a thread or its shield ends). A
 * `finally` that runs long may start many that end on their own meanwhile (a `withTimeout`
 * per item of a queue it drains): so each time the list reaches a power of two, from 64 on,
 * the ended ones are dropped, rather than kept, with their results, until the list is used.
 */
function addToKillLater(list: Thread[], thread: Thread): void {
  list.push(thread);
  const length = list.length;
  if (length < 64 || (length & (length - 1)) !== 0) return;
  let live = 0;
  for (const t of list) if (t.state !== STATE_DONE) live++;
  // Mostly live: left as is until twice as long, so that each scan is paid for (O(1) a push).
  if (live > length / 2) return;
  let kept = 0;
  for (const t of list) if (t.state !== STATE_DONE) list[kept++] = t;
  list.length = kept;
}

function remove(list: Thread[], thread: Thread): void {
  const index = list.indexOf(thread);
  if (index >= 0) list.splice(index, 1);
}

function chain(newer: unknown, older: unknown): SuppressedError {
  return new SuppressedError(newer, older, "Another error occurred after the first");
}

/**
 * Whether `error` is an object already in `seen` (one shared error reaching a chain of
 * failures again); adds it if not. A value that is not an object (`throw "timeout"`) is a
 * failure of its own each time: equal strings from two places are two failures.
 */
function seenBefore(seen: Set<unknown>, error: unknown): boolean {
  if (!isObject(error)) return false;
  if (seen.has(error)) return true;
  // A chain (a killed thread's cleanup failures, say) brings the errors in it.
  const pending: unknown[] = [error];
  while (pending.length > 0) {
    const next = pending.pop();
    if (!isObject(next) || seen.has(next)) continue;
    seen.add(next);
    try {
      if (next instanceof SuppressedError) pending.push(next.error, next.suppressed);
    } catch {
      // A revoked proxy, fields that throw when read: only the value itself is known.
    }
  }
  return false;
}

/**
 * Marks a generator as run, by `thread` (spawned) or null (called). A frozen one cannot be
 * marked: it runs unmarked (the write must not throw out of the kernel).
 */
function markRun(coroutine: Coroutine<unknown>, thread: Thread | null): void {
  try {
    (coroutine as Spawned)[THREAD] = thread;
  } catch {
    // Not extensible: a second run of it is not caught, and `join(gen)` does not find it.
  }
}

function isObject(value: unknown): value is object {
  return (typeof value === "object" && value !== null) || typeof value === "function";
}

/** Why `value` cannot be run as a coroutine, or null if it can. */
function coroutineProblem(value: unknown, verb: string): string | null {
  if (!isGenerator(value)) {
    return isAsyncGenerator(value)
      ? `Cannot ${verb} coroutine: ${ASYNC_GENERATOR}`
      : `Cannot ${verb} coroutine: ${describe(value)} is not a generator${callItHint(value)}`;
  }
  const thread = (value as Spawned)[THREAD];
  if (thread === undefined) return null;
  if (thread === null) {
    return `Cannot ${verb} coroutine: it was run already; a generator runs once, so call its function again for another`;
  }
  return thread.state === STATE_DONE
    ? `Cannot ${verb} coroutine: it already ran as thread ${thread.id}`
    : `Cannot ${verb} coroutine: it is already running as thread ${thread.id}`;
}

/** Whether `value` is a generator object (what `function*` returns, or one just like it). */
export function isGenerator(value: unknown): value is Coroutine<unknown> {
  try {
    if (value instanceof NativeGenerator) return true;
    return typeof value === "object" && value !== null && !(Symbol.asyncIterator in value) &&
      typeof (value as Coroutine<unknown>).next === "function" &&
      typeof (value as Coroutine<unknown>).throw === "function" &&
      typeof (value as Coroutine<unknown>).return === "function";
  } catch {
    return false; // a revoked Proxy, a throwing getter: no generator, which the caller says
  }
}

/** What an async generator is, in the `TypeError` that refuses it. */
const ASYNC_GENERATOR =
  "an async generator: bluelet runs function* generators; consume it in an async function and wait with until()";

function isAsyncGenerator(value: unknown): boolean {
  try {
    return typeof value === "object" && value !== null && Symbol.asyncIterator in value &&
      typeof (value as AsyncGenerator).next === "function";
  } catch {
    return false;
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === "object" || typeof value === "function") &&
    value !== null &&
    typeof (value as PromiseLike<unknown>).then === "function";
}
