// What a user's callback (`onError`, `onListen`, `onWorkerError`) gives back, looked at:
// their types say `void`, which an `async` function passes for, and a promise that fails
// with nobody to catch it ends the process.

/** Calls `failed` if `result`, what a callback gave, is a promise (or a thenable) that fails. */
export function whenFailed(result: unknown, failed: (failure: unknown) => void): void {
  if (typeof (result as { then?: unknown } | null)?.then !== "function") return;
  Promise.resolve(result).catch(failed);
}

/** Calls `callback`; calls `failed` with what it throws, or with its promise's failure. */
export function callGuarded(callback: () => unknown, failed: (failure: unknown) => void): void {
  try {
    whenFailed(callback(), failed);
  } catch (failure) {
    failed(failure);
  }
}
