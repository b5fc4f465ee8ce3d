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
import { type Outcome, SuspendEffect } from "./_effects.ts";
import type { Coroutine } from "./coroutine.ts";
import type { Effect } from "./effect.ts";
import { kill } from "./kill.ts";
import type { Operation } from "./operation.ts";
import { spawn } from "./spawn.ts";
import type { Task } from "./task.ts";

class Gathering {
  readonly outcomes: (Outcome<unknown> | undefined)[];
  pending: number;
  /** Index of the outcome that settled the gathering, once one did. */
  decisive = -1;
  #resume: ((outcome: Outcome<number>) => void) | null = null;

  constructor(
    size: number,
    readonly isDecisive: (outcome: Outcome<unknown>) => boolean,
  ) {
    this.outcomes = new Array(size);
    this.pending = size;
  }

  settle(index: number, outcome: Outcome<unknown>): void {
    this.outcomes[index] = outcome;
    this.pending--;
    if (this.decisive >= 0) return;
    if (this.isDecisive(outcome)) this.decisive = index;
    else if (this.pending > 0) return;
    this.#resume?.({ ok: true, value: this.decisive });
  }

  wait(): Effect<number> {
    return new SuspendEffect<number>((resume) => {
      if (this.decisive >= 0 || this.pending === 0) {
        resume({ ok: true, value: this.decisive });
      } else this.#resume = resume;
    }, "gather");
  }
}

function* child(
  operation: Operation<unknown>,
  index: number,
  gathering: Gathering,
): Coroutine<void> {
  let outcome: Outcome<unknown>;
  try {
    // A generator is called in a frame of its own; an event is handled directly.
    outcome = { ok: true, value: yield operation };
  } catch (error) {
    outcome = { ok: false, error };
  }
  gathering.settle(index, outcome);
}

/**
 * Runs `operations` concurrently until one outcome is decisive or all have ended, kills the
 * rest (waiting for their cleanup), and gives the outcomes with the decisive index (-1 if
 * none was). Callers must `call` it (see the top of this file).
 */
export function* supervise(
  operations: readonly Operation<unknown>[],
  isDecisive: (outcome: Outcome<unknown>) => boolean,
): Coroutine<{ outcomes: (Outcome<unknown> | undefined)[]; decisive: number }> {
  const gathering = new Gathering(operations.length, isDecisive);
  const tasks: Task<void>[] = [];
  try {
    for (let i = 0; i < operations.length; i++) {
      tasks.push(yield* spawn(child(operations[i], i, gathering)));
    }
    const decisive = yield* gathering.wait();
    return { outcomes: gathering.outcomes, decisive };
  } finally {
    for (const task of tasks) if (!task.done) yield* kill(task);
  }
}
