// A run's journal: its log, which two runs of one program must write alike, line by line,
// and the violations noted in it as they were found.
import { type Coroutine, run, type VirtualClock } from "../../../mod.ts";

/** What one run of a program left: its log, how it ended, and what it broke on the way. */
export interface Trace {
  log: string[];
  outcome: string;
  now: number;
  violations: string[];
}

/** The outcome of a run that did not settle (see `runGuarded`). */
export const HUNG = "hung";

export class Journal {
  readonly log: string[] = [];
  readonly violations: string[] = [];
  readonly clock: VirtualClock;

  constructor(clock: VirtualClock) {
    this.clock = clock;
  }

  note(message: string): void {
    this.log.push(`${this.clock.now()} ${message}`);
  }

  violation(message: string): void {
    this.violations.push(message);
    this.note(`VIOLATION ${message}`);
  }

  /** Counts runs of each started thread's `finally` (keyed by name): once, by the end. */
  readonly finallies: Map<string, number> = new Map();

  started(key: string): void {
    this.finallies.set(key, 0);
  }

  /** `key`'s `finally` runs. */
  finished(key: string): void {
    this.finallies.set(key, (this.finallies.get(key) ?? 0) + 1);
    this.note(`${key} finally`);
  }

  checkFinallies(): void {
    for (const [key, n] of this.finallies) {
      if (n !== 1) this.violation(`${key}'s finally ran ${n} times`);
    }
  }

  trace(outcome: string): Trace {
    if (outcome === HUNG) {
      this.violation(`the run did not settle within ${HANG_MS} ms of real time`);
    }
    return { log: this.log, outcome, violations: this.violations, now: this.clock.now() };
  }
}

/** Real time a run may take: programs take milliseconds, so one past this has hung. */
const HANG_MS = 5_000;

export type Ending<T> = { value: T } | { error: unknown } | { hung: true };

/**
 * Runs `root` under `clock`, and ends it through `controller` (which the program may abort
 * too) if it has not settled after `HANG_MS` of real time: a hang is a failure to report,
 * not a test that never ends.
 */
export async function runGuarded<T>(
  root: Coroutine<T>,
  clock: VirtualClock,
  controller: AbortController = new AbortController(),
): Promise<Ending<T>> {
  const hung = new Error("hung");
  const timer = setTimeout(() => controller.abort(hung), HANG_MS);
  try {
    return { value: await run(root, { clock, signal: controller.signal }) };
  } catch (error) {
    return error === hung ? { hung: true } : { error };
  } finally {
    clearTimeout(timer);
  }
}
