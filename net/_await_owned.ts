// Waiting for an operation that gives a resource (a connection) from a killable thread.
// The kernel ignores a promise once its thread is killed, but the Deno op stays pending
// and its resource would leak: so on kill this waits in `finally` until the op has settled
// (the caller cancels it, e.g. `connect` aborts its signal) and releases whatever it gave.
// Run it with `call`, in a frame of its own: a kill that reaches a yielding `finally`
// through `yield*` is lost (the delegating generator resumes normally once the `finally`
// is done).
import type { Coroutine } from "../scheduler/mod.ts";

/**
 * Waits for `promise`. If the waiting thread is killed first, waits for it to settle and
 * passes a late value to `release`.
 */
export function* awaitOwned<T>(
  promise: Promise<T>,
  release: (value: T) => void,
): Coroutine<T> {
  let settled = false;
  try {
    const value = (yield promise) as T;
    settled = true;
    return value;
  } catch (error) {
    settled = true;
    throw error;
  } finally {
    if (!settled) {
      yield promise.then(release, () => {});
    }
  }
}
