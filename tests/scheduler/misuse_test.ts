// Misuse gets a clear error at the yield point; it never corrupts a thread or escapes the
// scheduler.
import assert from "node:assert/strict";
import {
  all,
  type AllOptions,
  Broadcast,
  type BroadcastOptions,
  call,
  Channel,
  type ChannelOptions,
  type Coroutine,
  DeadlockError,
  Event,
  type EventOptions,
  join,
  kill,
  Lock,
  type LockOptions,
  moveOnAfter,
  race,
  run,
  type RunOptions,
  select,
  Semaphore,
  type SemaphoreOptions,
  shield,
  sleep,
  spawn,
  type Task,
  taskGroup,
  until,
  VirtualClock,
  withTimeout,
  yieldNow,
} from "../../mod.ts";

Deno.test("a thenable whose then() throws is an error at the yield point", async (t) => {
  const failure = new Error("then exploded");
  const thenable = {
    then(): never {
      throw failure;
    },
  };
  await t.step("yielded Bluelet-style", async () => {
    const caught = await run(function* () {
      try {
        yield thenable;
      } catch (error) {
        return error;
      }
      return "no error";
    }());
    assert.equal(caught, failure);
  });
  await t.step("through until()", async () => {
    const caught = await run(function* () {
      try {
        yield* until(thenable as unknown as PromiseLike<void>);
      } catch (error) {
        return error;
      }
      return "no error";
    }());
    assert.equal(caught, failure);
  });
});

Deno.test("a generator already running as a thread cannot be driven again", async () => {
  const messages = await run(
    function* (): Coroutine<string[]> {
      const out: string[] = [];
      const child = function* () {
        yield* yieldNow();
      }();
      yield* spawn(child);
      for (const attempt of [() => child, () => call(child)]) {
        try {
          yield attempt();
        } catch (error) {
          assert.ok(error instanceof TypeError);
          out.push(error.message);
        }
      }
      const error = await_(run(child));
      out.push(yield* until(error));
      return out;
    }(),
    { clock: new VirtualClock() },
  );
  assert.deepEqual(messages, [
    "Cannot call coroutine: it is already running as thread 1",
    "Cannot call coroutine: it is already running as thread 1",
    "Cannot run coroutine: it is already running as thread 1",
  ]);
});

function await_(promise: Promise<unknown>): Promise<string> {
  return promise.then(() => "no error", (error) => (error as Error).message);
}

Deno.test("a thenable that calls back at once, or twice, resumes its thread once, with its first value", async () => {
  const atOnce = {
    then(resolve: (value: string) => void): void {
      resolve("called back inside then()");
    },
  };
  let callAgain: ((value: string) => void) | undefined;
  const twice = {
    then(resolve: (value: string) => void): void {
      callAgain = resolve;
      queueMicrotask(() => resolve("first call"));
    },
  };
  const values = await run(function* (): Coroutine<string[]> {
    const first = (yield atOnce) as string;
    const second = (yield twice) as string;
    // The second call lands while the thread waits on something else: ignored.
    const later = new Promise<string>((resolve) => setTimeout(() => resolve("the promise's"), 20));
    setTimeout(() => callAgain!("second call (stale)"), 5);
    const third = (yield later) as string;
    return [first, second, third];
  }());
  assert.deepEqual(values, ["called back inside then()", "first call", "the promise's"]);
});

Deno.test("a yielded object whose then getter throws is an error at the yield point", async () => {
  const failure = new Error("then getter failed");
  const weird = {
    get then(): never {
      throw failure;
    },
  };
  const caught = await run(function* () {
    yield* yieldNow();
    try {
      yield weird;
    } catch (error) {
      return error;
    }
    return "no error";
  }());
  assert.equal(caught, failure);
  assert.equal(
    await await_(run(until(() => weird as unknown as PromiseLike<void>))),
    "then getter failed",
  );
});

Deno.test("an async generator is refused with a TypeError that says what to do", async () => {
  let steps = 0;
  async function* fetchAll(): AsyncGenerator<number, number> {
    steps++;
    yield 1;
    return 2;
  }
  const expected =
    "an async generator: bluelet runs function* generators; consume it in an async function and wait with until()";
  const messages = await run(function* (): Coroutine<string[]> {
    const out: string[] = [];
    for (const attempt of [() => fetchAll(), () => spawn(fetchAll() as never)]) {
      try {
        yield attempt();
      } catch (error) {
        assert.ok(error instanceof TypeError);
        out.push(error.message);
      }
    }
    return out;
  }());
  assert.deepEqual(messages, [
    `Cannot handle yielded value: ${expected}`,
    `Cannot spawn coroutine: ${expected}`,
  ]);
  assert.equal(
    await await_(run(fetchAll() as never)),
    `Cannot run coroutine: ${expected}`,
  );
  assert.equal(steps, 0);
});

/** A Proxy that throws on every read, as a revoked one does. */
function revokedProxy(): object {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  return proxy;
}

/** A Proxy whose every read throws `thrown`. */
function throwingOnRead(thrown: unknown): object {
  return new Proxy({}, {
    get() {
      throw thrown;
    },
  });
}

/** An object whose `constructor` getter throws. */
function throwingConstructor(): object {
  const odd = {};
  Object.defineProperty(odd, "constructor", {
    get() {
      throw new Error("constructor getter");
    },
  });
  return odd;
}

Deno.test("a value the kernel cannot even look at is an error at the yield point, and every finally runs", async () => {
  const cases: [string, () => unknown][] = [
    ["an object whose constructor getter throws", throwingConstructor],
    ["a revoked proxy", revokedProxy],
    ["spawn() of a revoked proxy", () => spawn(revokedProxy() as Coroutine<void>)],
    ["call() of a revoked proxy", () => call(revokedProxy() as Coroutine<void>)],
    ["join() of a revoked proxy", () => join(revokedProxy() as Task<void>)],
    ["shield() of a revoked proxy", () => shield(revokedProxy() as Coroutine<void>)],
  ];
  for (const [what, make] of cases) {
    const record: string[] = [];
    // After a sleep too: the kernel then runs from a timer callback, where an error that
    // escaped it would end the process.
    for (const delay of [0, 1]) {
      await run(
        function* () {
          yield* spawn(function* () {
            try {
              yield* sleep(5);
            } finally {
              record.push("other thread's finally");
            }
          }());
          try {
            if (delay > 0) yield* sleep(delay);
            yield make();
            record.push("no error");
          } catch (error) {
            record.push(`caught ${(error as Error).name}`);
          } finally {
            record.push("finally");
          }
        }(),
        { clock: new VirtualClock() },
      );
    }
    assert.deepEqual(record, [
      `caught TypeError`,
      "finally",
      "other thread's finally",
      `caught TypeError`,
      "finally",
      "other thread's finally",
    ], what);
  }
});

Deno.test("an object whose constructor getter throws is named in the error as well as can be", async () => {
  const error = await run(function* () {
    try {
      yield throwingConstructor();
    } catch (error) {
      return error as Error;
    }
    return null;
  }());
  assert.equal(
    error?.message,
    "Cannot handle yielded value: an object (whose constructor could not be read) is not an " +
      "event, a generator or a promise",
  );
});

Deno.test("run's options, a task group's body and a virtual clock's numbers of the wrong type are TypeErrors that say so", async () => {
  const finallies: string[] = [];
  function* root() {
    try {
      yield* sleep(1);
    } finally {
      finallies.push("ran"); // never: the root does not start
    }
  }
  const runs: [RunOptions, string][] = [
    [{ clock: 5 as unknown as VirtualClock }, "clock must be a VirtualClock, got number 5"],
    [
      { signal: "stop" as unknown as AbortSignal },
      'signal must be an AbortSignal, got the string "stop"',
    ],
    [{ name: 7 as unknown as string }, "name must be a string, got number 7"],
    [{ trace: "yes" as unknown as boolean }, 'trace must be a boolean, got the string "yes"'],
  ];
  for (const [options, message] of runs) {
    await assert.rejects(run(root(), options), {
      name: "TypeError",
      message: `Cannot run coroutine: ${message}`,
    });
  }
  await assert.rejects(run(root(), 5 as unknown as RunOptions), {
    name: "TypeError",
    message: "Cannot run coroutine: options must be an object, got number 5",
  });
  assert.deepEqual(finallies, []);
  assert.throws(() => taskGroup(42 as unknown as () => Coroutine<void>), {
    name: "TypeError",
    message: "Cannot start task group: body must be a function, got number 42",
  });
  assert.throws(() => new VirtualClock("5" as unknown as number), {
    name: "TypeError",
    message: 'Cannot create virtual clock: start must be a number, got the string "5"',
  });
  for (const threshold of ["5", null]) {
    assert.throws(
      () => new VirtualClock(0, { autojumpThreshold: threshold as unknown as number }),
      {
        name: "TypeError",
        message: `Cannot create virtual clock: autojumpThreshold must be a number, got ${
          threshold === null ? "null" : 'the string "5"'
        }`,
      },
    );
  }
});

Deno.test("what a yielded value's read throws, however odd, goes to the thread at its yield point", async () => {
  const rangeError = new RangeError();
  Object.defineProperty(rangeError, "message", {
    get() {
      throw new Error("message getter");
    },
  });
  // Values the kernel cannot look at either: it must not try to, and so end the process.
  for (const thrown of [revokedProxy(), rangeError]) {
    for (const delay of [0, 1]) {
      const record: string[] = [];
      const clock = new VirtualClock();
      await run(
        function* () {
          try {
            if (delay > 0) yield* sleep(delay);
            yield throwingOnRead(thrown);
            record.push("no error");
          } catch (error) {
            record.push(error === thrown ? "caught what the read threw" : "caught another");
          } finally {
            record.push("finally");
          }
        }(),
        { clock },
      );
      assert.deepEqual(record, ["caught what the read threw", "finally"]);
      // The run ended, so the clock is free again.
      await run(sleep(10), { clock });
    }
  }
});

Deno.test("all, race and select refuse a value that is no operation when called, naming its place", () => {
  const cases: [() => unknown, string][] = [
    [
      () => all([sleep(1), 1 as never]),
      "Cannot run all: operation 1 is number 1, not an event or a coroutine",
    ],
    [
      () => all([undefined as never], { concurrency: 1 }),
      "Cannot run all: operation 0 is undefined, not an event or a coroutine",
    ],
    [
      () => race(["go" as never]),
      'Cannot race: operation 0 is the string "go", not an event or a coroutine',
    ],
    [() => select([null as never]), "Cannot select: case 0 is null, not an event or a coroutine"],
    [
      () => race([sleep(1), greet as never]),
      "Cannot race: operation 1 is generator function greet, not an event or a coroutine; call it to make one, as in greet()",
    ],
    [
      () => withTimeout(10, 42 as never),
      "Cannot limit an operation's time: the operation is number 42, not an event or a coroutine",
    ],
    [
      () => withTimeout(10, greet as never),
      "Cannot limit an operation's time: the operation is generator function greet, not an event or a coroutine; call it to make one, as in greet()",
    ],
    [
      () => withTimeout(10, (() => greet()) as never),
      "Cannot limit an operation's time: the operation is function (anonymous), not an event or a coroutine",
    ],
    [
      () => select([greet.bind(null) as never]),
      "Cannot select: case 0 is generator function bound greet, not an event or a coroutine; call it to make one",
    ],
    [
      () => moveOnAfter(10, undefined as never),
      "Cannot move on after a deadline: the operation is undefined, not an event or a coroutine",
    ],
  ];
  for (const [make, message] of cases) {
    assert.throws(make, { name: "TypeError", message });
  }
});

/** A coroutine function, for the misuses above: passed where its coroutine belongs. */
function* greet(): Coroutine<void> {
  yield* sleep(1);
}

Deno.test("a run that fails with a revoked proxy while its teardown is stuck in a shield keeps that proxy under the deadlock", async () => {
  const revoked = revokedProxy();
  const never = new Event();
  const outcome = await run(
    function* () {
      yield* spawn(shield(never.wait()));
      yield* spawn(function* () {
        yield* sleep(1);
        throw revoked;
      }());
      yield* sleep(100);
    }(),
    { clock: new VirtualClock() },
  ).then(() => "resolved", (error) => error);
  // As for any error: the stuck teardown's deadlock, with the run's own error under it.
  assert.ok(outcome instanceof SuppressedError);
  assert.ok(outcome.error instanceof DeadlockError);
  assert.equal(outcome.suppressed, revoked);
});

Deno.test("a revoked proxy yielded just as a thread's step budget runs out is still an error at the yield point", async () => {
  // The budget runs out after about a thousand steps; one of these lands on it.
  for (let steps = 1000; steps < 1040; steps++) {
    const record: string[] = [];
    await run(function* () {
      try {
        for (let i = 0; i < steps; i++) yield* yieldNow();
        yield revokedProxy();
      } catch (error) {
        record.push(`caught ${(error as Error).name}`);
      } finally {
        record.push("finally");
      }
    }());
    assert.deepEqual(record, ["caught TypeError", "finally"], `after ${steps} steps`);
  }
});

Deno.test("run takes null for no signal and no name, as fetch-style options do", async () => {
  assert.equal(
    await run(
      function* () {
        yield* yieldNow();
        return 42;
      }(),
      { signal: null as unknown as undefined, name: null as unknown as undefined },
    ),
    42,
  );
});

Deno.test("options that are not an object are refused with the library's error; null is no options", async () => {
  const makers: [string, (options: unknown) => unknown][] = [
    ["Cannot create channel", (options) => new Channel(0, options as ChannelOptions)],
    ["Cannot create broadcast", (options) => new Broadcast(options as BroadcastOptions)],
    ["Cannot create lock", (options) => new Lock(options as LockOptions)],
    ["Cannot create semaphore", (options) => new Semaphore(2, options as SemaphoreOptions)],
    ["Cannot create event", (options) => new Event(options as EventOptions)],
    ["Cannot run all", (options) => all([], options as AllOptions)],
    ["Cannot create virtual clock", (options) => new VirtualClock(0, options as never)],
  ];
  for (const [action, make] of makers) {
    make(null);
    make(undefined);
    assert.throws(() => make("wait"), {
      name: "TypeError",
      message: `${action}: options must be an object, got the string "wait"`,
    }, action);
    if (action !== "Cannot run all" && action !== "Cannot create virtual clock") {
      assert.throws(() => make({ name: 5n }), {
        name: "TypeError",
        message: `${action}: name must be a string, got bigint 5`,
      }, action);
    }
  }
  assert.throws(() => new Broadcast({ overflow: 1n as unknown as "end" }), {
    name: "RangeError",
    message:
      'Cannot create broadcast: overflow must be "wait", "dropOldest" or "end", got bigint 1',
  });
  assert.equal(
    await run(
      function* () {
        yield* yieldNow();
        return 7;
      }(),
      null as unknown as RunOptions,
    ),
    7,
  );
});

Deno.test("a revoked Proxy or a function whose name throws, given where a coroutine, task or event belongs, gets the library's TypeError", async () => {
  const proxy = revokedProxy() as never;
  const unread = "an object (whose constructor could not be read)";
  const misuses: [string, () => Coroutine<unknown>, string][] = [
    ["spawn", function* () {
      yield* spawn(proxy);
    }, `Cannot spawn coroutine: ${unread} is not a generator`],
    ["call", function* () {
      yield* call(proxy);
    }, `Cannot call coroutine: ${unread} is not a generator`],
    ["join", function* () {
      yield* join(proxy);
    }, `Cannot join thread: ${unread} is not a task or a spawned generator`],
    ["kill", function* () {
      yield* kill(proxy);
    }, `Cannot kill thread: ${unread} is not a task or a spawned generator`],
    ["yield", function* () {
      yield proxy;
    }, `Cannot handle yielded value: ${unread} is not an event, a generator or a promise`],
  ];
  for (const [what, body, message] of misuses) {
    await assert.rejects(run(body()), { name: "TypeError", message }, what);
  }
  await assert.rejects(run(proxy), {
    name: "TypeError",
    message: `Cannot run coroutine: ${unread} is not a generator`,
  });
  await assert.rejects(run(function* () {}(), { clock: proxy }), {
    name: "TypeError",
    message: `Cannot run coroutine: clock must be a VirtualClock, got ${unread}`,
  });
  await assert.rejects(run(function* () {}(), proxy), {
    name: "TypeError",
    message: `Cannot run coroutine: options must be readable, got ${unread}`,
  });
  const named = function* () {};
  Object.defineProperty(named, "name", {
    get() {
      throw new Error("name getter threw");
    },
  });
  await assert.rejects(
    run(function* () {
      yield* spawn(named as never);
    }()),
    {
      name: "TypeError",
      message:
        "Cannot spawn coroutine: generator function (anonymous) is not a generator; call it to make one",
    },
  );
});

Deno.test("a revoked Proxy given as options is refused with the library's TypeError", () => {
  const options = revokedProxy() as never;
  assert.throws(() => new Channel(0, options), {
    name: "TypeError",
    message:
      "Cannot create channel: options must be readable, got an object (whose constructor could not be read)",
  });
  assert.throws(() => new Lock(options), { name: "TypeError", message: /^Cannot create lock: / });
});
