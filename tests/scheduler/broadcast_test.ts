import assert from "node:assert/strict";
import {
  Broadcast,
  ClosedError,
  type Coroutine,
  join,
  kill,
  LaggedError,
  run,
  sleep,
  spawn,
  type Task,
  until,
  VirtualClock,
  yieldNow,
} from "../../mod.ts";

/** Subscribes, then records every item it receives (pausing `ms` after each) and the end. */
function* listener(
  broadcast: Broadcast<string>,
  name: string,
  record: string[],
  ms = 0,
): Coroutine<void> {
  const subscription = yield* broadcast.subscribe();
  try {
    for (let item; !(item = yield* subscription.receive()).done;) {
      record.push(`${name} got ${item.value}`);
      if (ms > 0) yield* sleep(ms);
    }
    record.push(`${name} end`);
  } catch (error) {
    record.push(`${name} ${(error as Error).name}: ${(error as Error).message}`);
  }
}

Deno.test("Broadcast gives every subscriber every item published after it subscribed, in order", async () => {
  const record: string[] = [];
  const broadcast = new Broadcast<string>();
  await run(function* () {
    yield* spawn(listener(broadcast, "a", record));
    yield* yieldNow();
    broadcast.tryPublish("1");
    yield* spawn(listener(broadcast, "b", record));
    yield* yieldNow();
    broadcast.tryPublish("2");
    broadcast.close();
  }());
  assert.deepEqual(record, ["a got 1", "a got 2", "a end", "b got 2", "b end"]);
});

Deno.test('Broadcast "wait": the publisher waits for the slowest subscriber; nothing is lost', async () => {
  const record: string[] = [];
  const clock = new VirtualClock();
  const broadcast = new Broadcast<string>({ capacity: 1, overflow: "wait" });
  await run(
    function* () {
      yield* spawn(listener(broadcast, "fast", record));
      yield* spawn(listener(broadcast, "slow", record, 10));
      yield* yieldNow();
      for (const item of ["1", "2", "3", "4"]) {
        yield* broadcast.publish(item);
        record.push(`published ${item} at ${clock.now()}`);
      }
      broadcast.close();
    }(),
    { clock },
  );
  const slow = record.filter((line) => line.startsWith("slow"));
  const fast = record.filter((line) => line.startsWith("fast"));
  assert.deepEqual(slow, ["slow got 1", "slow got 2", "slow got 3", "slow got 4", "slow end"]);
  assert.deepEqual(fast, ["fast got 1", "fast got 2", "fast got 3", "fast got 4", "fast end"]);
  assert.deepEqual(record.filter((line) => line.startsWith("published")), [
    "published 1 at 0",
    "published 2 at 0",
    "published 3 at 10",
    "published 4 at 20",
  ]);
});

Deno.test('Broadcast "wait": a publisher killed while it waits reaches no one', async () => {
  const record: string[] = [];
  const broadcast = new Broadcast<string>({ capacity: 1 });
  await run(function* () {
    const subscription = yield* broadcast.subscribe();
    broadcast.tryPublish("1");
    const blocked = yield* spawn(broadcast.publish("never"));
    yield* spawn(broadcast.publish("3"));
    yield* yieldNow();
    assert.equal(broadcast.statistics().waitingPublishers, 2);
    yield* kill(blocked);
    for (let i = 0; i < 2; i++) record.push(`${(yield* subscription.receive()).value}`);
  }());
  assert.deepEqual(record, ["1", "3"]);
});

Deno.test('Broadcast "dropOldest": a slow subscriber keeps the newest items, the others lose nothing', async () => {
  const broadcast = new Broadcast<number>({ capacity: 2, overflow: "dropOldest" });
  const got: number[] = [];
  await run(function* () {
    const slow = yield* broadcast.subscribe();
    const fast = yield* broadcast.subscribe();
    for (let i = 1; i <= 5; i++) {
      yield* broadcast.publish(i);
      got.push(fast.tryReceive()!.value!);
    }
    // The oldest item goes before the newest comes in: the peak never passes the capacity.
    assert.deepEqual(slow.statistics(), {
      buffered: 2,
      peakBuffered: 2,
      dropped: 3,
      missed: 0,
      closed: false,
    });
    got.push(slow.tryReceive()!.value!, slow.tryReceive()!.value!);
  }());
  assert.deepEqual(got, [1, 2, 3, 4, 5, 4, 5]);
});

Deno.test("Broadcast.statistics() counts no item handed to a waiting receiver: buffered stays within subscribers * capacity", async () => {
  const record: string[] = [];
  const broadcast = new Broadcast<number>({ capacity: 1 });
  await run(function* () {
    const subscription = yield* broadcast.subscribe();
    const reader = yield* spawn(function* () {
      for (let i = 0; i < 2; i++) record.push(`got ${(yield* subscription.receive()).value}`);
    }());
    yield* yieldNow(); // the reader waits
    const published = [1, 2, 3].map((item) => broadcast.tryPublish(item));
    record.push(`published ${published.join(" ")}`);
    // 1 is the reader's already; only 2 takes room, so 3 finds the buffer full.
    const { buffered, capacity } = broadcast.statistics();
    const stats = subscription.statistics();
    record.push(`broadcast buffered ${buffered} of capacity ${capacity} each`);
    record.push(`subscription buffered ${stats.buffered}, peak ${stats.peakBuffered}`);
    yield* reader;
    record.push(`broadcast buffered ${broadcast.statistics().buffered}`);
  }());
  assert.deepEqual(record, [
    "published true true false",
    "broadcast buffered 1 of capacity 1 each",
    "subscription buffered 1, peak 1",
    "got 1",
    "got 2",
    "broadcast buffered 0",
  ]);
});

Deno.test('Broadcast "end": a subscriber that falls behind gets its buffer, then LaggedError', async () => {
  const record: string[] = [];
  const clock = new VirtualClock();
  const broadcast = new Broadcast<string>({ capacity: 2, overflow: "end" });
  await run(
    function* () {
      yield* spawn(listener(broadcast, "fast", record));
      yield* spawn(listener(broadcast, "slow", record, 100));
      yield* yieldNow();
      for (const item of ["1", "2", "3", "4", "5"]) {
        yield* broadcast.publish(item);
        yield* sleep(1);
      }
      broadcast.close();
    }(),
    { clock },
  );
  assert.deepEqual(record.filter((line) => line.startsWith("slow")), [
    "slow got 1",
    "slow got 2",
    "slow got 3",
    "slow LaggedError: Cannot receive from subscription: it fell behind and was ended, missing 2 items",
  ]);
  assert.deepEqual(record.filter((line) => line.startsWith("fast")), [
    "fast got 1",
    "fast got 2",
    "fast got 3",
    "fast got 4",
    "fast got 5",
    "fast end",
  ]);
  const error = new LaggedError(1);
  assert.equal(error.missed, 1);
});

Deno.test("Subscription: an item given back by a receiver killed before it ran waits again, past the capacity", async () => {
  const record: string[] = [];
  const broadcast = new Broadcast<number>({ capacity: 1 });
  await run(function* () {
    const subscription = yield* broadcast.subscribe();
    const reader = yield* spawn(function* () {
      yield* subscription.receive();
      record.push("reader ran");
    }());
    yield* yieldNow(); // the reader waits
    broadcast.tryPublish(1); // handed to the reader
    broadcast.tryPublish(2);
    yield* kill(reader); // 1 goes back in front of 2
    const stats = subscription.statistics();
    record.push(`buffered ${stats.buffered}, peak ${stats.peakBuffered}`);
    record.push(`broadcast buffered ${broadcast.statistics().buffered}`);
    record.push(`published 3: ${broadcast.tryPublish(3)}`);
    record.push(
      `got ${subscription.tryReceive()!.value}, buffered ${subscription.statistics().buffered}`,
    );
  }());
  assert.deepEqual(record, [
    "buffered 2, peak 2",
    "broadcast buffered 2",
    "published 3: false",
    "got 1, buffered 1",
  ]);
});

Deno.test("Subscription: closed, it drops an item a receiver killed before it ran gives back, and waiting receives get the end", async () => {
  for (const published of [1, 2]) {
    const record: string[] = [];
    const broadcast = new Broadcast<number>({ capacity: 4 });
    await run(function* () {
      const subscription = yield* broadcast.subscribe();
      const readers: Task<void>[] = [];
      for (const name of ["r1", "r2", "r3"]) {
        readers.push(
          yield* spawn(function* () {
            const item = yield* subscription.receive();
            record.push(item.done ? `${name} got the end` : `${name} got ${item.value}`);
          }()),
        );
      }
      yield* yieldNow(); // the readers wait
      for (let i = 1; i <= published; i++) broadcast.tryPublish(i); // r1 (and r2) woken
      subscription.close();
      yield* kill(readers[0]); // gives its item back to a closed subscription
      record.push(`tryReceive: ${JSON.stringify(subscription.tryReceive())}`);
    }());
    const expected = published === 1
      ? ["r2 got the end", "r3 got the end", 'tryReceive: {"done":true}']
      : ["r2 got 1", 'tryReceive: {"done":true}', "r3 got the end"];
    assert.deepEqual(record, expected, `${published} published`);
  }
});

Deno.test('Broadcast "end": a subscription ended for falling behind no longer counts as a subscriber', async () => {
  const record: string[] = [];
  const broadcast = new Broadcast<number>({ capacity: 1, overflow: "end" });
  await run(function* () {
    const subscription = yield* broadcast.subscribe();
    broadcast.tryPublish(1);
    record.push(`subscribers ${broadcast.statistics().subscribers}`);
    broadcast.tryPublish(2); // no room: ended
    broadcast.tryPublish(3);
    const { subscribers, buffered } = broadcast.statistics();
    const stats = subscription.statistics();
    record.push(`subscribers ${subscribers}, buffered ${buffered}`);
    record.push(`closed ${stats.closed}, buffered ${stats.buffered}, missed ${stats.missed}`);
    broadcast.tryPublish(4); // still counted as missed, though the broadcast let go of it
    record.push(`missed ${subscription.statistics().missed}`);
    record.push(`got ${(yield* subscription.receive()).value}`);
    try {
      yield* subscription.receive();
    } catch (error) {
      record.push(`${(error as Error).name}: ${(error as Error).message}`);
    }
  }());
  assert.deepEqual(record, [
    "subscribers 1",
    "subscribers 0, buffered 0",
    "closed true, buffered 1, missed 2",
    "missed 3",
    "got 1",
    "LaggedError: Cannot receive from subscription: it fell behind and was ended, missing 3 items",
  ]);
});

Deno.test("Broadcast: killing a subscriber's thread unsubscribes it and unblocks a waiting publisher", async () => {
  const record: string[] = [];
  const broadcast = new Broadcast<string>({ capacity: 1 });
  await run(
    function* () {
      const stuck: Task<void> = yield* spawn(function* () {
        yield* broadcast.subscribe();
        yield* sleep(1_000_000); // never reads
      }());
      yield* yieldNow();
      broadcast.tryPublish("1");
      const publisher = yield* spawn(function* () {
        yield* broadcast.publish("2");
        record.push("published 2");
      }());
      yield* yieldNow();
      record.push(`subscribers ${broadcast.statistics().subscribers}`);
      yield* kill(stuck);
      record.push(`subscribers ${broadcast.statistics().subscribers}`);
      yield* publisher;
      record.push(`buffered ${broadcast.statistics().buffered}`);
    }(),
    { clock: new VirtualClock() },
  );
  // The kill unsubscribes at once, which lets the publisher run before the kill returns.
  assert.deepEqual(record, ["subscribers 1", "published 2", "subscribers 0", "buffered 0"]);
});

Deno.test("Subscription.close() drops its buffer and ends its waiting receive", async () => {
  const record: string[] = [];
  const broadcast = new Broadcast<string>();
  await run(function* () {
    const subscription = yield* broadcast.subscribe();
    broadcast.tryPublish("dropped");
    subscription.close();
    subscription.close();
    record.push(JSON.stringify(yield* subscription.receive()));
    record.push(`subscribers ${broadcast.statistics().subscribers}`);
  }());
  assert.deepEqual(record, ['{"done":true}', "subscribers 0"]);
});

Deno.test("Broadcast.close(error) gives subscribers their buffer, then the error; publishing throws", async () => {
  const broadcast = new Broadcast<string>();
  const failure = new Error("feed broke");
  const record: string[] = [];
  await run(function* () {
    const subscription = yield* broadcast.subscribe();
    broadcast.tryPublish("last");
    broadcast.close(failure);
    record.push((yield* subscription.receive()).value!);
    try {
      yield* subscription.receive();
    } catch (error) {
      record.push(`threw ${error === failure}`);
    }
    try {
      yield* broadcast.publish("late");
    } catch (error) {
      assert.ok(error instanceof ClosedError);
      record.push(`${error.name}: ${error.message}`);
    }
    // A subscriber that comes late learns that the feed failed, as the others did.
    const late = yield* broadcast.subscribe();
    assert.equal(late.statistics().closed, true);
    try {
      yield* late.receive();
    } catch (error) {
      record.push(`late subscriber threw ${error === failure}`);
    }
  }());
  assert.deepEqual(record, [
    "last",
    "threw true",
    "ClosedError: Cannot publish on broadcast: it is closed",
    "late subscriber threw true",
  ]);
});

Deno.test("Broadcast.close(undefined) is a clean close, as close() is", async () => {
  const broadcast = new Broadcast<string>();
  const record: string[] = [];
  await run(function* () {
    const subscription = yield* broadcast.subscribe();
    broadcast.tryPublish("last");
    broadcast.close(undefined);
    record.push((yield* subscription.receive()).value!);
    record.push(JSON.stringify(yield* subscription.receive()));
  }());
  assert.deepEqual(record, ["last", '{"done":true}']);
});

Deno.test("Broadcast rejects bad options", () => {
  assert.throws(() => new Broadcast({ capacity: 0 }), RangeError);
  // @ts-expect-error: not a policy
  assert.throws(() => new Broadcast({ overflow: "drop" }), RangeError);
});

Deno.test("Broadcast.subscribe() in a finally of a killed thread gives an ended subscription", async () => {
  const broadcast = new Broadcast<string>();
  const record: string[] = [];
  await run(
    function* () {
      const task = yield* spawn(function* () {
        try {
          yield* sleep(1000);
        } finally {
          const late = yield* broadcast.subscribe();
          record.push(JSON.stringify(yield* late.receive()));
        }
      }());
      yield* yieldNow();
      yield* kill(task);
      record.push(`subscribers ${broadcast.statistics().subscribers}`);
    }(),
    { clock: new VirtualClock() },
  );
  assert.deepEqual(record, ['{"done":true}', "subscribers 0"]);
});

Deno.test("Broadcast: what a lagging subscription's signal listener publishes comes after the item it lagged on, for everyone", async () => {
  const room = new Broadcast<string>({ capacity: 2, overflow: "end" });
  const heard: Record<string, string[]> = { a: [], slow: [], c: [] };
  await run(
    function* () {
      for (const name of ["a", "slow", "c"]) {
        yield* spawn(function* () {
          const subscription = yield* room.subscribe();
          subscription.signal.addEventListener("abort", () => {
            if (!room.closed) room.tryPublish(`${name} dropped`);
          });
          if (name === "slow") return void (yield* sleep(10));
          for (let r; !(r = yield* subscription.receive()).done;) heard[name].push(r.value);
        }());
      }
      yield* yieldNow();
      room.tryPublish("m1");
      room.tryPublish("m2");
      for (let i = 0; i < 5; i++) yield* yieldNow(); // a and c take both
      room.tryPublish("m3"); // "slow" lags on it; its listener publishes meanwhile
      for (let i = 0; i < 5; i++) yield* yieldNow();
      room.close();
    }(),
    { clock: new VirtualClock() },
  );
  assert.deepEqual(heard, {
    a: ["m1", "m2", "m3", "slow dropped"],
    slow: [],
    c: ["m1", "m2", "m3", "slow dropped"],
  });
});

Deno.test("Broadcast: an item published from outside the run reaches everyone before what a subscriber answers to it", async () => {
  const room = new Broadcast<string>({ capacity: 8 });
  const heard: Record<string, string[]> = { a: [], b: [] };
  const { promise, resolve } = Promise.withResolvers<void>();
  await run(function* () {
    for (const name of ["a", "b"]) {
      yield* spawn(function* () {
        const subscription = yield* room.subscribe();
        for (let r; !(r = yield* subscription.receive()).done;) {
          heard[name].push(r.value);
          if (name === "a" && r.value === "question?") room.tryPublish(`answer to ${r.value}`);
        }
      }());
    }
    yield* yieldNow();
    queueMicrotask(() => { // outside the run, as a socket's or a timer's callback would be
      room.tryPublish("question?");
      queueMicrotask(() => {
        room.close();
        resolve();
      });
    });
    yield* until(promise);
  }());
  assert.deepEqual(heard, {
    a: ["question?", "answer to question?"],
    b: ["question?", "answer to question?"],
  });
});

Deno.test("Broadcast: closed by a listener during a delivery, what was published before the close still reaches everyone", async () => {
  const room = new Broadcast<string>({ capacity: 2, overflow: "end" });
  const record: string[] = [];
  await run(function* () {
    const slow = yield* room.subscribe();
    const reader = yield* room.subscribe();
    slow.signal.addEventListener("abort", () => {
      record.push(`the listener published X: ${room.tryPublish("X")}`);
      room.close();
    });
    room.tryPublish("1");
    room.tryPublish("1b");
    reader.tryReceive();
    reader.tryReceive(); // the reader has room; the slow one does not
    record.push(`published 2: ${room.tryPublish("2")}`); // the slow one lags on it
    for (let r; (r = reader.tryReceive()) !== undefined;) {
      record.push(r.done ? "the reader's end" : `the reader got ${r.value}`);
      if (r.done) break;
    }
  }());
  assert.deepEqual(record, [
    "the listener published X: true",
    "published 2: true",
    "the reader got 2",
    "the reader got X",
    "the reader's end",
  ]);
});

Deno.test("Broadcast: a lagged subscription's signal says the same whenever it is first asked for", async () => {
  const news = new Broadcast<number>({ capacity: 1, overflow: "end" });
  const missed: number[] = [];
  await run(function* () {
    const early = yield* news.subscribe();
    const late = yield* news.subscribe();
    const earlySignal = early.signal; // asked for before the lag
    for (let i = 0; i < 4; i++) news.tryPublish(i);
    for (const signal of [earlySignal, late.signal]) {
      missed.push((signal.reason as LaggedError).missed);
    }
    missed.push(late.statistics().missed);
  }());
  assert.deepEqual(missed, [1, 1, 3]);
});

Deno.test("a subscription hands items out in the order they came when a receive runs before the woken one", async () => {
  const record: string[] = [];
  const news = new Broadcast<number>({ capacity: 4, overflow: "dropOldest" });
  await run(function* () {
    const subscription = yield* news.subscribe();
    yield* spawn(function* () {
      record.push(`s1 got ${(yield* subscription.receive()).value}`);
    }());
    yield* yieldNow();
    news.tryPublish(1);
    news.tryPublish(2);
    record.push(`receive got ${(yield* subscription.receive()).value}`);
  }());
  assert.deepEqual(record, ["receive got 1", "s1 got 2"]);
});

Deno.test("Subscription: one that ended with items buffered still drops them when its thread ends, as a live one does", async () => {
  const record: string[] = [];
  for (const how of ["live", "closed", "lagged"]) {
    const news = new Broadcast<number>({ capacity: 2, overflow: "end" });
    await run(function* () {
      const child = yield* spawn(function* () {
        const subscription = yield* news.subscribe();
        news.tryPublish(1);
        news.tryPublish(2);
        if (how === "closed") news.close();
        if (how === "lagged") news.tryPublish(3);
        return subscription;
      }());
      const subscription = yield* join(child); // its thread has ended
      let outcome: string;
      try {
        outcome = JSON.stringify(yield* subscription.receive());
      } catch (error) {
        outcome = (error as Error).name;
      }
      record.push(`${how}: ${subscription.statistics().buffered} buffered, ${outcome}`);
    }());
  }
  assert.deepEqual(record, [
    'live: 0 buffered, {"done":true}',
    'closed: 0 buffered, {"done":true}',
    "lagged: 0 buffered, LaggedError",
  ]);
});
