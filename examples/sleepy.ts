// deno run examples/sleepy.ts [--scale MS]
//
// Bluelet's sleepy demo: four threads sleep for 0, 1, 3 and 5 "seconds" at once and
// report when they wake, so the wake-ups come out in time order, not spawn order.
//
// Bluelet's `sleep` took seconds; ours takes milliseconds. To keep the demo short, one
// demo second lasts `--scale` milliseconds (default 100, so the run takes half a second).
// The printed lines are Bluelet's, word for word.
//
// Outside this repository, import from "jsr:@bluelet/bluelet" instead of "../mod.ts".
import * as bluelet from "../mod.ts";
import { numberArg, runCommand, UsageError } from "./_command.ts";

/** How long one demo "second" lasts, in milliseconds, unless `--scale` says otherwise. */
export const DEFAULT_SCALE_MS = 100;

/** The durations Bluelet's demo sleeps for, in its seconds. */
export const DURATIONS: readonly number[] = [0, 1, 3, 5];

/**
 * Sleeps for `seconds` demo seconds and says so before and after.
 *
 * @param seconds The duration in demo seconds.
 * @param scaleMs How many milliseconds one demo second lasts.
 * @param print Where lines go.
 */
export function* sleeper(
  seconds: number,
  scaleMs: number,
  print: (line: string) => void = console.log,
): bluelet.Coroutine<void> {
  print(`Going to sleep for ${seconds} seconds...`);
  yield bluelet.sleep(seconds * scaleMs);
  print(`...woke up after ${seconds} seconds.`);
}

/**
 * Spawns one sleeper per duration and returns; the run waits for all of them.
 *
 * @param scaleMs How many milliseconds one demo second lasts.
 * @param print Where lines go.
 */
export function* sleepy(
  scaleMs: number = DEFAULT_SCALE_MS,
  print: (line: string) => void = console.log,
): bluelet.Coroutine<void> {
  for (const seconds of DURATIONS) {
    yield bluelet.spawn(sleeper(seconds, scaleMs, print));
  }
}

/** The longest demo second `--scale` takes, in milliseconds: a day. */
const MAX_SCALE_MS = 86_400_000;

/**
 * Runs the demo with command-line arguments.
 *
 * @param args `--scale MS` sets the length of a demo second.
 */
export async function main(args: readonly string[]): Promise<void> {
  let scaleMs = DEFAULT_SCALE_MS;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--scale") scaleMs = numberArg(args[i], args[++i]);
    else throw new UsageError(`Unknown argument: ${args[i]}`);
  }
  // A day per demo second at most: far more would overflow the sleeps to Infinity.
  if (scaleMs < 0 || scaleMs > MAX_SCALE_MS) {
    throw new UsageError(
      `Cannot run sleepy: --scale must be a number from 0 to ${MAX_SCALE_MS}, got ${scaleMs}`,
    );
  }
  await bluelet.run(sleepy(scaleMs));
}

if (import.meta.main) await runCommand(main, "deno task sleepy [--scale MS]");
