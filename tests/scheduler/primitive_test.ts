// The kernel's primitive protocol (scheduler/_primitive.ts), which the socket events are
// built on: start, settle in the promise's reaction, finish when the thread runs again,
// and cancel instead of finish when the thread is killed.
import assert from "node:assert/strict";
import {
  Channel,
  type Coroutine,
  DeadlockError,
  join,
  kill,
  run,
  spawn,
  yieldNow,
} from "../../mod.ts";
import { Primitive, SUSPEND } from "../../scheduler/lowlevel.ts";

interface Script {
  start?: () => PromiseLike<unknown> | null;
  settled?: (ok: boolean, value: unknown) => PromiseLike<unknown> | null;
  finish?: () => unknown;
  cancel?: () => void;
}

/** A primitive that records each call of the protocol and does what `script` says. */
class Probe extends Primitive<unknown> {
  readonly description = "probe";
  constructor(readonly record: string[], readonly script: Script) {
    super();
  }
  start(): PromiseLike<unknown> | null {
    this.record.push("start");
    return this.script.start?.() ?? null;
  }
  override settled(ok: boolean, value: unknown): PromiseLike<unknown> | null {
    this.record.push(`settled ${ok} ${value}`);
    return this.script.settled?.(ok, value) ?? null;
  }
  finish(): unknown {
    this.record.push("finish");
    return this.script.finish?.();
  }
  cancel(): void {
    this.record.push("cancel");
    this.script.cancel?.();
  }
}

Deno.test("a primitive that is done at start is finished at once", async () => {
  const record: string[] = [];
  const value = await run(function* () {
    return yield* new Probe(record, { finish: () => 42 });
  }());
  assert.equal(value, 42);
  assert.deepEqual(record, ["start", "finish"]);
});

Deno.test("a primitive waits on each promise settled gives, then finishes", async () => {
  const record: string[] = [];
  let rounds = 0;
  const value = await run(function* () {
    const got = yield new Probe(record, {
      start: () => Promise.resolve(1),
      settled: (_ok, value) => ++rounds < 3 ? Promise.resolve((value as number) + 1) : null,
      finish: () => "done",
    });
    record.push(`resumed with ${got}`);
    return got;
  }());
  assert.equal(value, "done");
  assert.deepEqual(record, [
    "start",
    "settled true 1",
    "settled true 2",
    "settled true 3",
    "finish",
    "resumed with done",
  ]);
});

Deno.test("a primitive's errors are thrown at the yield point", async (t) => {
  await t.step("from start", async () => {
    const failure = new Error("start failed");
    const record: string[] = [];
    const caught = await run(function* () {
      try {
        yield* new Probe(record, {
          start: () => {
            throw failure;
          },
        });
      } catch (error) {
        return error;
      }
      return "no error";
    }());
    assert.equal(caught, failure);
    assert.deepEqual(record, ["start"]);
  });
  await t.step("from a rejection, as finish reports it", async () => {
    const record: string[] = [];
    let reason: unknown;
    const caught = await run(function* () {
      try {
        yield* new Probe(record, {
          start: () => Promise.reject(new Error("read failed")),
          settled: (_ok, value) => {
            reason = value;
            return null;
          },
          finish: () => {
            throw reason;
          },
        });
      } catch (error) {
        return (error as Error).message;
      }
      return "no error";
    }());
    assert.equal(caught, "read failed");
    assert.deepEqual(record, ["start", "settled false Error: read failed", "finish"]);
  });
  await t.step("from a settled that breaks its contract by throwing", async () => {
    const record: string[] = [];
    const caught = await run(function* () {
      try {
        yield* new Probe(record, {
          start: () => Promise.resolve(1),
          settled: () => {
            throw new Error("broken primitive");
          },
        });
      } catch (error) {
        return (error as Error).message;
      }
      return "no error";
    }());
    assert.equal(caught, "broken primitive");
    // The thread was handed the error: finish is not called, nor cancel.
    assert.deepEqual(record, ["start", "settled true 1"]);
  });
});

Deno.test("killing a thread waiting on a primitive cancels it instead of finishing it", async () => {
  const record: string[] = [];
  const never = new Promise<never>(() => {});
  await run(function* () {
    const waiter = yield* spawn(function* () {
      try {
        yield new Probe(record, { start: () => never });
        record.push("resumed (wrong)");
      } finally {
        record.push("waiter finally");
      }
    }());
    yield* yieldNow();
    yield* kill(waiter);
    record.push("killed");
  }());
  assert.deepEqual(record, ["start", "cancel", "waiter finally", "killed"]);
});

Deno.test("a primitive settled but not yet finished is cancelled by a kill, not finished", async () => {
  // A promise that settles when the test says, synchronously: the primitive settles while
  // the kernel runs the killer, so its thread is queued, not yet resumed, when it is killed.
  // (The kernel waits on any other thenable through a promise of its own, which never
  // calls back synchronously; a `Promise` subclass it takes as it is.)
  let deliver!: (value: unknown) => void;
  class SettlesWhenTold extends Promise<unknown> {
    // deno-lint-ignore no-explicit-any
    override then(onFulfilled?: ((value: unknown) => any) | null): any {
      deliver = (value) => onFulfilled?.(value);
      return this;
    }
  }
  const thenable = new SettlesWhenTold(() => {});
  const record: string[] = [];
  await run(function* () {
    const waiter = yield* spawn(function* () {
      try {
        yield new Probe(record, { start: () => thenable });
        record.push("resumed (wrong)");
      } finally {
        record.push("waiter finally");
      }
    }());
    yield* yieldNow();
    deliver("landed");
    yield* kill(waiter);
    record.push("killed");
  }());
  assert.deepEqual(record, ["start", "settled true landed", "cancel", "waiter finally", "killed"]);
});

Deno.test("an error from cancel goes to the killer", async () => {
  const record: string[] = [];
  const caught = await run(function* (): Coroutine<unknown> {
    const waiter = yield* spawn(
      new Probe(record, {
        start: () => new Promise(() => {}),
        cancel: () => {
          throw new Error("cancel failed");
        },
      }),
    );
    yield* yieldNow();
    try {
      yield* kill(waiter);
    } catch (error) {
      return (error as Error).message;
    }
    return "no error";
  }());
  assert.equal(caught, "cancel failed");
  assert.deepEqual(record, ["start", "cancel"]);
});

Deno.test("a run that ends with an error cancels the primitives its threads wait on", async () => {
  const record: string[] = [];
  const failure = new Error("root failed");
  await assert.rejects(
    run(function* () {
      yield* spawn(new Probe(record, { start: () => new Promise(() => {}) }));
      yield* yieldNow();
      throw failure;
    }()),
    (error) => error === failure,
  );
  assert.deepEqual(record, ["start", "cancel"]);
});

Deno.test("a primitive's value reaches a joiner of a thread that runs it alone", async () => {
  const record: string[] = [];
  const value = await run(function* () {
    const task = yield* spawn(
      new Probe(record, {
        start: () => Promise.resolve("x"),
        finish: () => "joined",
      }),
    );
    return yield* join(task);
  }());
  assert.equal(value, "joined");
  assert.deepEqual(record, ["start", "settled true x", "finish"]);
});

Deno.test("a primitive in progress in one thread is refused to a second, and can be reused after", async () => {
  const record: string[] = [];
  const { promise, resolve } = Promise.withResolvers<number>();
  const probe = new Probe(record, { start: () => promise, finish: () => "first" });
  const outcomes = await run(function* () {
    const outcomes: string[] = [];
    const first = yield* spawn(function* () {
      outcomes.push(`first got ${yield probe}`);
    }());
    yield* yieldNow(); // the first thread starts the probe and waits on the promise
    try {
      yield probe;
    } catch (error) {
      outcomes.push(`second: ${(error as Error).name}: ${(error as Error).message}`);
    }
    resolve(7);
    yield join(first);
    // Done in the first thread, the same primitive may run again.
    probe.script.start = () => null;
    probe.script.finish = () => "again";
    outcomes.push(`then ${yield probe}`);
    return outcomes;
  }());
  assert.deepEqual(outcomes, [
    "second: TypeError: Cannot start probe: it is already in progress in another thread",
    "first got first",
    "then again",
  ]);
  // The refused start never reached the primitive: it ran twice, not three times.
  assert.deepEqual(record, ["start", "settled true 7", "finish", "start", "finish"]);
});

Deno.test("a loop of primitives done at once still gives other threads their turn", async () => {
  // A primitive yielded with `yield*` is started without a trip through the kernel; one
  // that is done at once still counts against the step budget.
  const record: string[] = [];
  await run(function* () {
    yield* spawn(function* () {
      record.push("other thread ran");
    }());
    for (let i = 0; i < 5000; i++) yield* new Probe([], { finish: () => i });
    record.push("loop done");
  }());
  assert.deepEqual(record, ["other thread ran", "loop done"]);
});

Deno.test("a primitive begun by an iterator driven by hand, then not waited on, is cancelled", async (t) => {
  // `yield*` begins a primitive as it asks the event's iterator for its first result. Code
  // that drives the iterator itself and then does something else leaves that wait: the
  // primitive is cancelled, as by a kill, and takes nothing.
  await t.step("the thread yields something else", async () => {
    const record: string[] = [];
    const channel = new Channel<string>(0);
    await run(function* () {
      const receiver = yield* spawn(function* () {
        const first = channel.receive()[Symbol.iterator]().next();
        record.push(`began the receive by hand: done ${first.done}`);
        yield* yieldNow();
        record.push(`waiting receivers: ${channel.statistics().waitingReceivers}`);
        record.push(`received ${(yield* channel.receive()).value}`);
      }());
      yield* yieldNow();
      yield* channel.send("item");
      yield* join(receiver);
    }());
    assert.deepEqual(record, [
      "began the receive by hand: done false",
      "waiting receivers: 0",
      "received item",
    ]);
  });

  await t.step("the thread returns", async () => {
    const record: string[] = [];
    const probe = new Probe(record, { start: () => new Promise(() => {}) });
    // Returns without suspending on what it began: that is the case under test.
    // deno-lint-ignore require-yield
    const value = await run(function* () {
      void probe[Symbol.iterator]().next();
      return "returned";
    }());
    assert.equal(value, "returned");
    assert.deepEqual(record, ["start", "cancel"]);
  });

  await t.step("the thread throws", async () => {
    const record: string[] = [];
    const probe = new Probe(record, { start: () => new Promise(() => {}) });
    await assert.rejects(
      // deno-lint-ignore require-yield
      run(function* () {
        void probe[Symbol.iterator]().next();
        throw new Error("thrown");
      }()),
      { message: "thrown" },
    );
    assert.deepEqual(record, ["start", "cancel"]);
  });

  await t.step("the primitive's cancel throws", async () => {
    const probe = new Probe([], {
      start: () => new Promise(() => {}),
      cancel: () => {
        throw new Error("cancel failed");
      },
    });
    const caught = await run(function* () {
      void probe[Symbol.iterator]().next();
      try {
        yield* yieldNow();
      } catch (error) {
        return (error as Error).message;
      }
      return "nothing thrown";
    }());
    assert.equal(caught, "cancel failed");
  });
});

Deno.test("a primitive begun by an iterator driven by hand can be waited on with yield", async () => {
  const channel = new Channel<string>(0);
  const got = await run(function* () {
    yield* spawn(channel.send("item"));
    const receive = channel.receive();
    void receive[Symbol.iterator]().next();
    return yield receive;
  }());
  assert.deepEqual(got, { value: "item", done: false });
});

Deno.test("a primitive begun by hand and woken before its thread yields loses nothing and resumes once", async (t) => {
  await t.step("the thread then yields something else", async () => {
    const record: string[] = [];
    const channel = new Channel<string>(0);
    await run(function* () {
      channel.receive()[Symbol.iterator]().next(); // begins a receive, which waits
      record.push(`sent at once: ${channel.trySend("item")}`); // wakes it
      yield* yieldNow();
      record.push("after yieldNow");
      yield* yieldNow();
      record.push(`then received ${(yield* channel.receive()).value}`);
    }());
    assert.deepEqual(record, [
      "sent at once: true",
      "after yieldNow",
      "then received item",
    ]);
  });

  await t.step("the thread then waits on that primitive", async () => {
    const channel = new Channel<string>(0);
    const got = await run(function* () {
      const receive = channel.receive();
      receive[Symbol.iterator]().next();
      channel.trySend("item");
      return yield receive;
    }());
    assert.deepEqual(got, { value: "item", done: false });
  });
});

Deno.test("a primitive whose description throws still gets a deadlock report, not a crash", async () => {
  class Nameless extends Primitive<void> {
    get description(): string {
      throw new Error("no description");
    }
    start(): typeof SUSPEND {
      return SUSPEND;
    }
    finish(): void {}
    cancel(): void {}
  }
  await assert.rejects(
    run(function* () {
      yield* new Nameless();
    }()),
    (error) => {
      assert.ok(error instanceof DeadlockError, `got ${error}`);
      assert.match(error.message, /thread 0 waits on a primitive whose description threw/);
      return true;
    },
  );
});
