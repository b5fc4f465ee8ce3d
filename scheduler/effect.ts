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
 * import { run, sleep } from "@bluelet/bluelet";
 *
 * await run(function* () {
 *   yield sleep(1); // Bluelet style
 *   yield* sleep(1); // typed style
 * }());
 * ```
 */
export abstract class Effect<T> implements Iterator<Effect<T>, T, unknown> {
  /** A short human-readable name of what the effect asks for, for debugging. */
  abstract readonly description: string;
  /** Whether this effect, as its own iterator, has yielded itself and awaits its result. */
  #yielded: boolean;

  /** Creates an effect (for subclasses). */
  constructor() {
    // Assigned here, not with a field initializer, which costs a step per allocation.
    this.#yielded = false;
  }

  /**
   * Yields this effect to the kernel and returns the value it resumes with, so that
   * `yield* effect` is typed. The effect is its own iterator, which saves an object on
   * every `yield*`; while one `yield*` is in progress, another gets an iterator of its own.
   *
   * @returns An iterator that yields the effect once.
   */
  [Symbol.iterator](): Iterator<Effect<T>, T, unknown> {
    return this.#yielded ? new EffectIterator<T>(this) : this;
  }

  /**
   * The iterator protocol behind `yield*`: yields the effect, then returns the value the
   * kernel resumed with.
   *
   * @param value What the kernel resumed with (on the second call).
   * @returns The effect to yield, then the result.
   */
  next(value?: unknown): IteratorResult<Effect<T>, T> {
    // Results are built with `value` first, as the engine builds its own: the kernel's
    // loads of `done` and `value` then stay fast whatever iterator made the result.
    if (!this.#yielded) {
      this.#yielded = true;
      return { value: this, done: false };
    }
    this.#yielded = false;
    return { value: value as T, done: true };
  }

  /**
   * The iterator protocol behind `yield*`: ends the delegation (a kill passes through).
   *
   * @param value The value to return.
   * @returns A finished result.
   */
  return(value: T): IteratorResult<Effect<T>, T> {
    this.#yielded = false;
    return { value, done: true };
  }

  /**
   * The iterator protocol behind `yield*`: the kernel throws the effect's error here, in
   * the frame that waited on it, which is where the error's story learns that frame.
   *
   * @param error The error.
   * @returns Never: it rethrows `error`.
   */
  throw(error: unknown): IteratorResult<Effect<T>, T> {
    this.#yielded = false;
    // Runs inside the frame that waited on this event: the one moment its place is known.
    addToStory(error, waitingFrames);
    throw error;
  }
}

/**
 * What `yield* effect` runs: a plain object, since a generator object per event would cost
 * a generator allocation on every step. It has no `finally`, so a kill passes straight
 * through it (see scheduler/_supervise.ts on why that matters).
 */
class EffectIterator<T> implements Iterator<Effect<T>, T, unknown> {
  #effect: Effect<T> | null;
  #done = false;

  constructor(effect: Effect<T>) {
    this.#effect = effect;
  }

  next(value?: unknown): IteratorResult<Effect<T>, T> {
    const effect = this.#effect;
    // Results are built with `value` first, as the engine builds its own: the kernel's
    // loads of `done` and `value` then stay fast whatever iterator made the result.
    if (effect !== null) {
      this.#effect = null;
      return { value: effect, done: false };
    }
    if (this.#done) return { value: undefined as T, done: true };
    this.#done = true;
    return { value: value as T, done: true };
  }

  return(value: T): IteratorResult<Effect<T>, T> {
    this.#effect = null;
    this.#done = true;
    return { value, done: true };
  }

  throw(error: unknown): IteratorResult<Effect<T>, T> {
    this.#effect = null;
    this.#done = true;
    // Runs inside the frame that waited on this event: the one moment its place is known.
    addToStory(error, waitingFrames);
    throw error;
  }
}
