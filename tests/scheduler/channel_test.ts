import assert from "node:assert/strict";
import {
  Channel,
  ClosedError,
  type Coroutine,
  DeadlockError,
  kill,
  run,
  sleep,
  spawn,
  type Task,
  VirtualClock,
  withTimeout,
  yieldNow,
} from "../../mod.ts";

/** A receiver thread that records what it gets, or how it ended. */
function* receiver<T>(channel: Channel<T>, name: string, record: string[]): Coroutine<void> {
  try {
    const item = yield* channel.receive();
    record.push(item.done ? `${name} got the end` : `${name} got ${item.value}`);
  } finally {
    record.push(`${name} finally`);
  }
}

Deno.test("Channel(0) is a rendezvous: a send waits until a receiver takes the value", async () => {
  const record: string[] = [];
  const channel = new Channel<string>(0);
  await run(
    function* () {
      yield* spawn(function* () {
        record.push("send start");
        yield* channel.send("a");
        record.push("send done");
      }());
      yield* sleep(10);
      record.push("receiving");
      const item = yield* channel.receive();
      record.push(`got ${item.value}`);
      yield* yieldNow();
    }(),
    { clock: new VirtualClock() },
  );
  assert.deepEqual(record, ["send start", "receiving", "got a", "send done"]);
});

Deno.test("Channel(n) buffers n values; the next send waits for room", async () => {
  const record: string[] = [];
  const channel = new Channel<number>(2);
  await run(
    function* () {
      yield* spawn(function* () {
        for (let i = 1; i <= 3; i++) {
          yield* channel.send(i);
          record.push(`sent ${i}`);
        }
      }());
      yield* sleep(10);
      record.push(`buffered ${channel.statistics().buffered}`);
      for (let i = 0; i < 3; i++) record.push(`got ${(yield* channel.receive()).value}`);
    }(),
    { clock: new VirtualClock() },
  );
  // Taking 1 made room: the waiting send of 3 completed then, and ran once the receiver waited.
  assert.deepEqual(record, ["sent 1", "sent 2", "buffered 2", "got 1", "got 2", "got 3", "sent 3"]);
});

Deno.test("Channel serves waiting receivers first come, first served", async () => {
  const record: string[] = [];
  const channel = new Channel<string>();
  await run(function* () {
    for (const name of ["r1", "r2", "r3"]) yield* spawn(receiver(channel, name, record));
    yield* yieldNow();
    for (const value of ["a", "b", "c"]) channel.trySend(value);
  }());
  assert.deepEqual(record, [
    "r1 got a",
    "r1 finally",
    "r2 got b",
    "r2 finally",
    "r3 got c",
    "r3 finally",
  ]);
});

Deno.test("Channel serves waiting senders first come, first served", async () => {
  const channel = new Channel<string>(1);
  const got: string[] = [];
  await run(function* () {
    for (const value of ["a", "b", "c", "d"]) yield* spawn(channel.send(value));
    yield* yieldNow();
    for (let i = 0; i < 4; i++) got.push((yield* channel.receive()).value!);
  }());
  assert.deepEqual(got, ["a", "b", "c", "d"]);
});

Deno.test("a receiver killed while it waits takes nothing: the next receiver gets the item", async () => {
  const record: string[] = [];
  const channel = new Channel<string>();
  await run(
    function* () {
      const r1 = yield* spawn(receiver(channel, "r1", record));
      yield* spawn(receiver(channel, "r2", record));
      yield* sleep(5);
      yield* kill(r1);
      yield* channel.send("a");
      record.push("sent a");
    }(),
    { clock: new VirtualClock() },
  );
  // A send to a waiting receiver does not wait for it to run.
  assert.deepEqual(record, ["r1 finally", "sent a", "r2 got a", "r2 finally"]);
});

Deno.test("a receiver killed after an item was handed to it, before it ran, gives it back in order", async () => {
  const record: string[] = [];
  const channel = new Channel<string>(4);
  await run(function* () {
    const tasks: Task<void>[] = [];
    for (const name of ["r1", "r2", "r3"]) {
      tasks.push(yield* spawn(receiver(channel, name, record)));
    }
    yield* yieldNow();
    channel.trySend("a"); // r1 is woken for it
    channel.trySend("b"); // r2 is woken for it
    yield* kill(tasks[0]); // r1 is killed before it runs: "a" goes back, to r2; "b" to r3
  }());
  assert.deepEqual(record, ["r1 finally", "r2 got a", "r2 finally", "r3 got b", "r3 finally"]);
  assert.equal(channel.statistics().buffered, 0);
});

Deno.test("a receiver killed after an item was handed to it wakes the next waiting receiver", async () => {
  const record: string[] = [];
  const channel = new Channel<string>();
  await run(function* () {
    const r1 = yield* spawn(receiver(channel, "r1", record));
    yield* spawn(receiver(channel, "r2", record));
    yield* yieldNow();
    channel.trySend("a"); // r1 is woken for it
    yield* kill(r1); // nothing else touches the channel: the cancel itself must pass "a" on
  }());
  assert.deepEqual(record, ["r1 finally", "r2 got a", "r2 finally"]);
});

Deno.test("a receive that times out takes nothing; the item waits for the next receive", async () => {
  const record: string[] = [];
  const channel = new Channel<string>(1);
  const clock = new VirtualClock();
  await run(
    function* () {
      try {
        yield* withTimeout(10, channel.receive());
      } catch (error) {
        record.push(`${(error as Error).name} at ${clock.now()}`);
      }
      yield* channel.send("late");
      record.push(`got ${(yield* channel.receive()).value}`);
    }(),
    { clock },
  );
  assert.deepEqual(record, ["TimeoutError at 10", "got late"]);
});

Deno.test("a sender killed while it waits delivers nothing", async () => {
  const channel = new Channel<string>();
  const got: string[] = [];
  await run(function* () {
    const sender = yield* spawn(channel.send("never"));
    yield* spawn(channel.send("second"));
    yield* yieldNow();
    yield* kill(sender);
    got.push((yield* channel.receive()).value!);
    assert.equal(channel.tryReceive(), undefined);
  }());
  assert.deepEqual(got, ["second"]);
});

Deno.test("a sender killed after its item was taken, before it ran, delivered it exactly once", async () => {
  const record: string[] = [];
  const channel = new Channel<string>();
  await run(function* () {
    const sender = yield* spawn(function* () {
      try {
        yield* channel.send("once");
        record.push("send returned");
      } finally {
        record.push("sender finally");
      }
    }());
    yield* yieldNow();
    record.push(`got ${channel.tryReceive()!.value}`); // the sender is woken, not yet run
    yield* kill(sender);
    record.push(`then ${JSON.stringify(channel.tryReceive())}`);
  }());
  assert.deepEqual(record, ["got once", "sender finally", "then undefined"]);
});

Deno.test("close() lets receivers drain the buffer, then gives them the end", async () => {
  const record: string[] = [];
  const channel = new Channel<number>(3);
  await run(function* () {
    channel.trySend(1);
    channel.trySend(2);
    channel.close();
    for (let item; !(item = yield* channel.receive()).done;) record.push(`got ${item.value}`);
    record.push("end");
    record.push(`again ${JSON.stringify(yield* channel.receive())}`);
  }());
  assert.deepEqual(record, ["got 1", "got 2", "end", 'again {"done":true}']);
});

Deno.test("close() wakes waiting receivers with the end and fails waiting senders", async () => {
  const record: string[] = [];
  const channel = new Channel<string>();
  const full = new Channel<string>(0);
  await run(function* () {
    yield* spawn(receiver(channel, "r1", record));
    yield* spawn(function* () {
      try {
        yield* full.send("x");
      } catch (error) {
        record.push(`sender: ${(error as Error).name}: ${(error as Error).message}`);
      }
    }());
    yield* yieldNow();
    channel.close();
    full.close();
  }());
  assert.deepEqual(record, [
    "r1 got the end",
    "r1 finally",
    "sender: ClosedError: Cannot send on channel: it is closed",
  ]);
});

Deno.test("a closed channel gives the end only once no item is held for a receiver about to run", async () => {
  // r1 is handed "last" and the channel closes while r2 waits too. Were r2 (or a
  // `tryReceive`) given the end now, killing r1 would put "last" back where nobody
  // receives any more.
  const record: string[] = [];
  const channel = new Channel<string>();
  await run(function* () {
    const r1 = yield* spawn(receiver(channel, "r1", record));
    yield* spawn(receiver(channel, "r2", record));
    yield* yieldNow();
    channel.trySend("last"); // r1 is woken for it
    channel.close(); // r2 keeps waiting: "last" may yet come back
    record.push(`tryReceive: ${JSON.stringify(channel.tryReceive())}`);
    yield* kill(r1); // it does
    yield* yieldNow();
    record.push(`tryReceive: ${JSON.stringify(channel.tryReceive())}`);
  }());
  assert.deepEqual(record, [
    "tryReceive: undefined",
    "r1 finally",
    "r2 got last",
    "r2 finally",
    'tryReceive: {"done":true}',
  ]);
  assert.equal(channel.statistics().buffered, 0);
});

Deno.test("a closed channel gives the end to waiting receivers once the held item is taken", async () => {
  const record: string[] = [];
  const channel = new Channel<string>();
  await run(function* () {
    yield* spawn(receiver(channel, "r1", record));
    yield* yieldNow();
    channel.trySend("last"); // r1 is woken for it
    channel.close(new Error("upstream gone"));
    yield* spawn(function* () {
      try {
        yield* channel.receive();
      } catch (error) {
        record.push(`r2 threw ${(error as Error).message}`);
      }
    }());
  }());
  assert.deepEqual(record, ["r1 got last", "r1 finally", "r2 threw upstream gone"]);
});

Deno.test("a receiver waiting on a closed channel gets the end once the item held for another is taken", async () => {
  // r1 and r2 wait; "last" goes to r1 and the channel closes before r1 runs. r2 waits
  // on (r1 might yet be killed and give "last" back), and must be told the end once r1
  // has taken it.
  const record: string[] = [];
  const channel = new Channel<string>();
  await run(function* () {
    yield* spawn(receiver(channel, "r1", record));
    yield* spawn(receiver(channel, "r2", record));
    yield* yieldNow();
    channel.trySend("last");
    channel.close();
    record.push(`waiting receivers: ${channel.statistics().waitingReceivers}`);
  }());
  assert.deepEqual(record, [
    "waiting receivers: 1",
    "r1 got last",
    "r1 finally",
    "r2 got the end",
    "r2 finally",
  ]);
});

Deno.test("statistics() counts an item handed to a receiver that has not run yet as buffered", async () => {
  const channel = new Channel<string>();
  const seen: string[] = [];
  await run(function* () {
    yield* spawn(function* () {
      seen.push(`got ${(yield* channel.receive()).value}`);
    }());
    yield* yieldNow();
    channel.trySend("a");
    const stats = channel.statistics();
    seen.push(
      `buffered ${stats.buffered}, peak ${stats.peakBuffered}, waiting ${stats.waitingReceivers}`,
    );
  }());
  assert.deepEqual(seen, ["buffered 1, peak 1, waiting 0", "got a"]);
  assert.equal(channel.statistics().buffered, 0);
});

Deno.test("items leave in the order they came when another taker runs before the receiver handed the first", async () => {
  // r1 waits first and is handed 1; 2 is buffered; r2, already ready, takes before r1 runs.
  for (const capacity of [1, 2, Infinity]) {
    const record: string[] = [];
    const channel = new Channel<number>(capacity);
    await run(function* () {
      yield* spawn(function* () {
        record.push(`r1 got ${(yield* channel.receive()).value}`);
      }());
      yield* yieldNow();
      yield* spawn(function* () {
        record.push(`r2 got ${(yield* channel.receive()).value}`);
      }());
      channel.trySend(1);
      channel.trySend(2);
    }());
    assert.deepEqual(record, ["r2 got 1", "r1 got 2"], `capacity ${capacity}`);
  }
});

Deno.test("items leave in the order they came when tryReceive and a kill come before the woken receiver runs", async () => {
  const record: string[] = [];
  const channel = new Channel<number>(1);
  await run(function* () {
    const r1 = yield* spawn(function* () {
      try {
        record.push(`r1 got ${(yield* channel.receive()).value}`);
      } finally {
        record.push("r1 finally");
      }
    }());
    yield* yieldNow();
    channel.trySend(1);
    channel.trySend(2);
    record.push(`tryReceive got ${channel.tryReceive()?.value}`);
    yield* kill(r1);
    record.push(`tryReceive got ${channel.tryReceive()?.value}`);
  }());
  assert.deepEqual(record, ["tryReceive got 1", "r1 finally", "tryReceive got 2"]);
});

Deno.test("a rendezvous hands items out in the order they came when a waiting sender's item is taken first", async () => {
  const record: string[] = [];
  const channel = new Channel<number>(0);
  await run(function* () {
    yield* spawn(function* () {
      record.push(`r1 got ${(yield* channel.receive()).value}`);
    }());
    yield* yieldNow();
    yield* spawn(function* () {
      yield* channel.send(2);
      record.push("S sent 2");
    }());
    yield* spawn(function* () {
      record.push(`r2 got ${(yield* channel.receive()).value}`);
    }());
    record.push(`trySend(1) = ${channel.trySend(1)}`);
  }());
  assert.deepEqual(record, ["trySend(1) = true", "r2 got 1", "r1 got 2", "S sent 2"]);
});

Deno.test("peakBuffered counts an item handed to a receiver that has not run yet", async () => {
  const channel = new Channel<number>(2);
  let seen = "";
  await run(function* () {
    yield* spawn(function* () {
      yield* channel.receive();
    }());
    yield* yieldNow();
    channel.trySend(1);
    channel.trySend(2);
    channel.trySend(3);
    const stats = channel.statistics();
    seen = `buffered ${stats.buffered}, peak ${stats.peakBuffered}`;
  }());
  assert.equal(seen, "buffered 3, peak 3");
  assert.equal(channel.statistics().peakBuffered, 3);
});

Deno.test("close(error) makes receivers throw the error once the buffer is drained", async () => {
  const channel = new Channel<number>(2);
  const failure = new Error("producer failed");
  const record: string[] = [];
  await run(function* () {
    channel.trySend(1);
    channel.close(failure);
    record.push(`got ${(yield* channel.receive()).value}`);
    try {
      yield* channel.receive();
    } catch (error) {
      record.push(`threw ${error === failure}`);
    }
  }());
  assert.deepEqual(record, ["got 1", "threw true"]);
  assert.throws(() => channel.tryReceive(), failure);
});

Deno.test("close(undefined) is a clean close, so a wrapper that passes on an optional error works", async () => {
  const channel = new Channel<number>(2);
  const close = (error?: Error) => channel.close(error);
  const record: string[] = [];
  await run(function* () {
    channel.trySend(1);
    close();
    record.push(`got ${(yield* channel.receive()).value}`);
    record.push(`then ${JSON.stringify(yield* channel.receive())}`);
  }());
  record.push(`tryReceive ${JSON.stringify(channel.tryReceive())}`);
  assert.deepEqual(record, ["got 1", 'then {"done":true}', 'tryReceive {"done":true}']);
});

Deno.test("send() and trySend() on a closed channel throw ClosedError naming the channel", async () => {
  const channel = new Channel<number>(1, { name: "jobs" });
  channel.close();
  assert.throws(() => channel.trySend(1), {
    name: "ClosedError",
    message: 'Cannot send on channel "jobs": it is closed',
  });
  await assert.rejects(run(channel.send(1)), ClosedError);
});

Deno.test("Channel rejects a bad capacity", () => {
  assert.throws(() => new Channel(-1), RangeError);
  assert.throws(() => new Channel(1.5), RangeError);
  assert.equal(new Channel(Infinity).statistics().capacity, Infinity);
});

Deno.test("statistics() counts waiters and the peak buffered", async () => {
  const channel = new Channel<number>(2);
  await run(function* () {
    yield* spawn(channel.send(1));
    yield* spawn(channel.send(2));
    yield* spawn(channel.send(3));
    yield* yieldNow();
    assert.deepEqual(channel.statistics(), {
      buffered: 2,
      capacity: 2,
      waitingSenders: 1,
      waitingReceivers: 0,
      peakBuffered: 2,
      closed: false,
    });
    for (let i = 0; i < 3; i++) yield* channel.receive();
    yield* spawn(channel.receive());
    yield* yieldNow();
    assert.equal(channel.statistics().waitingReceivers, 1);
    channel.trySend(4);
  }());
});

Deno.test("a run whose threads all wait on channels ends with a DeadlockError", async () => {
  const a = new Channel<number>();
  const b = new Channel<number>();
  await assert.rejects(
    run(function* () {
      yield* spawn(function* () {
        yield* a.receive();
        yield* b.send(1);
      }());
      yield* b.receive();
      yield* a.send(1);
    }()),
    DeadlockError,
  );
});

Deno.test("a DeadlockError names the channel a thread waits on", async () => {
  const jobs = new Channel<number>(0, { name: "jobs" });
  await assert.rejects(run(jobs.receive()), {
    name: "DeadlockError",
    message: /thread 0 waits on receive\(Channel "jobs"\)/,
  });
});

Deno.test("the virtual clock jumps while threads wait on a channel", async () => {
  const clock = new VirtualClock();
  const channel = new Channel<number>();
  const got = await run(
    function* () {
      yield* spawn(function* () {
        yield* sleep(60_000);
        yield* channel.send(clock.now());
      }());
      return (yield* channel.receive()).value;
    }(),
    { clock },
  );
  assert.equal(got, 60_000);
});

Deno.test("a thread sending without ever waiting still gives way to the others now and then", async () => {
  const channel = new Channel<number>(Infinity);
  let sent = 0;
  let sentWhenOtherRan = -1;
  await run(function* () {
    yield* spawn(function* () {
      for (let i = 0; i < 100_000; i++) {
        yield* channel.send(i); // never waits: the buffer has no limit
        sent++;
      }
    }());
    yield* spawn(function* () {
      yield* yieldNow();
      sentWhenOtherRan = sent;
    }());
  }());
  assert.ok(sentWhenOtherRan > 0 && sentWhenOtherRan < 100_000, `${sentWhenOtherRan}`);
  assert.equal(channel.statistics().buffered, 100_000);
});

Deno.test("a run's order of events does not depend on the runs before it", async () => {
  // Operations that need no wait take effect inside `yield*`, and one in so many goes
  // through the kernel instead, so that the thread gives way now and then: that count
  // belongs to the run, or a test's order of events would depend on the tests before it.
  // On a virtual clock: on the real one, a budget of steps that lasts a slice ends early,
  // and the first run, before the code is compiled, is slower.
  async function sendsBeforeTheOtherThreadRan(sends: number): Promise<number> {
    const channel = new Channel<number>(Infinity);
    let sent = 0;
    let seen = -1;
    await run(
      function* () {
        yield* spawn(function* () {
          seen = sent;
        }());
        for (let i = 0; i < sends; i++) {
          yield* channel.send(i);
          sent++;
        }
      }(),
      { clock: new VirtualClock() },
    );
    return seen;
  }
  const first = await sendsBeforeTheOtherThreadRan(20_003);
  assert.ok(first > 0 && first < 20_003, `${first}`);
  const again: number[] = [];
  for (let i = 0; i < 5; i++) again.push(await sendsBeforeTheOtherThreadRan(20_003));
  assert.deepEqual(again, [first, first, first, first, first]);
});

Deno.test("yield* on a receive or send that needs no wait takes effect at once, in order", async () => {
  const channel = new Channel<number>(2);
  const record: string[] = [];
  await run(function* () {
    yield* channel.send(1);
    const send = channel.send(2);
    yield* send;
    record.push(`buffered ${channel.statistics().buffered}`);
    record.push(`got ${(yield* channel.receive()).value}`);
    yield send; // the same event again, Bluelet-style: a second send of 2
    for (let i = 0; i < 2; i++) record.push(`got ${(yield* channel.receive()).value}`);
  }());
  assert.deepEqual(record, ["buffered 2", "got 1", "got 2", "got 2"]);
});
