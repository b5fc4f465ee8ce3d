// The concrete events the kernel understands. They are data only: the kernel dispatches on
// `kind` through one switch, and nothing here touches a generator.
import type { Coroutine } from "./coroutine.ts";
import { Effect } from "./effect.ts";
import type { Primitive } from "./_primitive.ts";
import type { Task } from "./task.ts";

/** The kernel's dispatch tags, one per effect class. */
export const enum Kind {
  Call,
  Spawn,
  Join,
  Kill,
  End,
  Sleep,
  YieldNow,
  Until,
  Suspend,
  Self,
  Primitive,
}

export class CallEffect<T> extends Effect<T> {
  readonly kind = Kind.Call;
  readonly description = "call";
  constructor(readonly coroutine: Coroutine<T>) {
    super();
  }
}

export class SpawnEffect<T> extends Effect<Task<T>> {
  readonly kind = Kind.Spawn;
  readonly description = "spawn";
  constructor(readonly coroutine: Coroutine<T> | Effect<T>) {
    super();
  }
}

export class JoinEffect<T> extends Effect<T> {
  readonly kind = Kind.Join;
  readonly description = "join";
  constructor(readonly target: Task<T> | Coroutine<T>) {
    super();
  }
}

export class KillEffect extends Effect<void> {
  readonly kind = Kind.Kill;
  readonly description = "kill";
  constructor(readonly target: Task<unknown> | Coroutine<unknown>) {
    super();
  }
}

export class EndEffect<T> extends Effect<never> {
  readonly kind = Kind.End;
  readonly description = "end";
  constructor(readonly value: T) {
    super();
  }
}

export class SleepEffect extends Effect<void> {
  readonly kind = Kind.Sleep;
  readonly description: string;
  constructor(readonly ms: number) {
    super();
    this.description = `sleep(${ms})`;
  }
}

export class YieldNowEffect extends Effect<void> {
  readonly kind = Kind.YieldNow;
  readonly description = "null";
}

export class UntilEffect<T> extends Effect<T> {
  readonly kind = Kind.Until;
  constructor(
    readonly source: PromiseLike<T> | (() => T | PromiseLike<T>),
    readonly description: string,
  ) {
    super();
  }
}

/**
 * Parks the thread until `register`'s resume callback is called by another thread of the
 * same run. Internal: the kernel counts such a wait as resumable only from inside the run,
 * which is what lets the virtual clock jump and deadlocks be detected.
 */
export class SuspendEffect<T> extends Effect<T> {
  readonly kind = Kind.Suspend;
  constructor(
    readonly register: (resume: (outcome: Outcome<T>) => void) => void,
    readonly description: string,
  ) {
    super();
  }
}

/** Gives the current thread's own {@linkcode Task}. */
export class SelfEffect extends Effect<Task<unknown>> {
  readonly kind = Kind.Self;
  readonly description = "self";
}

/** How something ended: with a value or with an error. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

export type AnyEffect =
  | CallEffect<unknown>
  | SpawnEffect<unknown>
  | JoinEffect<unknown>
  | KillEffect
  | EndEffect<unknown>
  | SleepEffect
  | YieldNowEffect
  | UntilEffect<unknown>
  | SuspendEffect<unknown>
  | SelfEffect
  // A primitive's public `kind` is a plain number; this narrows it for the kernel's switch.
  | (Primitive<unknown> & { readonly kind: Kind.Primitive });

/** The one `null()` event: the kernel recognizes it by identity, before any dispatch. */
export const YIELD_NOW: YieldNowEffect = new YieldNowEffect();
