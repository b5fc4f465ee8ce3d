// Run by retention_test.ts with `--v8-flags=--expose-gc`: a chain of threads in which each
// spawns the next and ends (a restart loop), its last link still waiting; each link spawns
// the next plainly, from inside a shield, or from a shield in a `finally`. Prints, for each
// way, how many of the ended links are still kept (through their generators' locals).
import { type Coroutine, run, shield, spawn, until } from "../../mod.ts";

const exposedGc = (globalThis as { gc?: () => void }).gc;
if (exposedGc === undefined) throw new Error("Run with --v8-flags=--expose-gc");
const gc: () => void = exposedGc;

const LINKS = 1000;
type Way = "plainly" | "from a shield" | "from a shield in a finally";

async function chain(way: Way): Promise<void> {
  const locals: WeakRef<object>[] = [];
  let release!: () => void;
  const released = new Promise<void>((resolve) => release = resolve);

  function* next(n: number): Coroutine<void> {
    if (way === "plainly") {
      yield* spawn(link(n + 1));
      return;
    }
    yield* shield(function* () {
      yield* spawn(link(n + 1));
    }());
  }

  function* link(n: number): Coroutine<{ n: number }> {
    const local = { n };
    locals.push(new WeakRef(local));
    if (n === LINKS) yield* until(released);
    else if (way === "from a shield in a finally") {
      try {
        // the link's work
      } finally {
        yield* next(n);
      }
    } else yield* next(n);
    return local;
  }

  const running = run(function* () {
    yield* spawn(link(1));
  }());
  // A WeakRef holds its target until the job that made it ends.
  await new Promise((resolve) => setTimeout(resolve, 0));
  gc();
  const kept = locals.slice(0, -1).filter((ref) => ref.deref() !== undefined).length;
  console.log(`${way}: ended links: ${LINKS - 1}, kept: ${kept <= 1 ? "at most one" : kept}`);
  release();
  await running;
}

await chain("plainly");
await chain("from a shield");
await chain("from a shield in a finally");
