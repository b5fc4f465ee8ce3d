// The option checks of in-memory connections and listeners: a value of the wrong type is
// a TypeError that names it as it is (`the string "4"`, not `4`), a number out of range a
// RangeError, and neither ever dumps a large value into the message.

/** Names a value in an error message without dumping it. */
export function named(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === "string") {
    return `the string ${JSON.stringify(value.length > 20 ? value.slice(0, 20) + "..." : value)}`;
  }
  if (typeof value === "object") {
    try {
      const name = Object.getPrototypeOf(value)?.constructor?.name;
      return typeof name === "string" && name !== "" ? `an object (${name})` : "an object";
    } catch {
      return "an object"; // a revoked Proxy
    }
  }
  if (typeof value === "function") return "a function";
  return `${typeof value} ${String(value)}`;
}

/** Checks an options argument: an object, or `undefined` or `null` for none. */
export function checkOptionsObject(options: unknown, action: string): void {
  if (options != null && typeof options !== "object") {
    throw new TypeError(`${action}: options must be an object, got ${named(options)}`);
  }
  if (options != null) {
    try {
      Object.getPrototypeOf(options);
    } catch {
      throw new TypeError(`${action}: options must be readable, got a revoked Proxy`);
    }
  }
}

/** Checks that an option given is a number; `what` names it. */
export function checkNumberOption(value: unknown, action: string, what: string): void {
  if (typeof value !== "number") {
    throw new TypeError(`${action}: ${what} must be a number, got ${named(value)}`);
  }
}

/** The options `server` and `serveWorkers` share, as far as they are checked up front. */
interface ServingOptions {
  maxConnections?: unknown;
  idleTimeout?: unknown;
  gracePeriod?: unknown;
}

/**
 * Checks the options of a server that `names` lists (`serveWorkers` has no `gracePeriod`):
 * a number of the wrong type is a TypeError, one out of range a RangeError, each
 * prefixed with `action`. `null` is no option, as `undefined` is.
 */
export function checkServingOptions(
  options: ServingOptions,
  action: string,
  names: readonly (keyof ServingOptions)[] = ["maxConnections", "idleTimeout", "gracePeriod"],
): void {
  for (const name of names) {
    const value = options[name];
    if (value == null) continue;
    checkNumberOption(value, action, name);
    const n = value as number;
    if (name === "maxConnections" && (!(n >= 1) || (!Number.isInteger(n) && n !== Infinity))) {
      throw new RangeError(`${action}: maxConnections must be a positive integer, got ${n}`);
    }
    if (name === "idleTimeout" && !(n > 0)) {
      throw new RangeError(
        `${action}: idleTimeout must be a positive number of milliseconds, got ${n}`,
      );
    }
    if (name === "gracePeriod" && !(n >= 0)) {
      throw new RangeError(
        `${action}: gracePeriod must be a non-negative number of milliseconds, got ${n}`,
      );
    }
  }
}
