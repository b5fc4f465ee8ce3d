// `all(operations, { concurrency })`: at most `concurrency` operations run at once, each
// started as soon as a slot frees, results in the order of `operations` (what std's
// `pooledMap` does for promises). A task group of `concurrency` workers that take the next
// operation in turn: if one fails, the group kills the others and throws its error.
import { ownFrameFor } from "./_effects.ts";
import type { Coroutine } from "./coroutine.ts";
import type { Operation } from "./operation.ts";
import { taskGroup } from "./task_group.ts";

export function* allLimited(
  operations: readonly Operation<unknown>[],
  concurrency: number,
): Coroutine<unknown[]> {
  const results: unknown[] = new Array(operations.length);
  let next = 0;
  function* worker(): Coroutine<void> {
    while (next < operations.length) {
      const index = next++;
      // A generator is called in a frame of its own; an event is handled directly, but
      // for `end`, which ends the frame it is yielded in (see scheduler/_supervise.ts).
      results[index] = yield ownFrameFor(operations[index]);
    }
  }
  yield* taskGroup(function* (group) {
    const workers = Math.min(concurrency, operations.length);
    for (let i = 0; i < workers; i++) yield* group.spawn(worker());
  });
  return results;
}

/** Checks the `concurrency` option: a positive integer, or `Infinity` for no limit. */
export function checkConcurrency(concurrency: number): void {
  if (!(concurrency >= 1 && (Number.isInteger(concurrency) || concurrency === Infinity))) {
    throw new RangeError(
      `Cannot run all: concurrency must be a positive integer or Infinity, got ${concurrency}`,
    );
  }
}
