// Run by retention_test.ts with `--v8-flags=--expose-gc`: a chain of threads in which each
// spawns the next and ends (a restart loop), its last link still waiting. Prints how many
// of the ended links' results are still kept.
import { type Coroutine, run, spawn, until } from "../../mod.ts";

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("Run with --v8-flags=--expose-gc");

const LINKS = 1000;
const results: WeakRef<object>[] = [];
let release!: () => void;
const released = new Promise<void>((resolve) => release = resolve);

function* link(n: number): Coroutine<{ n: number }> {
  if (n < LINKS) yield* spawn(link(n + 1));
  else yield* until(released);
  const result = { n };
  if (n < LINKS) results.push(new WeakRef(result));
  return result;
}

const running = run(function* () {
  yield* spawn(link(1));
}());
// A WeakRef holds its target until the job that made it ends.
await new Promise((resolve) => setTimeout(resolve, 0));
gc();
const kept = results.filter((ref) => ref.deref() !== undefined).length;
console.log(`ended links: ${results.length}, kept: ${kept <= 1 ? "at most one" : kept}`);
release();
await running;
