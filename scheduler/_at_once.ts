// Events that never make a thread wait (a spawn, a join of a thread that has ended) can be
// done right where `yield* event` delegates to them, without suspending the generator and
// resuming it: that round trip through the kernel costs more than the event itself. While
// the kernel steps a thread it sets `atOnce.run`; an event's iterator offers it the event
// first, and yields it to the kernel as usual when it says no.
//
// A primitive (scheduler/_primitive.ts) is begun there too, whether or not it then waits:
// done at once, it ends the delegation like a spawn; if it has to wait, the thread waits
// from then on, and its generator suspends on the primitive next, which the kernel then
// only has to notice. That saves dispatching the yielded value, on every socket read and
// every channel receive that waits.
import type { Effect } from "./effect.ts";

/**
 * Does `effect` at once for the thread the kernel is stepping, if it can: then puts the
 * value the thread resumes with in `out.value` and says true. Says false to have the
 * effect yielded to the kernel as usual (a primitive that has to wait is begun already:
 * the kernel only notes the wait when it sees the primitive yielded).
 */
export type AtOnce = (effect: Effect<unknown>, out: { value: unknown }) => boolean;

/** How many operations in a row may take effect without the kernel (see `fastPath`). */
export const FAST_PATH_RUN = 16;

/**
 * Says whether a join of a thread of the run `host` that has returned may take effect at
 * once (`yield* task`): only for a running thread of that same run, and it counts a step.
 * A task answers through this without an event iterator or a dispatch on the event's kind,
 * as joins are half of what spawn + join costs.
 */
export type AtOnceJoin = (host: unknown) => boolean;

/**
 * The running kernel's `AtOnce` and `AtOnceJoin`, set only while it steps a thread, the
 * way it counts a step for `fastPath` (`charge`), and its count for `fastPath`. Each run
 * keeps its own count and puts it here while it steps its threads, so that a run's order
 * of events does not depend on the runs before it.
 */
export const atOnce: {
  run: AtOnce | null;
  join: AtOnceJoin | null;
  suspend: ((primitive: object) => boolean) | null;
  charge: (() => boolean) | null;
  credit: number;
  /** The kernel whose these are, which keeps its count while another's are here. */
  owner: object | null;
} = {
  run: null,
  join: null,
  suspend: null,
  charge: null,
  credit: FAST_PATH_RUN,
  owner: null,
};

/**
 * Says whether an operation that needs no wait may take effect right where `yield*` asks
 * for its iterator, without the kernel (a channel operation's fast path). The kernel counts
 * no step for such an operation, so one in `FAST_PATH_RUN` is charged a step, as the
 * kernel's own way of doing it at once would; once the thread's budget is spent, it is
 * told no and takes the usual way, which gives way: a thread looping on such operations
 * still gives way now and then. (Sending that one the usual way every time, as before,
 * cost 1% to 3% of a channel ping-pong.)
 */
export function fastPath(): boolean {
  if (--atOnce.credit > 0) return true;
  atOnce.credit = FAST_PATH_RUN;
  const charge = atOnce.charge;
  return charge !== null && charge();
}
