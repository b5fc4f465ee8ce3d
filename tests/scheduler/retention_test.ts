import assert from "node:assert/strict";
import { runProbe } from "../_probe.ts";

/** Runs a probe of this folder with `--expose-gc`; gives the lines it printed. */
function probe(name: string): Promise<string[]> {
  return runProbe(new URL(name, import.meta.url));
}

Deno.test("a task held after its thread ended does not keep the thread's generator alive", async () => {
  // A task may be kept long after its thread ended (a list of results, a registry): it
  // should hold the result, not the generator and whatever its locals hold.
  assert.deepEqual(await probe("./_retention_probe.ts"), [
    "task: done",
    "generator: collected",
    "its locals: collected",
  ]);
});

Deno.test("what a killed thread's long finally started, and has ended, is not kept until that finally ends", async () => {
  // Such threads are kept to be killed when the thread ends (they live no longer than it);
  // those that ended on their own meanwhile are let go, with their results.
  assert.deepEqual(await probe("./_teardown_retention_probe.ts"), [
    "first helper's result: collected",
  ]);
});

Deno.test("a chain of threads that each spawn the next and end keeps the ended ones no longer", async () => {
  // A restart loop: each link spawns the next and ends. The live link keeps its spawner
  // (an error's story names it); the links before are let go, with their results. So
  // when the next is spawned from a shield: once the shield's thread has ended, what it
  // spawned there is spared for that shield no longer, and needs no link to it.
  assert.deepEqual(await probe("./_chain_retention_probe.ts"), [
    "plainly: ended links: 999, kept: at most one",
    "from a shield: ended links: 999, kept: at most one",
    "from a shield in a finally: ended links: 999, kept: at most one",
  ]);
});

Deno.test("a subscription that ended without close() is not kept by its thread", async () => {
  // Its broadcast closed, or it fell behind under "end": the thread's abort signal no
  // longer needs it, so a long-lived thread that subscribes over and over keeps none.
  assert.deepEqual(await probe("./_subscription_retention_probe.ts"), [
    "of closed broadcasts: at most the last one of 200 kept",
    "lagged: at most the last one of 200 kept",
  ]);
});

Deno.test("threads killed while they wait on a promise that never settles are not kept by it", async () => {
  // JavaScript cannot take a reaction off a promise: what stays on it must not reach the
  // thread, or the run.
  assert.deepEqual(await probe("./_abandoned_promise_retention_probe.ts"), [
    "killed waits on a promise kept: at most two",
  ]);
});
