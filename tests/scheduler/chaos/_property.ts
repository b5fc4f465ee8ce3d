// Runs generated programs for fixed seeds, each one twice, and turns a failure into a report
// one can act on: the seed, the shrunk program as JSON, what it broke, and its log.
import fc from "fast-check";
import { HUNG, type Trace } from "./_journal.ts";

/** How many lines of a failing run's log a report shows, from its end. */
const LOG_LINES = 40;

/**
 * What is wrong with `program`: its run's violations, and any difference between two runs
 * (a virtual clock makes a run deterministic: the same program, the same log).
 */
export async function problems<P>(
  program: P,
  runOnce: (program: P) => Promise<Trace>,
): Promise<{ problems: string[]; trace: Trace }> {
  const trace = await runOnce(program);
  if (trace.outcome === HUNG) return { problems: trace.violations, trace };
  const again = await runOnce(program);
  const difference = firstDifference(trace, again);
  return {
    problems: difference === null ? trace.violations : [...trace.violations, difference],
    trace,
  };
}

function firstDifference(a: Trace, b: Trace): string | null {
  if (a.outcome !== b.outcome) return `nondeterministic: ${a.outcome}, then ${b.outcome}`;
  if (a.now !== b.now) return `nondeterministic: the clock ended at ${a.now}, then ${b.now}`;
  for (let i = 0; i < Math.max(a.log.length, b.log.length); i++) {
    if (a.log[i] !== b.log[i]) {
      return `nondeterministic: log line ${i} is "${a.log[i]}", then "${b.log[i]}"`;
    }
  }
  return null;
}

/**
 * Checks `runs` programs for each seed; throws at the first seed that finds a failing one,
 * with the program fast-check shrank it to.
 */
export async function checkPrograms<P>(
  programs: fc.Arbitrary<P>,
  runOnce: (program: P) => Promise<Trace>,
  seeds: readonly number[],
  runs: number,
): Promise<void> {
  for (const seed of seeds) {
    const details = await fc.check(
      fc.asyncProperty(programs, async (program) => {
        return (await problems(program, runOnce)).problems.length === 0;
      }),
      { seed, numRuns: runs },
    );
    if (!details.failed || details.counterexample === null) continue;
    const [program] = details.counterexample;
    const found = await problems(program, runOnce);
    throw new Error(
      [
        `A chaos program failed (seed ${seed}, ${runs} programs; replay with CHAOS_SEED=${seed} CHAOS_RUNS=${runs}).`,
        "What it broke:",
        ...found.problems.map((problem) => `  - ${problem}`),
        `The program, shrunk: ${JSON.stringify(program)}`,
        `Its run ended ${found.trace.outcome} at ${found.trace.now} ms; the last lines of its log:`,
        ...found.trace.log.slice(-LOG_LINES).map((line) => `  ${line}`),
      ].join("\n"),
    );
  }
}
