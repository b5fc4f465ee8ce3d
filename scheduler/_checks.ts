// The argument checks the public functions share, so that a wrong argument gets the same
// kind of error everywhere: a `TypeError` for a value of the wrong type, named as it is
// (`the string "10"`), and a `RangeError` for a number out of range.
import { callItHint, describe, unreadable } from "./_describe.ts";

/** Checks a duration in milliseconds; `action` begins the message (`Cannot sleep`). */
export function checkDuration(ms: unknown, action: string): asserts ms is number {
  if (typeof ms !== "number") {
    throw new TypeError(
      `${action}: duration must be a number of milliseconds, got ${describe(ms)}`,
    );
  }
  if (!Number.isFinite(ms)) {
    throw new RangeError(
      `${action}: duration must be a finite number of milliseconds, got ${ms}`,
    );
  }
}

/** Checks the operations given to `all`, `race` or `select`, which take an array. */
export function checkOperations(operations: unknown, action: string, noun = "operations"): void {
  if (!Array.isArray(operations)) {
    throw new TypeError(
      `${action}: ${noun} must be an array, got ${
        describe(operations)
      } (spread an iterable into one, as in [...items])`,
    );
  }
  const singular = noun === "cases" ? "case" : "operation";
  for (let i = 0; i < operations.length; i++) {
    checkOperation(operations[i], action, `${singular} ${i}`);
  }
}

/**
 * Checks an operation given to a combinator (`withTimeout`, `all`, ...); `what` names it
 * in the message (`operation 1`). Only values that cannot be one: caught here, where the
 * caller's mistake is, not as a yielded value in a helper thread the caller never wrote.
 */
export function checkOperation(operation: unknown, action: string, what: string): void {
  // No function is one: a coroutine function not called gets told to call it.
  if (typeof operation !== "object" || operation === null) {
    throw new TypeError(
      `${action}: ${what} is ${describe(operation)}, not an event or a coroutine${
        callItHint(operation)
      }`,
    );
  }
}

/** Checks that `value` is a number (a string of digits is not); `what` names it. */
export function checkNumber(
  value: unknown,
  action: string,
  what: string,
): asserts value is number {
  if (typeof value !== "number") {
    throw new TypeError(`${action}: ${what} must be a number, got ${describe(value)}`);
  }
}

/**
 * Checks an options argument: an object, or `undefined` or `null` for none (as `fetch`
 * takes them); `action` begins the message.
 */
export function checkOptions(options: unknown, action: string): void {
  if (options != null && typeof options !== "object") {
    throw new TypeError(`${action}: options must be an object, got ${describe(options)}`);
  }
  if (unreadable(options)) {
    throw new TypeError(`${action}: options must be readable, got ${describe(options)}`);
  }
}

/** Checks a `name` option: a string, or `undefined` or `null` for none. */
export function checkName(name: unknown, action: string): asserts name is string | undefined {
  if (name != null && typeof name !== "string") {
    throw new TypeError(`${action}: name must be a string, got ${describe(name)}`);
  }
}

/** Checks a count that may be `Infinity`, at least `min`; `what` names it in the message. */
export function checkCount(value: unknown, min: number, action: string, what: string): void {
  checkNumber(value, action, what);
  if (!(value >= min && (Number.isInteger(value) || value === Infinity))) {
    const kind = min === 0 ? "a non-negative integer" : "a positive integer";
    throw new RangeError(`${action}: ${what} must be ${kind} or Infinity, got ${value}`);
  }
}
