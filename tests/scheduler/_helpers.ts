// Shared by the scheduler tests.
import { type Coroutine, sleep } from "../../mod.ts";

/**
 * Sleeps `ms`, then returns `value`. With `record`, notes `"<value> done"` when it finishes
 * and `"<value> finally"` however it ends (a kill included).
 */
export function* after<T>(ms: number, value: T, record?: string[]): Coroutine<T> {
  try {
    yield* sleep(ms);
    record?.push(`${String(value)} done`);
    return value;
  } finally {
    record?.push(`${String(value)} finally`);
  }
}
