// Waiting for an operation that gives a resource (a connection) from a killable thread.
// The kernel ignores a promise once its thread is killed, but the Deno op stays pending
// and its resource would leak: so on kill this cancels the op, waits in `finally` until it
// has settled (a `finally` may yield), and closes whatever it gave. Run it with `call`,
// in a frame of its own: a kill that reaches a yielding `finally` through `yield*` is
// lost (the delegating generator resumes normally once the `finally` is done).
import type { Coroutine } from "../scheduler/mod.ts";

/**
 * Waits for `promise`. If the waiting thread is killed first, calls `cancel` (which must
 * make the promise settle soon), waits for it, and passes a late value to `release`.
 */
export function* awaitOwned<T>(
  promise: Promise<T>,
  release: (value: T) => void,
  cancel?: () => void,
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
      cancel?.();
      yield promise.then(release, () => {});
    }
  }
}
