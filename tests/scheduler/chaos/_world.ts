// What a program's threads share (channels, a lock, a semaphore, an event, broadcasts), and
// what its run records beside its journal, for the end-of-run checks.
import {
  Broadcast,
  Channel,
  type Coroutine,
  Event,
  Lock,
  Semaphore,
  type Task,
  type TaskGroup,
  VirtualClock,
} from "../../../mod.ts";
import { ErrorLedger } from "./_errors.ts";
import { Journal } from "./_journal.ts";
import type { Op, Program } from "./_program.ts";

export const CAPACITIES: readonly number[] = [0, 1, 3];
export const OVERFLOWS = ["wait", "dropOldest", "end"] as const;
export const PERMITS = 2;
/** How many threads a program may start: enough to crowd, few enough to stay fast. */
const THREAD_BUDGET = 22;

/**
 * Who performs a step: a thread, and an actor id that names the step's log lines and the
 * items it sends. A combinator's branch is an actor of its own, so its items and order
 * are told apart from its caller's.
 */
export interface Actor {
  thread: number;
  id: number;
  /** How many items this actor sent or published so far. */
  seq: number;
}

export interface ThreadRecord {
  label: string;
  started: number;
  finallies: number;
  returned: boolean;
  /** The reasons given to kills of it: a joiner's `KilledError` must carry one of them. */
  reasons: unknown[];
  cleanupStarted: number;
  cleanupDone: number;
}

/**
 * A channel send, by its item. `status` is what the sender saw: `ok` (returned), `closed`,
 * `timeout` (a primitive's deadline), `loser` (another select case won), `tryFalse`, or
 * `killed` (ended while it waited: delivered once or not at all).
 */
export interface SendRecord {
  ch: number;
  sender: number;
  seq: number;
  status: string;
  /** The select it was a case of: at most one of its cases may take effect. */
  select?: number;
}

export interface Receipt {
  receiver: number;
  ch: number;
  item: string;
}

/** A broadcast publish; `startAt` and `doneAt` are log positions, `doneAt` -1 until done. */
export interface PublishRecord {
  b: number;
  publisher: number;
  seq: number;
  status: string;
  startAt: number;
  doneAt: number;
}

export interface SubscriptionRecord {
  b: number;
  startAt: number;
  items: string[];
}

export interface StartedThread {
  task: Task<unknown>;
  thread: number;
}

export class World extends Journal {
  readonly program: Program;

  readonly channels: Channel<string>[] = CAPACITIES.map((capacity) => new Channel(capacity));
  readonly closeErrors: (Error | undefined)[] = CAPACITIES.map(() => undefined);
  readonly lock: Lock = new Lock();
  /** The actor that holds the lock, as the program saw it. */
  lockHolder: number | null = null;
  readonly semaphore: Semaphore = new Semaphore(PERMITS);
  permitsHeld = 0;
  readonly event: Event = new Event();
  readonly broadcasts: Broadcast<string>[] = OVERFLOWS.map((overflow) =>
    new Broadcast({ capacity: 2, overflow })
  );

  readonly errors: ErrorLedger = new ErrorLedger((error) =>
    this.closeErrors.includes(error as Error)
  );
  readonly threads: Map<number, ThreadRecord> = new Map();
  /** The threads that kill and join steps pick from. */
  readonly targets: StartedThread[] = [];
  readonly scopes: StartedThread[] = [];
  readonly groups: TaskGroup[] = [];
  readonly sends: Map<string, SendRecord> = new Map();
  readonly receipts: Receipt[] = [];
  readonly publishes: Map<string, PublishRecord> = new Map();
  readonly subscriptions: SubscriptionRecord[] = [];
  /** Actors inside a combinator: a `throw` there is named so in the log. */
  readonly inCombinator: Set<number> = new Set();

  #budget = THREAD_BUDGET;
  #nextThread = 1;
  #nextActor = 1;
  #nextSelect = 0;

  /** Runs steps: the interpreter's, given here so that steps can hold steps. */
  readonly perform: (actor: Actor, ops: Op[]) => Coroutine<void>;

  constructor(
    program: Program,
    perform: (world: World, actor: Actor, ops: Op[]) => Coroutine<void>,
  ) {
    super(new VirtualClock());
    this.program = program;
    this.perform = (actor, ops) => perform(this, actor, ops);
  }

  /** A `catch` of the program took `error` in: notes it, and gives its name. */
  caught(error: unknown, where: string): string {
    this.errors.catch(error);
    const name = this.errors.name(error);
    if (name.includes("OTHER")) {
      this.violation(`unexpected error in ${where}: ${name} ${(error as Error)?.stack}`);
    }
    return name;
  }

  /** Takes one thread from the budget; false once it is spent. */
  spend(): boolean {
    if (this.#budget <= 0 || this.program.bodies.length === 0) return false;
    this.#budget--;
    return true;
  }

  /** A new thread's record; `prefix` says how it was started (T: spawn, S: scope, ...). */
  newThread(prefix: string): number {
    const id = this.#nextThread++;
    this.threads.set(id, {
      label: `${prefix}${id}`,
      started: 0,
      finallies: 0,
      returned: false,
      reasons: [],
      cleanupStarted: 0,
      cleanupDone: 0,
    });
    return id;
  }

  thread(id: number): ThreadRecord {
    return this.threads.get(id)!;
  }

  newActor(thread: number): Actor {
    return { thread, id: this.#nextActor++, seq: 0 };
  }

  /** An actor for a step nested in `actor`'s (`combinator`: a combinator's branch). */
  subActor(actor: Actor, combinator = false): Actor {
    const sub = this.newActor(actor.thread);
    if (combinator || this.inCombinator.has(actor.id)) this.inCombinator.add(sub.id);
    return sub;
  }

  newSelect(): number {
    return this.#nextSelect++;
  }

  /** Notes that `thread` ran its `finally` when it should have: started, once. */
  checkFinished(thread: number, where: string): void {
    const record = this.thread(thread);
    if (record.started && record.finallies !== 1) {
      this.violation(`${where}: ${record.label} started but ran finally ${record.finallies} times`);
    }
  }
}
