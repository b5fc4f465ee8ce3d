// The iterator of an operation that took effect where `yield*` asked for it (a channel
// operation that needed no wait, a join of a thread that has returned). `yield*` reads a
// result at once and keeps nothing, so it is also its own (finished) result: one object,
// not two.

/** An iterator whose first result is already done, with `value`. */
export class Finished<T> implements Iterator<never, T, unknown> {
  readonly done = true;
  constructor(readonly value: T) {}
  next(): IteratorResult<never, T> {
    return this as IteratorReturnResult<T>;
  }
  return(value: T): IteratorResult<never, T> {
    return { value, done: true };
  }
  throw(error: unknown): IteratorResult<never, T> {
    throw error;
  }
}
