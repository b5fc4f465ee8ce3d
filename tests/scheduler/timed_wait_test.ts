// `withTimeout` and `moveOnAfter` over a leaf operation (a receive, an acquire): it waits in
// the caller's own thread, so a kill at any moment loses nothing, and no helper outlives it.
import assert from "node:assert/strict";
import {
  Channel,
  type Coroutine,
  kill,
  Lock,
  moveOnAfter,
  type Operation,
  run,
  sleep,
  snapshot,
  spawn,
  TimeoutError,
  until,
  VirtualClock,
  withTimeout,
  yieldNow,
} from "../../mod.ts";
import { Primitive, type Wait } from "../../scheduler/lowlevel.ts";
import { TimerHeap } from "../../scheduler/_timer_heap.ts";

const wrappers: [string, <T>(op: Operation<T>) => Operation<unknown>][] = [
  ["withTimeout", (op) => withTimeout(1000, op)],
  ["moveOnAfter", (op) => moveOnAfter(1000, op)],
];

for (const [name, wrap] of wrappers) {
  Deno.test(`${name}(receive): a receiver killed right after it was handed an item passes it on`, async () => {
    const record: string[] = [];
    await run(
      function* () {
        const channel = new Channel<string>(1);
        const waiter = yield* spawn(function* () {
          try {
            yield* wrap(channel.receive());
            record.push("the waiter ran (wrong)");
          } finally {
            record.push("waiter finally");
          }
        }());
        yield* yieldNow(); // the waiter now waits
        channel.trySend("item"); // handed to the waiter, which has not run since
        yield* kill(waiter);
        record.push(`the channel still has ${JSON.stringify(channel.tryReceive())}`);
      }(),
      { clock: new VirtualClock() },
    );
    assert.deepEqual(record, [
      "waiter finally",
      'the channel still has {"value":"item","done":false}',
    ]);
  });

  Deno.test(`${name}(acquire): a waiter killed right after it was handed the lock releases it`, async () => {
    const record: string[] = [];
    await run(
      function* () {
        const lock = new Lock();
        yield* lock.acquire();
        const waiter = yield* spawn(function* () {
          yield* wrap(lock.acquire());
          record.push("the waiter ran (wrong)");
        }());
        yield* yieldNow();
        lock.release(); // handed to the waiter
        yield* kill(waiter);
        record.push(`locked after the kill: ${lock.locked}`);
      }(),
      { clock: new VirtualClock() },
    );
    assert.deepEqual(record, ["locked after the kill: false"]);
  });
}

Deno.test("withTimeout(receive): times out taking nothing, and ends no later than its result", async () => {
  const clock = new VirtualClock();
  const record: string[] = [];
  await run(
    function* () {
      const channel = new Channel<string>(0);
      try {
        yield* withTimeout(10, channel.receive());
      } catch (error) {
        assert.ok(error instanceof TimeoutError);
        record.push(`${error.message} at ${clock.now()}`);
      }
      yield* spawn(function* () {
        yield* sleep(5);
        yield* channel.send("late");
      }());
      const item = yield* withTimeout(60_000, channel.receive());
      record.push(`got ${item.value} at ${clock.now()}`);
    }(),
    { clock },
  );
  // The timer of the second wait was killed with it: the run ended at 15, not at 60,015.
  assert.equal(clock.now(), 15);
  assert.deepEqual(record, [
    "Operation timed out after 10 ms waiting on receive(Channel) at 10",
    "got late at 15",
  ]);
});

Deno.test("moveOnAfter(acquire): moves on without the lock, which the holder keeps", async () => {
  const clock = new VirtualClock();
  const results = await run(
    function* (): Coroutine<unknown[]> {
      const lock = new Lock();
      yield* lock.acquire();
      const first = yield* moveOnAfter(10, lock.acquire());
      const locked = lock.locked;
      lock.release();
      const second = yield* moveOnAfter(10, lock.acquire());
      return [first, locked, second, clock.now()];
    }(),
    { clock },
  );
  assert.deepEqual(results, [
    { timedOut: true, value: undefined },
    true,
    { timedOut: false, value: undefined },
    10,
  ]);
});

Deno.test("a timed wait says what it waits on, as snapshots and deadlock reports show", async () => {
  const clock = new VirtualClock();
  const waits = await run(
    function* (): Coroutine<string[]> {
      const channel = new Channel<string>(0, { name: "never" });
      const waiter = yield* spawn(moveOnAfter(10, channel.receive()));
      yield* yieldNow(); // the waiter starts its wait
      const seen = (yield* snapshot()).map((thread) => `${thread.id}: ${thread.waitsOn}`);
      yield* waiter;
      return seen;
    }(),
    { clock },
  );
  assert.deepEqual(waits, [
    "0: ",
    '1: moveOnAfter(10) of receive(Channel "never")', // no helper thread: its own timer
  ]);
});

Deno.test("nested time limits on one leaf operation: the earliest deadline ends it", async () => {
  const clock = new VirtualClock();
  const outcomes = await run(
    function* (): Coroutine<string[]> {
      const channel = new Channel<string>(0);
      const out: string[] = [];
      const cases: [string, () => Operation<unknown>][] = [
        [
          "withTimeout(10, withTimeout(5, receive))",
          () => withTimeout(10, withTimeout(5, channel.receive())),
        ],
        [
          "withTimeout(5, withTimeout(10, receive))",
          () => withTimeout(5, withTimeout(10, channel.receive())),
        ],
        [
          "moveOnAfter(3, withTimeout(10, receive))",
          () => moveOnAfter(3, withTimeout(10, channel.receive())),
        ],
        [
          "withTimeout(10, moveOnAfter(4, receive))",
          () => withTimeout(10, moveOnAfter(4, channel.receive())),
        ],
        [
          "moveOnAfter(6, withTimeout(6, receive))",
          () => moveOnAfter(6, withTimeout(6, channel.receive())),
        ],
        [
          "moveOnAfter(6, a coroutine: withTimeout(6, receive))",
          () =>
            moveOnAfter(
              6,
              function* () {
                return yield* withTimeout(6, channel.receive());
              }(),
            ),
        ],
      ];
      for (const [name, attempt] of cases) {
        const start = clock.now();
        try {
          const result = yield* attempt();
          out.push(`${name}: ${JSON.stringify(result)} after ${clock.now() - start}`);
        } catch (error) {
          out.push(`${name}: ${(error as Error).message} after ${clock.now() - start}`);
        }
      }
      return out;
    }(),
    { clock },
  );
  assert.deepEqual(outcomes, [
    "withTimeout(10, withTimeout(5, receive)): Operation timed out after 5 ms waiting on receive(Channel) after 5",
    "withTimeout(5, withTimeout(10, receive)): Operation timed out after 5 ms waiting on timeout(10) of receive(Channel) after 5",
    'moveOnAfter(3, withTimeout(10, receive)): {"timedOut":true} after 3',
    'withTimeout(10, moveOnAfter(4, receive)): {"timedOut":true} after 4',
    // A tie: the inner limit ends it, whether it is on the leaf or inside a coroutine.
    "moveOnAfter(6, withTimeout(6, receive)): Operation timed out after 6 ms waiting on receive(Channel) after 6",
    "moveOnAfter(6, a coroutine: withTimeout(6, receive)): Operation timed out after 6 ms waiting on receive(Channel) after 6",
  ]);
});

Deno.test("a time limit on a primitive whose promise's then throws cancels it, as a bare wait does", async () => {
  class BrokenPromise extends Promise<unknown> {
    override then(): never {
      throw new Error("then threw");
    }
  }
  class Probe extends Primitive<number> {
    cancels = 0;
    get description(): string {
      return "probe";
    }
    start(): Wait {
      return new BrokenPromise(() => {});
    }
    override settled(): null {
      return null;
    }
    finish(): number {
      return 1;
    }
    cancel(): void {
      this.cancels++;
    }
  }
  const probe = new Probe();
  const errors = await run(function* (): Coroutine<string[]> {
    const out: string[] = [];
    for (let i = 0; i < 2; i++) {
      try {
        yield* withTimeout(100, probe);
      } catch (error) {
        out.push((error as Error).message);
      }
    }
    return out;
  }());
  assert.deepEqual(errors, ["then threw", "then threw"]);
  assert.deepEqual([probe.cancels, probe.busy], [2, false]);
});

Deno.test("a timed wait ignores a stray wake() while its primitive waits on a promise, as the kernel does", async (t) => {
  // wake() ends only a SUSPEND wait; a primitive waiting on a promise is done when it
  // settles. Under withTimeout or moveOnAfter that must hold too: a stray wake (early, or
  // from inside `start`) must not finish it before `settled` took the value in.
  class Fetch extends Primitive<string> {
    readonly description = "fetch";
    readonly record: string[] = [];
    #value = "nothing yet";
    constructor(readonly wakeInStart: boolean) {
      super();
    }
    start(): Wait {
      this.record.push("start");
      if (this.wakeInStart) this.wake();
      else queueMicrotask(() => this.wake());
      return new Promise<string>((resolve) => setTimeout(() => resolve("the value"), 5));
    }
    override settled(ok: boolean, value: unknown): null {
      this.record.push(`settled ${ok}`);
      this.#value = String(value);
      return null;
    }
    finish(): string {
      this.record.push("finish");
      return this.#value;
    }
    cancel(): void {
      this.record.push("cancel");
    }
  }
  for (const [name, wrap] of wrappers) {
    for (const wakeInStart of [false, true]) {
      await t.step(`${name}, wake ${wakeInStart ? "inside start" : "soon after"}`, async () => {
        const fetch = new Fetch(wakeInStart);
        const result = await run(wrap(fetch));
        assert.deepEqual(
          result,
          name === "moveOnAfter" ? { timedOut: false, value: "the value" } : "the value",
        );
        assert.deepEqual(fetch.record, ["start", "settled true", "finish"]);
      });
    }
  }
});

Deno.test("a deadline at the very instant the awaited thing happens: it counts as done, in every form", async () => {
  // The holder's release is due at 5, as is the waiter's deadline. What is due in an
  // instant runs before a deadline of that instant ends a wait: leaf operation or coroutine,
  // `withTimeout` or `moveOnAfter`, the waiter gets the lock.
  const forms: [string, (lock: Lock) => Operation<unknown>][] = [
    ["moveOnAfter(5, acquire)", (lock) => moveOnAfter(5, lock.acquire())],
    ["moveOnAfter(5, coroutine)", (lock) => moveOnAfter(5, acquiring(lock))],
    ["withTimeout(5, acquire)", (lock) => withTimeout(5, lock.acquire())],
    ["withTimeout(5, coroutine)", (lock) => withTimeout(5, acquiring(lock))],
  ];
  function* acquiring(lock: Lock): Coroutine<string> {
    yield* lock.acquire();
    return "acquired";
  }
  const record: string[] = [];
  for (const [name, attempt] of forms) {
    const lock = new Lock();
    const clock = new VirtualClock();
    await run(
      function* () {
        yield* lock.acquire();
        yield* spawn(function* () {
          yield* sleep(5);
          lock.release();
        }());
        yield* yieldNow(); // the holder's timer is armed first
        try {
          const result = yield* attempt(lock);
          record.push(`${name}: ${JSON.stringify(result)} at ${clock.now()}, held: ${lock.locked}`);
        } catch (error) {
          record.push(`${name}: ${(error as Error).name} at ${clock.now()}, held: ${lock.locked}`);
        }
        if (lock.locked) lock.release();
      }(),
      { clock },
    );
  }
  assert.deepEqual(record, [
    'moveOnAfter(5, acquire): {"timedOut":false} at 5, held: true',
    'moveOnAfter(5, coroutine): {"timedOut":false,"value":"acquired"} at 5, held: true',
    "withTimeout(5, acquire): undefined at 5, held: true",
    'withTimeout(5, coroutine): "acquired" at 5, held: true',
  ]);
});

Deno.test("nested time limits with equal deadlines: the inner one ends it, over a leaf or a coroutine", async () => {
  const held = new Lock();
  held.tryAcquire(); // never released: an acquire of it waits for ever
  function* sleeping(): Coroutine<void> {
    yield* sleep(100);
  }
  const cases: [string, () => Operation<unknown>][] = [
    [
      "withTimeout(10, moveOnAfter(10, acquire))",
      () => withTimeout(10, moveOnAfter(10, held.acquire())),
    ],
    ["withTimeout(10, moveOnAfter(10, sleep))", () => withTimeout(10, moveOnAfter(10, sleep(100)))],
    [
      "withTimeout(10, moveOnAfter(10, coroutine))",
      () => withTimeout(10, moveOnAfter(10, sleeping())),
    ],
    [
      "moveOnAfter(10, withTimeout(10, acquire))",
      () => moveOnAfter(10, withTimeout(10, held.acquire())),
    ],
    [
      "moveOnAfter(10, withTimeout(10, coroutine))",
      () => moveOnAfter(10, withTimeout(10, sleeping())),
    ],
  ];
  const record: string[] = [];
  for (const [name, attempt] of cases) {
    const clock = new VirtualClock();
    try {
      const result = await run(attempt() as Coroutine<unknown>, { clock });
      record.push(`${name}: ${JSON.stringify(result)} at ${clock.now()}`);
    } catch (error) {
      record.push(`${name}: ${(error as Error).name} at ${clock.now()}`);
    }
  }
  assert.deepEqual(record, [
    'withTimeout(10, moveOnAfter(10, acquire)): {"timedOut":true} at 10',
    'withTimeout(10, moveOnAfter(10, sleep)): {"timedOut":true} at 10',
    'withTimeout(10, moveOnAfter(10, coroutine)): {"timedOut":true} at 10',
    "moveOnAfter(10, withTimeout(10, acquire)): TimeoutError at 10",
    "moveOnAfter(10, withTimeout(10, coroutine)): TimeoutError at 10",
  ]);
});

Deno.test("a deadline held back holds back no ordinary timer due after it", () => {
  const timers = new TimerHeap<string>();
  timers.push(5, "deadline at 5", true, 0);
  timers.push(6, "sleep until 6");
  timers.push(5, "inner deadline at 5", true, 1);
  timers.push(7, "sleep until 7");
  const record: string[] = [];
  for (let entry; (entry = timers.popDue(6)) !== undefined;) record.push(entry.owner!);
  record.push(`held: ${timers.hasHeld}`);
  for (let entry; (entry = timers.popHeld()) !== undefined;) record.push(entry.owner!);
  record.push(`held: ${timers.hasHeld}, next: ${timers.peek()?.owner}`);
  assert.deepEqual(record, [
    "sleep until 6",
    "held: true",
    "inner deadline at 5",
    "deadline at 5",
    "held: false, next: sleep until 7",
  ]);
});

Deno.test("a deadline waits for its whole instant: thousands of threads woken then, whatever ran before", async () => {
  // 3,000 sleepers wake at 5 (each a step), then the holder releases the lock; the
  // waiter's limit of 5 still finds it released, however many steps ran before.
  const record: string[] = [];
  for (const before of [0, 700]) {
    const lock = new Lock();
    await run(
      function* () {
        for (let i = 0; i < before; i++) yield* yieldNow(); // unrelated earlier work
        yield* lock.acquire();
        for (let i = 0; i < 3000; i++) yield* spawn(sleep(5));
        yield* spawn(function* () {
          yield* sleep(5);
          lock.release();
        }());
        const outcome = yield* moveOnAfter(5, lock.acquire());
        record.push(`after ${before} steps: ${JSON.stringify(outcome)}`);
      }(),
      { clock: new VirtualClock() },
    );
  }
  assert.deepEqual(record, [
    'after 0 steps: {"timedOut":false}',
    'after 700 steps: {"timedOut":false}',
  ]);
});

Deno.test("a limit of 0 ms ends once what is ready has run, on a leaf operation or a coroutine", async () => {
  const record: string[] = [];
  const forms: [string, (channel: Channel<string>) => Operation<unknown>][] = [
    ["moveOnAfter(0, receive)", (channel) => moveOnAfter(0, channel.receive())],
    ["moveOnAfter(0, coroutine)", (channel) =>
      moveOnAfter(
        0,
        function* () {
          return yield* channel.receive();
        }(),
      )],
    ["withTimeout(0, receive)", (channel) => withTimeout(0, channel.receive())],
    ["withTimeout(0, coroutine)", (channel) =>
      withTimeout(
        0,
        function* () {
          return yield* channel.receive();
        }(),
      )],
  ];
  for (const [name, limited] of forms) {
    const channel = new Channel<string>(1);
    await run(
      function* () {
        // A sender already ready, three steps from sending.
        yield* spawn(function* () {
          for (let i = 0; i < 3; i++) yield* yieldNow();
          yield* channel.send("item");
        }());
        try {
          const result = yield* limited(channel);
          record.push(`${name}: ${JSON.stringify(result)}`);
        } catch (error) {
          record.push(`${name}: ${(error as Error).name}`);
        }
      }(),
      { clock: new VirtualClock() },
    );
  }
  assert.deepEqual(record, [
    'moveOnAfter(0, receive): {"timedOut":false,"value":{"value":"item","done":false}}',
    'moveOnAfter(0, coroutine): {"timedOut":false,"value":{"value":"item","done":false}}',
    'withTimeout(0, receive): {"value":"item","done":false}',
    'withTimeout(0, coroutine): {"value":"item","done":false}',
  ]);
});

/** Releases `lock` at 5 ms, after waiting on a promise already settled. */
function* releaseAfterSettled(lock: Lock): Coroutine<void> {
  yield* sleep(5);
  yield* until(Promise.resolve());
  lock.release();
}

Deno.test("a deadline waits for a promise already settled in its instant: the event loop has a turn first", async () => {
  const record: string[] = [];
  for (const form of ["leaf", "coroutine"]) {
    const lock = new Lock();
    await run(
      function* () {
        yield* lock.acquire();
        yield* spawn(releaseAfterSettled(lock));
        yield* yieldNow();
        const acquire = form === "leaf" ? lock.acquire() : function* () {
          yield* lock.acquire();
        }();
        record.push(`${form}: ${JSON.stringify(yield* moveOnAfter(5, acquire))}`);
      }(),
      { clock: new VirtualClock() },
    );
  }
  assert.deepEqual(record, ['leaf: {"timedOut":false}', 'coroutine: {"timedOut":false}']);
});

Deno.test("the same tie with a settled promise in it goes the same way every time, while a promise stays pending", async () => {
  // Rounds of one tie in one run: the event-loop turn a deadline waits for is its own,
  // never one left over from an earlier round (which let the next deadline skip its turn).
  for (const clock of [new VirtualClock(0, { autojumpThreshold: 2 }), undefined]) {
    const record: string[] = [];
    await run(
      function* () {
        const never = yield* spawn(until(new Promise<never>(() => {}))); // an accept, say
        for (let round = 1; round <= 4; round++) {
          const lock = new Lock();
          yield* lock.acquire();
          yield* spawn(releaseAfterSettled(lock));
          yield* yieldNow();
          const outcome = yield* moveOnAfter(5, lock.acquire());
          record.push(`round ${round}: ${outcome.timedOut ? "timed out" : "acquired"}`);
          if (!outcome.timedOut) lock.release();
        }
        yield* kill(never);
      }(),
      { clock },
    );
    assert.deepEqual(record, [
      "round 1: acquired",
      "round 2: acquired",
      "round 3: acquired",
      "round 4: acquired",
    ], clock === undefined ? "real clock" : "virtual clock");
  }
});
