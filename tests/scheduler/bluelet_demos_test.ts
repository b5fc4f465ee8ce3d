// Bluelet's own demos, as deterministic tests (times are in milliseconds here; Bluelet
// slept in seconds).
import assert from "node:assert/strict";
import { type Coroutine, end, join, run, sleep, spawn, VirtualClock } from "../../mod.ts";

Deno.test("Bluelet's sleepy demo: sleepers wake in time order while others keep going", async () => {
  const clock = new VirtualClock();
  const lines: string[] = [];
  function* sleeper(duration: number): Coroutine<void> {
    lines.push(`going to sleep for ${duration} ms at ${clock.now()}`);
    yield sleep(duration);
    lines.push(`slept for ${duration} ms, awake at ${clock.now()}`);
  }
  function* sleepy(): Coroutine<void> {
    for (const duration of [300, 100, 200]) yield spawn(sleeper(duration));
  }
  await run(sleepy(), { clock });
  assert.deepEqual(lines, [
    "going to sleep for 300 ms at 0",
    "going to sleep for 100 ms at 0",
    "going to sleep for 200 ms at 0",
    "slept for 100 ms, awake at 100",
    "slept for 200 ms, awake at 200",
    "slept for 300 ms, awake at 300",
  ]);
});

Deno.test("Bluelet's delegation demo: children return values with end() and plain return", async () => {
  const lines: string[] = [];
  function* child(): Coroutine<void> {
    lines.push("Child started.");
    yield end(42);
    lines.push("unreachable");
  }
  function* childReturning(): Coroutine<string> {
    yield sleep(1);
    return "plain return";
  }
  function* parent(): Coroutine<void> {
    lines.push("Parent started.");
    const value = yield child();
    lines.push(`Child returned: ${value}`);
    lines.push(`Other child returned: ${yield childReturning()}`);
    const task = yield spawn(childReturning());
    lines.push(`Joined child returned: ${yield join(task)}`);
    lines.push("Parent finished.");
  }
  await run(parent(), { clock: new VirtualClock() });
  assert.deepEqual(lines, [
    "Parent started.",
    "Child started.",
    "Child returned: 42",
    "Other child returned: plain return",
    "Joined child returned: plain return",
    "Parent finished.",
  ]);
});

Deno.test("Bluelet's exception demo: a child's exception reaches the parent's try/catch", async () => {
  const lines: string[] = [];
  function* exceptionChild(): Coroutine<void> {
    yield sleep(1);
    throw new Error("child exploded");
  }
  await run(
    function* (): Coroutine<void> {
      try {
        yield exceptionChild();
      } catch (error) {
        lines.push(`Parent caught: ${(error as Error).message}`);
      }
    }(),
    { clock: new VirtualClock() },
  );
  assert.deepEqual(lines, ["Parent caught: child exploded"]);
});
