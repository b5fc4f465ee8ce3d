// The kernel's one extension point for leaf operations that wait on the outside world (the
// socket reads and writes of net/): a small state machine instead of a generator. A
// generator per socket call costs an allocation, a kernel frame and two resumptions; a
// primitive costs one small object. Like Effection's leaf operations, it pairs the start of
// its work with its teardown, so a kill can never lose what the work produced.
import { Kind } from "./_effects.ts";
import { Effect } from "./effect.ts";

/**
 * An event the kernel runs as a state machine. Its life:
 *
 * 1. `start()` when a thread yields it: begins the work and gives a promise to wait on,
 *    or `null` when the result is already there. If it throws, the error is thrown into the
 *    thread at once.
 * 2. `settled(ok, value)` in the promise's own reaction, before the thread is queued: it
 *    takes in the outcome (so nothing is lost if the thread is killed before it runs
 *    again), and gives another promise to wait on, or `null` when done. It must not throw:
 *    an error belongs in the result `finish` gives.
 * 3. `finish()` when the thread runs again: gives the result, or throws the error, at the
 *    thread's yield point.
 *
 * If the thread is killed (or its run ends) after `start` and before `finish`, the kernel
 * calls `cancel()` instead of `finish()`; it must leave things so that no result is lost.
 * Exactly one of `finish` and `cancel` is called once `start` gave a promise or `null`
 * (neither if `settled` breaks its contract and throws: that error goes to the thread).
 */
export abstract class Primitive<T> extends Effect<T> {
  readonly kind = Kind.Primitive;
  abstract start(): PromiseLike<unknown> | null;
  abstract settled(ok: boolean, value: unknown): PromiseLike<unknown> | null;
  abstract finish(): T;
  abstract cancel(): void;
}
