import assert from "node:assert/strict";
import * as bluelet from "../../mod.ts";
import { run, sleep, spawn, yieldNow } from "../../mod.ts";

Deno.test("null() makes two threads alternate step by step", async () => {
  const record: string[] = [];
  await run(function* () {
    yield* spawn(function* () {
      for (let i = 1; i <= 3; i++) {
        record.push(`b${i}`);
        yield bluelet.null();
      }
    }());
    for (let i = 1; i <= 3; i++) {
      record.push(`a${i}`);
      yield* yieldNow();
    }
  }());
  assert.deepEqual(record, ["a1", "b1", "a2", "b2", "a3", "b3"]);
});

Deno.test("null() and yieldNow() are the same event", () => {
  assert.equal(bluelet.null(), yieldNow());
});

Deno.test("a thread spinning on null() does not starve timers of the event loop", async () => {
  let timerFired = false;
  const timer = setTimeout(() => timerFired = true, 1);
  const spins = await run(function* () {
    let count = 0;
    // Bounded: without returning to the event loop the timer could never fire.
    while (!timerFired && count < 50_000_000) {
      count++;
      yield* yieldNow();
    }
    return count;
  }());
  clearTimeout(timer);
  assert.ok(timerFired, `timer never fired in ${spins} spins`);
});

Deno.test("a thread spinning on null() does not starve I/O", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let accepted: Deno.Conn | undefined;
  const accepting = listener.accept().then((conn) => accepted = conn);
  // Connect and accept both need event-loop turns, which only happen if the kernel yields.
  const connecting = Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  await run(function* () {
    let count = 0;
    while (accepted === undefined && count < 50_000_000) {
      count++;
      yield* yieldNow();
    }
  }());
  const wasAccepted = accepted !== undefined;
  await accepting;
  (await connecting).close();
  accepted!.close();
  assert.ok(wasAccepted, "the connection was accepted while the thread spun");
  listener.close();
});

Deno.test("threads taking turns on null() do not starve a sleeping thread", async () => {
  const record: string[] = [];
  let stop = false;
  await run(function* () {
    yield* spawn(function* () {
      yield* sleep(5); // real time: only the event loop's timers can wake it
      record.push("sleeper woke");
      stop = true;
    }());
    for (const name of ["a", "b"]) {
      yield* spawn(function* () {
        // Bounded: if the sleeper never wakes, the loop ends and the assertion fails.
        for (let i = 0; i < 20_000_000 && !stop; i++) yield* yieldNow();
        record.push(`${name} stopped`);
      }());
    }
  }());
  // Which spinner sees the flag first depends on where in their rotation the timer fired.
  assert.equal(record[0], "sleeper woke");
  assert.deepEqual(record.slice(1).sort(), ["a stopped", "b stopped"]);
});
