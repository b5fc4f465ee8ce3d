// Run by first_timer_test.ts with `deno test`, alone in its process: `virtual` as its
// argument runs it on a VirtualClock. Under `deno test`, the process's first `setTimeout`
// (Deno loads its timers then) runs the microtasks queued so far inside the call. The
// kernel's first timer is the one it arms once nothing is ready; a promise reaction run
// inside it wakes a thread while the kernel still runs, which must then run that thread,
// not leave it for the timer (or, on a virtual clock, jump while it is ready).
import { kill, run, sleep, spawn, VirtualClock } from "../../mod.ts";

const clock = Deno.args[0] === "virtual"
  ? new VirtualClock(0, { autojumpThreshold: 20 })
  : undefined;
const now = () => clock?.now() ?? performance.now();

Deno.test("a thread whose promise settles inside the kernel's first timer runs at once", async () => {
  const started = now();
  let waited = -1;
  await run(
    function* () {
      // A thread on a timer, so that the kernel arms one once the root waits.
      const sleeper = yield* spawn(sleep(1000));
      yield Promise.resolve("settled");
      waited = now() - started;
      yield* kill(sleeper);
    }(),
    { clock },
  );
  console.log(waited < 500 ? "resumed at once" : `resumed after ${Math.round(waited)} ms`);
});
