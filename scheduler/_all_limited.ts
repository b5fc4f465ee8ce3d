// `all(operations, { concurrency })`: at most `concurrency` operations run at once, each
// started as soon as a slot frees, results in the order of `operations` (what std's
// `pooledMap` does for promises). Workers that take the next operation in turn, supervised
// as `all` supervises its operations: the first failure kills the other workers at once
// (before any of them runs again, so none starts another operation) and is what the
// caller gets. The workers are plain threads, not a scope: a thread an operation spawns
// runs free, as it does under `all` without a limit.
import { checkCount } from "./_checks.ts";
import { ownFrameFor } from "./_effects.ts";
import { call } from "./call.ts";
import type { Coroutine } from "./coroutine.ts";
import type { Operation } from "./operation.ts";
import { settle, supervise } from "./_supervise.ts";

export function* allLimited(
  operations: readonly Operation<unknown>[],
  concurrency: number,
): Coroutine<unknown[]> {
  const results: unknown[] = new Array(operations.length);
  let next = 0;
  let failed = false;
  function* worker(): Coroutine<void> {
    // After a failure a worker starts nothing more, even one that its kill has not reached
    // yet (a shield holds it): its kill takes effect as the shielded operation ends.
    while (!failed && next < operations.length) {
      const index = next++;
      try {
        // A generator is called in a frame of its own; an event is handled directly, but
        // for `end`, which ends the frame it is yielded in (see scheduler/_supervise.ts).
        results[index] = yield ownFrameFor(operations[index]);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  }
  const workers = Array.from({ length: Math.min(concurrency, operations.length) }, worker);
  return yield* call(
    supervise(
      workers,
      (outcome) => !outcome.ok,
      `all of ${operations.length}, ${concurrency} at a time`,
      (done) => {
        if (done.decisive >= 0) settle(done.outcomes[done.decisive]!, done); // throws
        return results;
      },
    ),
  );
}

/** Checks the `concurrency` option: a positive integer, or `Infinity` for no limit. */
export function checkConcurrency(concurrency: number): void {
  checkCount(concurrency, 1, "Cannot run all", "concurrency");
}
