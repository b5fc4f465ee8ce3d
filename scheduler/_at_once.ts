// Events that never make a thread wait (a spawn, a join of a thread that has ended) can be
// done right where `yield* event` delegates to them, without suspending the generator and
// resuming it: that round trip through the kernel costs more than the event itself. While
// the kernel steps a thread it sets `atOnce.run`; an event's iterator offers it the event
// first, and yields it to the kernel as usual when it says no.
import type { Effect } from "./effect.ts";

/**
 * Does `effect` at once for the thread the kernel is stepping, if it can: then puts the
 * value the thread resumes with in `out.value` and says true. Says false to have the
 * effect yielded to the kernel as usual.
 */
export type AtOnce = (effect: Effect<unknown>, out: { value: unknown }) => boolean;

/** The running kernel's `AtOnce`, set only while it steps a thread. */
export const atOnce: { run: AtOnce | null } = { run: null };
