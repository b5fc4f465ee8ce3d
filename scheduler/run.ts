import { describe, isInstance, unreadable } from "./_describe.ts";
import { Kernel } from "./kernel.ts";
import type { Operation } from "./operation.ts";
import { VirtualClock } from "./virtual_clock.ts";

/** Options for {@linkcode run}. */
export interface RunOptions {
  /**
   * Aborting it kills every thread of the run (their `finally` blocks run), after which
   * the run rejects with the signal's reason.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * The clock that `sleep` and timeouts use. Pass a {@linkcode VirtualClock} to make time
   * virtual in tests.
   *
   * @default {undefined} (real time)
   */
  clock?: VirtualClock;
  /**
   * Tracing mode: every `spawn` and `call` records where it was made (file and line), so
   * that errors say where their threads were spawned and {@linkcode snapshot} shows each
   * thread's call stack. It costs a stack capture per spawn and call (see the README for
   * the measured cost); without it, errors still tell which coroutines and threads they
   * passed through.
   *
   * @default {false}
   */
  trace?: boolean;
  /**
   * The name of the run's root thread (thread 0), shown in error stories and snapshots.
   *
   * @default {undefined}
   */
  name?: string;
}

/**
 * Runs a coroutine and every thread it spawns.
 *
 * Resolves with the root coroutine's return value once every thread has finished (as
 * Bluelet does, the run waits for all of them). Rejects with the error that ended the run:
 * an error that escaped a thread nobody was joining, the abort reason of `options.signal`,
 * or a {@linkcode DeadlockError}; by then every other thread was killed and its `finally`
 * blocks ran. Rejects with a `TypeError` if `operation` is neither a generator nor an
 * event, or an option is of the wrong type (the root then does not start).
 *
 * @typeParam T The root coroutine's return value.
 * @param operation The generator object to run, e.g. `main()`, or a single event.
 * @param options How to run it.
 * @returns A promise of the root coroutine's return value.
 *
 * @example Run a coroutine from async code
 * ```ts
 * import { run, sleep } from "@bluelet/bluelet";
 * import assert from "node:assert/strict";
 *
 * const answer = await run(function* () {
 *   yield* sleep(10);
 *   return 42;
 * }());
 * assert.equal(answer, 42);
 * ```
 */
export function run<T>(
  operation: Operation<T>,
  options: RunOptions = {},
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    // `null` is no options, as `fetch` takes it.
    const given = options ?? {};
    const problem = optionsProblem(given);
    // The root has not started, so it has no `finally` to run.
    if (problem !== null) return reject(new TypeError(`Cannot run coroutine: ${problem}`));
    new Kernel(given, resolve as (value: unknown) => void, reject).start(
      operation,
    );
  });
}

/** What is wrong with `run`'s options, for a caller without types; null if nothing. */
function optionsProblem(options: RunOptions): string | null {
  if (typeof options !== "object" || options === null) {
    return `options must be an object, got ${describe(options)}`;
  }
  if (unreadable(options)) return `options must be readable, got ${describe(options)}`;
  const { clock, signal, name, trace } = options;
  if (clock !== undefined && !isInstance(clock, VirtualClock)) {
    let copy: unknown;
    try {
      copy = (clock as { constructor?: { name?: unknown } })?.constructor?.name;
    } catch {
      // A revoked Proxy: named below.
    }
    return copy === "VirtualClock"
      ? "clock is a VirtualClock of another copy of bluelet (import both from one place)"
      : `clock must be a VirtualClock, got ${describe(clock)}`;
  }
  // Any object that acts as one: a signal of another realm, or a polyfill.
  let listens = false;
  try {
    listens = typeof (signal as { addEventListener?: unknown })?.addEventListener === "function";
  } catch {
    // A revoked Proxy: no signal.
  }
  if (signal != null && !listens) { // null passes for none, as in fetch's options
    return `signal must be an AbortSignal, got ${describe(signal)}`;
  }
  if (name != null && typeof name !== "string") {
    return `name must be a string, got ${describe(name)}`;
  }
  if (trace != null && typeof trace !== "boolean") {
    return `trace must be a boolean, got ${describe(trace)}`;
  }
  return null;
}
