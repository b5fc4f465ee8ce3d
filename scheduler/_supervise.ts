// The machinery shared by `all`, `race` and `withTimeout`: run each operation in a child
// thread, collect how each ended, stop waiting when the combinator has its answer, and kill
// the children still running. Children catch their own errors and hand them over, so a
// failing child can never end the run before the combinator collects it.
//
// Why every combinator is an Effect (a `call`) and never a generator users `yield*` into:
// when a thread is killed, `return()` on a generator that is inside `yield*` is forwarded
// to the delegate; if the delegate's `finally` yields (as ours does, to kill children), the
// delegating generator is later resumed with `next()`, so once the delegate finishes, the
// `yield*` expression completes normally and the code after it runs as if nothing was
// killed. A separate kernel frame per generator is unwound one by one and cannot resurrect.
import { type Outcome, ownFrameFor } from "./_effects.ts";
import { Primitive, SUSPEND } from "./_primitive.ts";
import type { Coroutine } from "./coroutine.ts";
import { join } from "./join.ts";
import { chain, chainAll, killEach } from "./_kill_all.ts";
import type { Operation } from "./operation.ts";
import { shield } from "./shield.ts";
import { spawn } from "./spawn.ts";
import type { Task } from "./task.ts";
import { type TaskHandle, threadOf, ThreadState } from "./_thread.ts";
import { describeWait } from "./_describe.ts";

/** Collects the children's outcomes; waiting on it ends once the answer is known. */
class Gathering extends Primitive<void> {
  readonly outcomes: (Outcome<unknown> | undefined)[];
  pending: number;
  /** Index of the outcome that settled the gathering, once one did. */
  decisive = -1;
  /** The children's threads, in the order of their operations. */
  readonly tasks: Task<void>[] = [];
  /** What the killed children's `finally` blocks threw, in the children's order. */
  readonly failures: unknown[] = [];
  /** What the first operation waited on when another was decisive (see `supervise`). */
  firstWaited: string | undefined = undefined;

  constructor(
    size: number,
    readonly isDecisive: (outcome: Outcome<unknown>) => boolean,
    readonly description: string,
    readonly describeFirst: boolean,
  ) {
    super();
    this.outcomes = new Array(size);
    this.pending = size;
  }

  settle(index: number, outcome: Outcome<unknown>): void {
    this.outcomes[index] = outcome;
    this.pending--;
    if (this.decisive >= 0) {
      // After the answer. The decisive child kills the others in the very step it settles,
      // so none should run again (a shield that holds one makes what it throws a cleanup
      // error, which its kill hands over). Should one still fail here, its error goes with
      // the losers' cleanup errors, to the caller, not nowhere.
      if (!outcome.ok) this.failures.push(outcome.error);
      return;
    }
    if (this.isDecisive(outcome)) this.decisive = index;
    if (this.#answered()) this.wake();
  }

  #answered(): boolean {
    return this.decisive >= 0 || this.pending === 0;
  }

  start(): typeof SUSPEND | null {
    return this.#answered() ? null : SUSPEND;
  }

  finish(): void {}

  cancel(): void {}
}

function* child(
  operation: Operation<unknown>,
  index: number,
  gathering: Gathering,
): Coroutine<void> {
  let outcome: Outcome<unknown>;
  try {
    // A generator is called in a frame of its own; an event is handled directly, but for
    // `end`, which ends the frame it is yielded in: that must be a frame of its own too.
    outcome = { ok: true, value: yield ownFrameFor(operation) };
  } catch (error) {
    outcome = { ok: false, error };
  }
  gathering.settle(index, outcome);
  // The answer is known: kill the others now, all in this step, before any of them runs
  // again. One that was woken in the same instant (say, handed a channel item) has not
  // taken what it was given yet, and a kill makes it give it back. The supervisor waits
  // for this.
  if (gathering.decisive === index) {
    if (gathering.describeFirst && index !== 0) {
      const first = threadOf(gathering.tasks[0] as unknown as TaskHandle);
      const state = first.state;
      if (
        state !== ThreadState.Ready && state !== ThreadState.Running && state !== ThreadState.Done
      ) {
        gathering.firstWaited = describeWait(first);
      }
    }
    yield* killEach(gathering.tasks, gathering.failures, gathering.tasks[index]);
  }
}

/** What {@linkcode supervise} found. */
export interface Supervised {
  outcomes: (Outcome<unknown> | undefined)[];
  /** The index of the decisive outcome, or -1 if none was. */
  decisive: number;
  /** What the killed children's `finally` blocks threw, chained; null if nothing. */
  cleanupFailure: { error: unknown } | null;
  /**
   * With `describeFirst`: what the first operation's thread waited on when another was
   * decisive (`receive(Channel)`, `join(thread 4)`), if it waited.
   */
  firstWaited: string | undefined;
}

/**
 * Runs `operations` concurrently until one outcome is decisive or all have ended, then
 * kills the rest, waiting for their cleanup, and gives what `conclude` makes of it (a
 * value, or an error it throws). Callers must `call` it (see the top of this file).
 */
export function* supervise<T>(
  operations: readonly Operation<unknown>[],
  isDecisive: (outcome: Outcome<unknown>) => boolean,
  name: string,
  conclude: (supervised: Supervised) => T,
  describeFirst = false,
): Coroutine<T> {
  const gathering = new Gathering(operations.length, isDecisive, name, describeFirst);
  const tasks = gathering.tasks;
  let answered = false;
  try {
    for (let i = 0; i < operations.length; i++) {
      tasks.push(yield* spawn(child(operations[i], i, gathering)));
    }
    yield* gathering;
    answered = true;
  } finally {
    // Killed before the answer was taken in: the children go too (see `abandon`).
    if (!answered) yield* shield(abandon(gathering));
  }
  // Shielded: a kill that arrives now waits until every loser has finished its cleanup.
  const supervised = yield* shield(finishAll(gathering, conclude));
  return conclude(supervised);
}

/**
 * The caller was killed before it took the answer in: kills the children still running,
 * and throws, to whoever killed it, what the children failed with (an answer may have been
 * waiting already: an error `all` was to throw) and what their cleanup threw, chained, none
 * dropped.
 */
function* abandon(gathering: Gathering): Coroutine<void> {
  const errors = new Set<unknown>();
  for (const outcome of gathering.outcomes) {
    if (outcome !== undefined && !outcome.ok) errors.add(outcome.error);
  }
  for (const error of gathering.failures) errors.add(error);
  const cleanup: unknown[] = [];
  yield* killEach(gathering.tasks, cleanup);
  const failure = chainAll([...errors, ...cleanup]);
  if (failure !== null) throw failure.error;
}

/**
 * Waits for the decisive child (which kills the others), then kills any left; gives what
 * they came to.
 */
function* finishAll<T>(
  gathering: Gathering,
  conclude: (supervised: Supervised) => T,
): Coroutine<Supervised> {
  const decisive = gathering.tasks[gathering.decisive];
  if (decisive !== undefined && !decisive.done) {
    try {
      yield* join(decisive);
    } catch (error) {
      // Killed as it killed the others, by a scope that ends and kills what it owns (the
      // children are its too): its outcome was settled before, and the rest are killed
      // below. Its kill is no error of the combinator's.
      if (!decisive.killed) throw error;
    }
  }
  yield* killEach(gathering.tasks, gathering.failures);
  const supervised: Supervised = {
    outcomes: gathering.outcomes,
    decisive: gathering.decisive,
    cleanupFailure: chainAll(gathering.failures),
    firstWaited: gathering.firstWaited,
  };
  // An answer that holds an error of a child's or of a cleanup's is made here, inside the
  // shield: a kill that waits for the shield then hands it to its killer, rather than drop
  // it. One without (a value, `withTimeout`'s own `TimeoutError`) is made after the
  // shield, and a waiting kill takes effect first: the caller has nothing to hand on.
  const answer = supervised.outcomes[supervised.decisive];
  if (supervised.cleanupFailure !== null || (answer !== undefined && !answer.ok)) {
    conclude(supervised); // throws it
  }
  return supervised;
}

/**
 * The error a combinator throws: `outcome`'s, or the cleanup failure chained to it as a
 * `SuppressedError` (newest outermost, as `using` does), so neither is lost.
 */
export function settle<T>(outcome: Outcome<T>, supervised: Supervised): T {
  const failure = supervised.cleanupFailure;
  if (failure === null) {
    if (outcome.ok) return outcome.value;
    throw outcome.error;
  }
  if (outcome.ok) throw failure.error;
  throw chain(failure.error, outcome.error);
}
