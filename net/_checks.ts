// The option checks of in-memory connections and listeners: a value of the wrong type is
// a TypeError that names it as it is (`the string "4"`, not `4`), a number out of range a
// RangeError, and neither ever dumps a large value into the message.

/** Names a value in an error message without dumping it. */
export function named(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === "string") {
    return `the string ${JSON.stringify(value.length > 20 ? value.slice(0, 20) + "..." : value)}`;
  }
  if (typeof value === "object") return "an object";
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
