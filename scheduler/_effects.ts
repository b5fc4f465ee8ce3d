// The concrete events the kernel understands. They are data only: the kernel dispatches on
// their `KIND` tag through one switch, and nothing here touches a generator. The commonest
// ones are made on every spawn or call, so what is the same for all of a kind (the tag,
// the description) is on the prototype, and a field is set once (declared, not defined).
import type { Coroutine } from "./coroutine.ts";
import { Effect } from "./effect.ts";
import type { ThreadSnapshot } from "./snapshot.ts";
import type { Primitive } from "./_primitive.ts";
import { asCoroutine, type Operation } from "./operation.ts";
import type { Task } from "./task.ts";
import type { TaskHandle } from "./_thread.ts";
import { captureSite, tracing } from "./_story.ts";
import { isInstance } from "./_describe.ts";
import { NativeGenerator } from "./_native_generator.ts";

/** The kernel's dispatch tags, one per effect class. */
export const enum Kind {
  Call,
  Inspect,
  Spawn,
  Join,
  Kill,
  End,
  Sleep,
  YieldNow,
  Until,
  Self,
  Shield,
  Primitive,
  KillAll,
}

/**
 * The kernel's dispatch tag, on the prototype of every event class: one property load
 * tells an event from anything else a coroutine may yield (a generator, a promise), and
 * which handler it goes to. A symbol no user object has by accident, and on the prototype,
 * so an event costs no store for it.
 */
export const KIND: unique symbol = Symbol("bluelet.kind");

/** What the kernel reads off a yielded value to dispatch it. */
export interface Tagged {
  readonly [KIND]?: Kind;
}

/** Tags the events `constructor` makes as `kind`. */
export function tagKind(constructor: { prototype: object }, kind: Kind): void {
  Object.defineProperty(constructor.prototype, KIND, { value: kind });
}

export class CallEffect<T> extends Effect<T> {
  static {
    tagKind(this, Kind.Call);
  }
  /** The coroutine `call(coroutine)` runs; null for one made afresh by `make`. */
  declare readonly coroutine: Coroutine<T> | null;
  /** Makes the coroutine each time the event is yielded (see `callEach`); or null. */
  declare readonly make: (() => Coroutine<T>) | null;
  /** Where the call was made, in `trace` mode (see `siteOf`). */
  declare readonly site: Error | undefined;
  constructor(coroutine: Coroutine<T> | null, make: (() => Coroutine<T>) | null = null) {
    super();
    this.coroutine = coroutine;
    this.make = make;
    this.site = tracing.on ? captureSite() : undefined;
  }
  get description(): string {
    return "call";
  }
}

/**
 * The event of a combinator (`all`, `withTimeout`, a lock's `withLock`...): a call of a
 * coroutine that `make` makes afresh each time the event is yielded, so that the event
 * does its work every time, as `sleep(10)` does. (Made once with the event, a second yield
 * ran the finished coroutine: `undefined` at once, whatever the event's type said.)
 */
export function callEach<T>(make: () => Coroutine<T>): Effect<T> {
  return new CallEffect<T>(null, make);
}

export class SpawnEffect<T> extends Effect<Task<T>> {
  static {
    tagKind(this, Kind.Spawn);
  }
  declare readonly coroutine: Operation<T>;
  declare readonly scope: boolean;
  declare readonly name: string | undefined;
  /** The scope the thread belongs to, if not the spawner's. */
  declare readonly owner: Task<unknown> | undefined;
  /** Where the thread was spawned, in `trace` mode (see `siteOf`). */
  declare readonly site: Error | undefined;
  constructor(
    coroutine: Operation<T>,
    scope: boolean,
    name: string | undefined,
    owner: Task<unknown> | undefined,
  ) {
    super();
    this.coroutine = coroutine;
    this.scope = scope;
    this.name = name;
    this.owner = owner;
    this.site = tracing.on ? captureSite() : undefined;
  }
  get description(): string {
    return "spawn";
  }
}

export class JoinEffect<T> extends Effect<T> {
  static {
    tagKind(this, Kind.Join);
  }
  declare readonly target: Task<T> | Coroutine<T>;
  constructor(target: Task<T> | Coroutine<T>) {
    super();
    this.target = target;
  }
  get description(): string {
    return `join(${describeTarget(this.target)})`;
  }
}

/**
 * Waits for a thread to end without joining it: the waiter is not handed the thread's
 * error, so an error that nobody joins still goes to the thread's scope. What a task group
 * waits for its children with: it fails on a child's error only if no thread joined it.
 */
export class WatchEndEffect extends JoinEffect<unknown> {
  override get description(): string {
    return `end of ${describeTarget(this.target)}`;
  }
}

export class KillEffect extends Effect<void> {
  static {
    tagKind(this, Kind.Kill);
  }
  declare readonly target: Task<unknown> | Coroutine<unknown>;
  declare readonly reason: unknown;
  constructor(target: Task<unknown> | Coroutine<unknown>, reason: unknown) {
    super();
    this.target = target;
    this.reason = reason;
  }
  get description(): string {
    return `kill(${describeTarget(this.target)})`;
  }
}

/**
 * Kills every thread of `targets` in one step, before any other thread runs, and waits
 * until all have ended (`kill(tasks)`, and the combinators' cleanup: killed one after the
 * other, a loser that was woken in the same instant as the winner, handed a channel item,
 * would run while an earlier one unwinds, and take its item for nobody). Throws a
 * {@linkcode KillFailures} when cleanup failed.
 */
export class KillAllEffect extends Effect<void> {
  static {
    tagKind(this, Kind.KillAll);
  }
  declare readonly targets: readonly (Task<unknown> | Coroutine<unknown>)[];
  declare readonly reason: unknown;
  constructor(targets: readonly (Task<unknown> | Coroutine<unknown>)[], reason: unknown) {
    super();
    this.targets = targets;
    this.reason = reason;
  }
  get description(): string {
    return `kill(${this.targets.map(describeTarget).join(", ")})`;
  }
}

/** What the `finally` blocks of a {@linkcode KillAllEffect}'s targets threw, in their order. */
export class KillFailures {
  constructor(readonly errors: readonly unknown[]) {}
}

export class EndEffect<T> extends Effect<never> {
  static {
    tagKind(this, Kind.End);
  }
  declare readonly value: T;
  constructor(value: T) {
    super();
    this.value = value;
  }
  get description(): string {
    return "end";
  }
}

/**
 * `operation`, to be yielded in a frame that has more to do after it (a combinator's
 * helper thread): `end` ends the frame it is yielded in, so it gets a frame of its own.
 */
export function ownFrameFor<T>(operation: Operation<T>): Operation<T> {
  if (operation instanceof EndEffect) return asCoroutine(operation as Operation<T>);
  // In `trace` mode, a call event records that the library made the call: a snapshot then
  // says so, where a bare `yield gen` would pass for the user's own.
  return tracing.on && isInstance(operation, NativeGenerator)
    ? new CallEffect(operation as Coroutine<T>)
    : operation;
}

export class SleepEffect extends Effect<void> {
  static {
    tagKind(this, Kind.Sleep);
  }
  declare readonly ms: number;
  /**
   * A time limit's timer (`withTimeout` or `moveOnAfter` of a coroutine): it wakes after
   * what is due in the same instant, as a leaf operation's deadline does (kernel.ts,
   * #fireDueTimers).
   */
  declare readonly late: boolean;
  constructor(ms: number, late = false) {
    super();
    this.ms = ms;
    this.late = late;
  }
  get description(): string {
    return `sleep(${this.ms})`;
  }
}

export class YieldNowEffect extends Effect<void> {
  static {
    tagKind(this, Kind.YieldNow);
  }
  readonly description = "null";
}

export class UntilEffect<T> extends Effect<T> {
  static {
    tagKind(this, Kind.Until);
  }
  declare readonly source: PromiseLike<T> | (() => T | PromiseLike<T>);
  declare readonly description: string;
  constructor(source: PromiseLike<T> | (() => T | PromiseLike<T>), description: string) {
    super();
    this.source = source;
    this.description = description;
  }
}

/** Gives the current thread (the kernel's own object; see scheduler/_thread.ts). */
export class SelfEffect extends Effect<unknown> {
  static {
    tagKind(this, Kind.Self);
  }
  readonly description = "self";
}

/** Gives a snapshot of every live thread of the run. */
export class InspectEffect extends Effect<ThreadSnapshot[]> {
  static {
    tagKind(this, Kind.Inspect);
  }
  readonly description = "snapshot";
}

/** Runs an operation in a frame that a kill waits for instead of interrupting. */
export class ShieldEffect<T> extends Effect<T> {
  static {
    tagKind(this, Kind.Shield);
  }
  readonly description = "shield";
  /** Where the shield was made, in `trace` mode (see `siteOf`). */
  readonly site: Error | undefined;
  constructor(readonly operation: Operation<T>) {
    super();
    this.site = tracing.on ? captureSite() : undefined;
  }
}

/** How something ended: with a value or with an error. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

export type AnyEffect =
  | CallEffect<unknown>
  | SpawnEffect<unknown>
  | JoinEffect<unknown>
  | TaskHandle
  | KillEffect
  | KillAllEffect
  | EndEffect<unknown>
  | SleepEffect
  | YieldNowEffect
  | UntilEffect<unknown>
  | SelfEffect
  | InspectEffect
  | ShieldEffect<unknown>
  | Primitive<unknown>;

/** The one `null()` event: the kernel recognizes it by identity, before any dispatch. */
export const YIELD_NOW: YieldNowEffect = new YieldNowEffect();

function describeTarget(target: unknown): string {
  const id = (target as { id?: unknown }).id;
  return typeof id === "number" ? `thread ${id}` : "a coroutine";
}
