/**
 * The base of every event a coroutine yields to the kernel.
 *
 * An effect is inert data: yielding it asks the kernel to do something and resume the
 * coroutine with the outcome. It can be yielded Bluelet-style (`const x = yield ev`, `x` is
 * untyped) or delegated to (`const x = yield* ev`, `x` is typed `T`): its iterator yields
 * the effect itself once and returns whatever the kernel sends back.
 *
 * @typeParam T The value the kernel resumes the coroutine with.
 *
 * @example Typed and untyped use of the same event
 * ```ts
 * import { run, sleep } from "@bluelet/bluelet";
 *
 * await run(function* () {
 *   yield sleep(1); // Bluelet style
 *   yield* sleep(1); // typed style
 * }());
 * ```
 */
export abstract class Effect<T> {
  /** A short human-readable name of what the effect asks for, for debugging. */
  abstract readonly description: string;

  /**
   * Yields this effect to the kernel and returns the value it resumes with, so that
   * `yield* effect` is typed.
   *
   * @returns A generator that yields the effect once.
   */
  *[Symbol.iterator](): Generator<Effect<T>, T, unknown> {
    return (yield this) as T;
  }
}
