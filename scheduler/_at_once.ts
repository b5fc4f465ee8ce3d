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

/** The running kernel's `AtOnce`, set only while it steps a thread. */
export const atOnce: { run: AtOnce | null } = { run: null };
