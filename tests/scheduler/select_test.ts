import assert from "node:assert/strict";
import {
  call,
  Channel,
  ClosedError,
  type Coroutine,
  end,
  Event,
  join,
  kill,
  Lock,
  type Operation,
  run,
  select,
  sleep,
  spawn,
  taskGroup,
  VirtualClock,
  withTimeout,
  yieldNow,
} from "../../mod.ts";

/** A case that waits a second, and takes 10 ms to clean up when killed. */
function* slowTimer(): Coroutine<void> {
  try {
    yield* sleep(1000);
  } finally {
    yield* sleep(10);
  }
}

Deno.test("select() lets exactly one ready case take effect: the first channel case in the array", async () => {
  const a = new Channel<string>(1);
  const b = new Channel<string>(1);
  a.trySend("a");
  b.trySend("b");
  const result = await run(select([a.receive(), b.receive()]));
  assert.deepEqual(result, { index: 0, value: { value: "a", done: false } });
  assert.equal(b.statistics().buffered, 1, "b's item was left alone");
});

Deno.test("select() tries channel cases first: a ready one beats an earlier ready case that needs a helper thread", async () => {
  const record: string[] = [];
  const set = new Event();
  set.set();
  // Ready at once too, but not a channel operation: it would run in a helper thread.
  // deno-lint-ignore require-yield -- a case that ends in its first step
  function* note(): Coroutine<string> {
    record.push("helper ran");
    return "note";
  }
  await run(
    function* () {
      const a = new Channel<string>(3);
      a.trySend("1");
      a.trySend("2");
      a.trySend("3");
      for (const first of [set.wait(), note(), sleep(0)]) {
        const result = yield* select([first, a.receive()]);
        record.push(`case ${result.index}: ${JSON.stringify(result.value)}`);
      }
      // With no channel case ready, the helper cases run, and the first to finish wins.
      const result = yield* select([note(), a.receive()]);
      record.push(`case ${result.index}: ${JSON.stringify(result.value)}`);
      record.push(`a waiters ${a.statistics().waitingReceivers}`);
    }(),
    { clock: new VirtualClock() },
  );
  assert.deepEqual(record, [
    'case 1: {"value":"1","done":false}',
    'case 1: {"value":"2","done":false}',
    'case 1: {"value":"3","done":false}',
    "helper ran",
    'case 0: "note"',
    "a waiters 0",
  ]);
});

Deno.test("select() waits for the first case that can take effect and withdraws the others", async () => {
  const record: string[] = [];
  const a = new Channel<string>();
  const b = new Channel<string>();
  await run(
    function* () {
      yield* spawn(function* () {
        yield* sleep(10);
        record.push(`b waiters ${b.statistics().waitingReceivers}`);
        yield* b.send("from b");
        record.push(`a waiters ${a.statistics().waitingReceivers}`);
      }());
      const result = yield* select([a.receive(), b.receive()]);
      record.push(`case ${result.index}: ${JSON.stringify(result.value)}`);
    }(),
    { clock: new VirtualClock() },
  );
  assert.deepEqual(record, [
    "b waiters 1",
    "a waiters 0",
    'case 1: {"value":"from b","done":false}',
  ]);
});

Deno.test("select() with a send case: a send that loses never happens", async () => {
  const record: string[] = [];
  const out = new Channel<string>(0);
  const control = new Channel<string>(1);
  await run(function* () {
    yield* spawn(function* () {
      yield* yieldNow();
      control.trySend("stop");
    }());
    const result = yield* select([out.send("never"), control.receive()]);
    record.push(`case ${result.index}`);
    record.push(`out has ${JSON.stringify(out.tryReceive())}`);
    // And a send case that wins: a receiver is waiting.
    yield* spawn(function* () {
      record.push(`receiver got ${(yield* out.receive()).value}`);
    }());
    yield* yieldNow();
    const second = yield* select([out.send("sent"), control.receive()]);
    record.push(`case ${second.index}`);
  }());
  assert.deepEqual(record, ["case 1", "out has undefined", "case 0", "receiver got sent"]);
});

Deno.test("select() with a sleep times out without taking anything", async () => {
  const record: string[] = [];
  const clock = new VirtualClock();
  const jobs = new Channel<string>();
  await run(
    function* () {
      yield* spawn(function* () {
        yield* sleep(50);
        yield* jobs.send("late job");
        record.push(`sent at ${clock.now()}`);
      }());
      const first = yield* select([jobs.receive(), sleep(20)]);
      record.push(`case ${first.index} at ${clock.now()}`);
      const second = yield* select([jobs.receive(), sleep(100)]);
      record.push(`case ${second.index}: ${second.value?.value} at ${clock.now()}`);
    }(),
    { clock },
  );
  // The send is taken at once; the select returns once its timer thread is gone.
  assert.deepEqual(record, ["case 1 at 20", "sent at 50", "case 0: late job at 50"]);
});

Deno.test("select() killed while it waits leaves every channel as it was", async () => {
  const a = new Channel<string>();
  const b = new Channel<string>();
  await run(
    function* () {
      const selecting = yield* spawn(select([a.receive(), b.send("x"), sleep(1000)]));
      yield* yieldNow();
      assert.equal(a.statistics().waitingReceivers, 1);
      assert.equal(b.statistics().waitingSenders, 1);
      yield* kill(selecting);
      assert.equal(a.statistics().waitingReceivers, 0);
      assert.equal(b.statistics().waitingSenders, 0);
    }(),
    { clock: new VirtualClock() },
  );
});

Deno.test("select() killed after its item arrived, before it ran, gives the item to the next receiver", async () => {
  const record: string[] = [];
  const channel = new Channel<string>();
  const other = new Channel<string>();
  await run(function* () {
    const selecting = yield* spawn(select([channel.receive(), other.receive()]));
    yield* spawn(function* () {
      record.push(`next got ${(yield* channel.receive()).value}`);
    }());
    yield* yieldNow();
    channel.trySend("item"); // the select is woken for it
    yield* kill(selecting);
    record.push("killed");
  }());
  // The kill cancels the select at once, which passes the item on; the kill returns once
  // the select's thread has unwound.
  assert.deepEqual(record, ["next got item", "killed"]);
});

Deno.test("select() killed while its timer thread is being cleaned up gives the item back", async () => {
  const record: string[] = [];
  const clock = new VirtualClock();
  const channel = new Channel<string>(1);
  await run(
    function* () {
      const selecting = yield* spawn(function* () {
        const result = yield* select([channel.receive(), slowTimer()]);
        record.push(`select returned ${result.index}`);
      }());
      yield* sleep(1);
      channel.trySend("item"); // the receive wins; the timer's cleanup takes 10 ms
      yield* sleep(5);
      yield* kill(selecting);
      record.push(`killed at ${clock.now()}`);
      record.push(`then ${JSON.stringify(channel.tryReceive())}`);
    }(),
    { clock },
  );
  assert.deepEqual(record, ["killed at 11", 'then {"value":"item","done":false}']);
});

Deno.test("select() on a closed channel gives its end; a send case on one throws ClosedError", async () => {
  const closed = new Channel<number>();
  closed.close();
  const open = new Channel<number>();
  assert.deepEqual(await run(select([open.receive(), closed.receive()])), {
    index: 1,
    value: { value: undefined, done: true },
  });
  await assert.rejects(run(select([open.receive(), closed.send(1)])), ClosedError);
  assert.equal(open.statistics().waitingReceivers, 0);
});

Deno.test("select() settling with a closed channel's item: other receivers get the end; killed, it gives the item back", async () => {
  // A's select wins "last" as the channel closes, and waits 10 ms for its timer thread's
  // cleanup. B does not wait for that (the threads the cleanup waits for might be B): it
  // gets the end. A killed meanwhile gives "last" back, to the channel's buffer: the
  // documented limit of a select with helper cases.
  const record: string[] = [];
  const clock = new VirtualClock();
  const channel = new Channel<string>();
  await run(
    function* () {
      const a = yield* spawn(function* () {
        const result = yield* select([channel.receive(), slowTimer()]);
        record.push(`A got ${JSON.stringify(result)}`);
      }());
      yield* sleep(1);
      channel.trySend("last"); // A's receive wins; its timer's cleanup takes 10 ms
      channel.close();
      yield* spawn(function* () {
        const result = yield* select([channel.receive()]);
        record.push(`B got ${JSON.stringify(result.value)} at ${clock.now()}`);
      }());
      yield* sleep(5);
      yield* kill(a);
      record.push(`A killed at ${clock.now()}; then ${JSON.stringify(channel.tryReceive())}`);
    }(),
    { clock },
  );
  assert.deepEqual(record, [
    'B got {"done":true} at 1',
    'A killed at 11; then {"value":"last","done":false}',
  ]);
});

Deno.test("select(): a helper whose cleanup receives from the closed channel the select won gets its end", async (t) => {
  // The select holds its item until its helpers are gone; a helper that waited for that
  // item to be taken before giving the end would wait on itself.
  for (const timed of [false, true]) {
    await t.step(timed ? "a receive with a time limit" : "a plain receive", async () => {
      const record: string[] = [];
      const channel = new Channel<number>(1);
      function* helperCase(): Coroutine<void> {
        try {
          yield* sleep(60_000);
        } finally {
          const item = yield* (timed ? withTimeout(100, channel.receive()) : channel.receive());
          record.push(`helper's cleanup got ${JSON.stringify(item)}`);
        }
      }
      const result = await run(
        function* () {
          yield* spawn(function* () {
            yield* sleep(5);
            channel.trySend(1);
            channel.close();
          }());
          return yield* select([channel.receive(), call(helperCase())]);
        }(),
        { clock: new VirtualClock() },
      );
      record.push(`select returned ${JSON.stringify(result)}`);
      assert.deepEqual(record, [
        'helper\'s cleanup got {"done":true}',
        'select returned {"index":0,"value":{"value":1,"done":false}}',
      ]);
    });
  }
});

Deno.test("select(): what its helpers' cleanup spawned, and its helpers queued before the close, get the end too", async (t) => {
  // The select waits for every thread its helpers' kills wait for; none of them may wait
  // for the item it holds. Another select holding an item on the same channel does not
  // change that once it has taken its item.
  function* drainer(channel: Channel<number>, record: string[], clock: VirtualClock) {
    try {
      yield* sleep(60_000);
    } finally {
      record.push(`drainer got ${JSON.stringify(yield* channel.receive())} at ${clock.now()}`);
    }
  }
  const cases: Record<
    string,
    (channel: Channel<number>, record: string[], clock: VirtualClock) => {
      helper: Operation<unknown>;
      before?: () => Coroutine<void>;
      sends: number[];
      pause?: number;
    }
  > = {
    "a task group's child": (channel, record, clock) => ({
      helper: taskGroup(function* (group) {
        yield* group.spawn(drainer(channel, record, clock));
        yield* sleep(60_000);
      }),
      sends: [1],
    }),
    "a nested select's helper": (channel, record, clock) => ({
      helper: select([channel.receive(), drainer(channel, record, clock)]),
      sends: [1],
    }),
    "beside another settling select": (channel, record, clock) => ({
      helper: drainer(channel, record, clock),
      before: function* () {
        yield* spawn(function* () {
          const result = yield* select([channel.receive(), slowTimer()]);
          record.push(`other select got ${JSON.stringify(result.value)} at ${clock.now()}`);
        }());
      },
      sends: [1, 2],
    }),
    "queued before the close": (channel, record, clock) => ({
      helper: drainer(channel, record, clock),
      sends: [1],
      pause: 5,
    }),
  };
  for (const [name, make] of Object.entries(cases)) {
    await t.step(name, async () => {
      const record: string[] = [];
      const clock = new VirtualClock();
      const channel = new Channel<number>(2);
      const { helper, before, sends, pause } = make(channel, record, clock);
      await run(
        function* () {
          if (before !== undefined) yield* before();
          const selecting = yield* spawn(select([channel.receive(), helper]));
          yield* sleep(5);
          for (const item of sends) channel.trySend(item);
          if (pause !== undefined) yield* sleep(pause);
          channel.close();
          const result = yield* join(selecting);
          record.push(`select got ${JSON.stringify(result.value)}`);
        }(),
        { clock },
      );
      assert.ok(
        record.some((line) => line.startsWith('drainer got {"done":true}')),
        String(record),
      );
      assert.ok(
        record.includes('select got {"value":1,"done":false}') ||
          record.includes('select got {"value":2,"done":false}'),
        String(record),
      );
    });
  }
});

Deno.test("select() rejects no cases, and a send and a receive on one channel", () => {
  assert.throws(() => select([]), RangeError);
  const channel = new Channel<number>();
  assert.throws(() => select([channel.receive(), channel.send(1)]), {
    name: "TypeError",
    message: "Cannot select: case sends on and receives from the same channel",
  });
});

Deno.test("select() killed again while it cleans up its timer thread still waits for that cleanup", async () => {
  const record: string[] = [];
  const clock = new VirtualClock();
  const channel = new Channel<string>();
  function* slowTimer(): Coroutine<void> {
    try {
      yield* sleep(1000);
    } finally {
      yield* sleep(10);
      record.push(`timer cleaned up at ${clock.now()}`);
    }
  }
  await run(
    function* () {
      const selecting = yield* spawn(select([channel.receive(), slowTimer()]));
      yield* sleep(1);
      yield* spawn(kill(selecting)); // the select starts killing its timer thread
      yield* sleep(4);
      yield* kill(selecting); // a second kill, in the middle of that cleanup
      record.push(`second kill returned at ${clock.now()}`);
    }(),
    { clock },
  );
  assert.deepEqual(record, ["timer cleaned up at 11", "second kill returned at 11"]);
});

Deno.test("select() reports every helper's failing cleanup, chained, none dropped", async () => {
  const channel = new Channel<string>(0);
  const first = new Error("first cleanup failed");
  const second = new Error("second cleanup failed");
  function* failingCleanup(error: Error): Coroutine<void> {
    try {
      yield* sleep(1_000_000);
    } finally {
      // deno-lint-ignore no-unsafe-finally -- the point: cleanups that fail
      throw error;
    }
  }
  const caught = await run(
    function* () {
      yield* spawn(function* () {
        yield* sleep(1);
        yield* channel.send("item");
      }());
      try {
        yield* select([channel.receive(), failingCleanup(first), failingCleanup(second)]);
      } catch (error) {
        return error;
      }
      return "no error";
    }(),
    { clock: new VirtualClock() },
  );
  assert.ok(caught instanceof SuppressedError, `got ${caught}`);
  assert.deepEqual([caught.error, caught.suppressed], [second, first]);
});

Deno.test("select(): a helper case that ends before the selection begins wins, whenever the step budget runs out", async () => {
  // The helpers are spawned first; when the kernel's step budget runs out right there, the
  // selecting thread goes to the back of the queue and a helper whose case is ready (a set
  // event, a free lock) ends before the selection has begun. Its case took effect: it wins.
  // Between selects, 0-4 yieldNow()s move the budget's end across every point.
  const channel = new Channel<number>(0, { name: "never" });
  const event = new Event();
  event.set();
  const lock = new Lock();
  const record: string[] = [];
  await run(function* () {
    for (let i = 0; i < 2000; i++) {
      for (let k = 0; k < i % 5; k++) yield* yieldNow();
      const woken = yield* select([channel.receive(), event.wait()]);
      const locked = yield* select([channel.receive(), lock.acquire()]);
      if (woken.index !== 1 || locked.index !== 1) record.push(`select ${i} took a wrong case`);
      if (!lock.locked) record.push(`select ${i} won the lock but no one holds it`);
      lock.release();
    }
    record.push("2000 rounds");
  }());
  assert.deepEqual(record, ["2000 rounds"]);
});

Deno.test("select(): end(value) as a case ends the case, not the helper that runs it", async () => {
  const result = await run(select([new Channel<number>().receive(), end(5)]));
  assert.deepEqual(result, { index: 1, value: 5 });
});

Deno.test("select() whose caller is killed after a helper case failed hands the error to the killer", async (t) => {
  // One turn after the failure the caller was woken but has not run; two turns after, it
  // is ending the helpers. Either way it can no longer throw the case's error, so its
  // killer gets it, as withTimeout's would.
  for (const turns of [1, 2]) {
    await t.step(`killed ${turns} turn(s) after the failure`, async () => {
      const record: string[] = [];
      const failure = new Error("the case's error");
      const never = new Channel<string>();
      await run(
        function* () {
          const caller = yield* spawn(select([
            never.receive(),
            function* (): Coroutine<never> {
              yield* sleep(1);
              record.push("case throws");
              throw failure;
            }(),
            sleep(5), // a second helper, still running when the first fails
          ]));
          yield* sleep(1);
          for (let i = 0; i < turns; i++) yield* yieldNow();
          try {
            yield* kill(caller);
            record.push("kill returned");
          } catch (error) {
            record.push(`killer got ${error === failure ? "the case's error" : error}`);
          }
        }(),
        { clock: new VirtualClock() },
      );
      assert.deepEqual(record, ["case throws", "killer got the case's error"]);
    });
  }
});

Deno.test("select(): a helper case that fails while another's cleanup fails loses neither error", async () => {
  const record: string[] = [];
  const error = await run(
    select([
      function* (): Coroutine<never> {
        yield* sleep(1);
        throw new Error("the case's error");
      }(),
      function* (): Coroutine<void> {
        try {
          yield* sleep(5);
        } finally {
          record.push("the other helper cleans up");
          // deno-lint-ignore no-unsafe-finally -- the point: a cleanup that fails
          throw new Error("the cleanup's error");
        }
      }(),
    ]),
    { clock: new VirtualClock() },
  ).catch((e) => e);
  assert.ok(error instanceof SuppressedError, `got ${error}`);
  assert.deepEqual(
    [error.error.message, error.suppressed.message, record],
    ["the cleanup's error", "the case's error", ["the other helper cleans up"]],
  );
});

Deno.test("select() killed while its helpers unwind hands a helper's cleanup error to its killer, and its item back", async () => {
  const record: string[] = [];
  const clock = new VirtualClock();
  const channel = new Channel<number>(1);
  function* quickFail(): Coroutine<void> {
    try {
      yield* sleep(1_000_000);
    } finally {
      record.push("quick cleanup throws");
      // deno-lint-ignore no-unsafe-finally -- the point: a cleanup that fails
      throw new Error("quick cleanup failed");
    }
  }
  function* slowCleanup(): Coroutine<void> {
    try {
      yield* sleep(1_000_000);
    } finally {
      yield* sleep(100);
      record.push("slow cleanup done");
    }
  }
  const outcome = await run(
    function* () {
      const selecting = yield* spawn(function* () {
        yield* select([channel.receive(), quickFail(), slowCleanup()]);
        record.push("select returned (wrong)");
      }());
      yield* sleep(10);
      channel.trySend(1); // the channel case wins; the helpers are killed
      yield* sleep(10); // quick has failed, slow is still saying goodbye
      try {
        yield* kill(selecting);
        record.push("kill returned (wrong)");
      } catch (error) {
        record.push(`killer caught: ${(error as Error).message}`);
      }
      record.push(`left in the channel: ${channel.tryReceive()?.value}`);
      return "run ok";
    }(),
    { clock },
  ).catch((error) => `run rejected: ${(error as Error).message}`);
  record.push(String(outcome));
  assert.deepEqual(record, [
    "quick cleanup throws",
    "slow cleanup done",
    "killer caught: quick cleanup failed",
    "left in the channel: 1",
    "run ok",
  ]);
});

Deno.test("select() takes the channel's first item when a receiver woken for it has not run yet", async () => {
  const record: string[] = [];
  const channel = new Channel<number>(4);
  await run(function* () {
    yield* spawn(function* () {
      record.push(`r1 got ${(yield* channel.receive()).value}`);
    }());
    yield* yieldNow();
    channel.trySend(1);
    channel.trySend(2);
    const won = yield* select([channel.receive()]);
    record.push(`select got ${(won.value as IteratorResult<number>).value}`);
  }());
  assert.deepEqual(record, ["select got 1", "r1 got 2"]);
});
