// deno run examples/delegation.ts
//
// Bluelet's delegation demo: a coroutine calls another as a subroutine and gets its
// result, and an exception thrown in a called coroutine reaches its caller's `try`.
//
// `yield child()` (a bare generator object) is a call, as in Bluelet; so is
// `yield bluelet.call(child())`. `bluelet.end(value)` finishes the callee with a value,
// like Bluelet's `end`. The output is Bluelet's, except that the caught exception is
// printed the JavaScript way.
//
// Outside this repository, import from "jsr:@bluelet/bluelet" instead of "../mod.ts".
import * as bluelet from "../mod.ts";
import { runCommand, UsageError } from "./_command.ts";

type Print = (line: string) => void;

/** Takes two turns, then finishes with 42 through `end`, Bluelet-style. */
export function* child(print: Print = console.log): bluelet.Coroutine<void> {
  print("Child started.");
  yield bluelet.null();
  print("Child resumed.");
  yield bluelet.null();
  print("Child ending.");
  yield bluelet.end(42);
}

/** Calls {@linkcode child} and prints what it returned. */
export function* parent(print: Print = console.log): bluelet.Coroutine<void> {
  print("Parent started.");
  yield bluelet.null();
  print("Parent resumed.");
  const result = yield child(print);
  print(`Child returned: ${Deno.inspect(result)}`);
  print("Parent ending.");
}

/** Takes a turn, then fails. */
export function* excChild(): bluelet.Coroutine<void> {
  yield bluelet.null();
  throw new Error("child failed");
}

/** Calls {@linkcode excChild} and catches its error. */
export function* excParent(
  print: Print = console.log,
): bluelet.Coroutine<void> {
  try {
    yield bluelet.call(excChild());
  } catch (error) {
    print(`Parent caught: ${String(error)}`);
  }
}

/** Runs {@linkcode excParent} in a thread of its own; the run waits for it. */
export function* excGrandparent(
  print: Print = console.log,
): bluelet.Coroutine<void> {
  yield bluelet.spawn(excParent(print));
}

/** Runs both halves of the demo, one run each, as Bluelet's does. */
export async function main(print: Print = console.log): Promise<void> {
  await bluelet.run(parent(print));
  await bluelet.run(excGrandparent(print));
}

if (import.meta.main) {
  await runCommand(async (args) => {
    if (args.length > 0) throw new UsageError(`Unknown argument: ${args[0]}`);
    await main();
  }, "deno task delegation");
}
