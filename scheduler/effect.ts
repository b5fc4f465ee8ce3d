import { atOnce } from "./_at_once.ts";
import { addToStory, waitingFrames } from "./_story.ts";

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
 * import assert from "node:assert/strict";
 * import { Channel, run } from "@bluelet/bluelet";
 *
 * const channel = new Channel<number>(2);
 * await run(function* () {
 *   channel.trySend(1);
 *   channel.trySend(2);
 *   const untyped = yield channel.receive(); // Bluelet style: the result is untyped
 *   const typed = yield* channel.receive(); // typed style: IteratorResult<number, undefined>
 *   assert.equal(untyped.value, 1);
 *   assert.equal(typed.value, 2);
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
   * @returns An iterator that yields the effect once.
   */
  [Symbol.iterator](): Iterator<Effect<T>, T, unknown> {
    return new EffectIterator<T>(this);
  }
}

/** An effect that may begin a wait itself where `yield*` asks for its first result. */
export interface WaitsAtOnce {
  /** Begins its wait if it can do so at once, with nothing else to do; says whether it did. */
  waitAtOnce(): boolean;
}

/**
 * The iterator of an effect that offers itself to wait at once (a channel operation that
 * found nothing to do without a wait) before it is offered to the kernel as usual.
 */
export function waitingIterator<T>(
  effect: Effect<T> & WaitsAtOnce,
): Iterator<Effect<T>, T, unknown> {
  return new EffectIterator<T>(effect, true);
}

/**
 * What `yield* effect` runs: a plain object, since a generator object per event would cost
 * a generator allocation on every step. It has no `finally`, so a kill passes straight
 * through it (see scheduler/_supervise.ts on why that matters).
 *
 * It is also its own iterator result. `yield*` reads `done` and `value` of each result at
 * once, and hands a result that is not done to the generator's caller (the kernel) as it
 * is, which reads it at once too: nothing keeps a result, so one object serves as both,
 * and a `yield*` costs one allocation instead of three.
 */
class EffectIterator<T> implements Iterator<Effect<T>, T, unknown> {
  // `value` first, as the engine builds its own results: the kernel's loads of `done` and
  // `value` then stay fast whatever iterator made the result.
  value: unknown;
  done: boolean;
  #effect: Effect<T> | null;
  #waits: boolean;

  constructor(effect: Effect<T>, waits = false) {
    this.value = undefined;
    this.done = false;
    this.#effect = effect;
    this.#waits = waits;
  }

  next(value?: unknown): IteratorResult<Effect<T>, T> {
    const effect = this.#effect;
    if (effect !== null) {
      this.#effect = null;
      if (this.#waits && (effect as Effect<T> & WaitsAtOnce).waitAtOnce()) {
        this.value = effect;
        return this as IteratorResult<Effect<T>, T>;
      }
      // An event the kernel can do at once ends the delegation here (see _at_once.ts).
      const run = atOnce.run;
      if (run !== null && run(effect, this)) {
        this.done = true;
        return this as IteratorResult<Effect<T>, T>;
      }
      this.value = effect;
      return this as IteratorResult<Effect<T>, T>;
    }
    // The second call ends it with the kernel's answer; any later one gives `undefined`.
    this.value = this.done ? undefined : value;
    this.done = true;
    return this as IteratorResult<Effect<T>, T>;
  }

  return(value: T): IteratorResult<Effect<T>, T> {
    this.#effect = null;
    this.value = value;
    this.done = true;
    return this as IteratorResult<Effect<T>, T>;
  }

  throw(error: unknown): IteratorResult<Effect<T>, T> {
    this.#effect = null;
    this.done = true;
    // Runs inside the frame that waited on this event: the one moment its place is known.
    addToStory(error, waitingFrames);
    throw error;
  }
}
