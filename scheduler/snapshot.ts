import { InspectEffect } from "./_effects.ts";
import type { Effect } from "./effect.ts";

/** What a thread is doing, as {@linkcode ThreadSnapshot.state} says. */
export type ThreadStateName =
  | "ready"
  | "running"
  | "sleeping"
  | "awaiting"
  | "joining"
  | "killing"
  | "suspended"
  | "closing";

/** One live thread, as {@linkcode snapshot} saw it. */
export interface ThreadSnapshot {
  /** The thread's id (the root thread is 0). */
  readonly id: number;
  /** The name given to `spawn` (or `run`), if any. */
  readonly name: string | undefined;
  /** What it is doing. */
  readonly state: ThreadStateName;
  /**
   * What it waits on, e.g. `sleep until 1500` (on a virtual clock; on the real one,
   * `sleep with 1500 ms left`), `join(thread 2)`, `recv(1024) from 10.0.0.7:5000`; a task
   * group waiting for a child (its state is `joining` too), `the end of thread 2`.
   */
  readonly waitsOn: string;
  /** Whether it is being killed (its `finally` blocks are running). */
  readonly killing: boolean;
  /** How many coroutine frames its call stack holds. */
  readonly depth: number;
  /**
   * Where each frame of its call stack was called, innermost first, ending with where the
   * thread was spawned. Filled in `trace` mode only; empty otherwise.
   */
  readonly stack: readonly string[];
  /** The thread that spawned it, or null for the root thread. */
  readonly spawnedBy: number | null;
  /** One readable line: id, name, state and what it waits on. */
  readonly summary: string;
}

/**
 * Takes a snapshot of every live thread of the run: its id, name, state, what it waits on,
 * and (in `trace` mode) its call stack. Useful for a server that is stuck: print it on a
 * signal (see `examples/echo.ts`).
 *
 * @returns An event that resumes with the snapshots, oldest thread first.
 *
 * @example Who waits on what
 * ```ts
 * import assert from "node:assert/strict";
 * import { run, sleep, snapshot, spawn, VirtualClock } from "@bluelet/bluelet";
 *
 * const threads = await run(function* () {
 *   yield* spawn(sleep(1000), { name: "sleeper" });
 *   yield* sleep(1);
 *   return yield* snapshot();
 * }(), { clock: new VirtualClock(), name: "main" });
 * assert.deepEqual(threads.map((t) => t.summary), [
 *   'thread 0 "main" running',
 *   'thread 1 "sleeper" sleeping: sleep until 1000',
 * ]);
 * ```
 */
export function snapshot(): Effect<ThreadSnapshot[]> {
  return new InspectEffect();
}
