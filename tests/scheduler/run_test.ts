import assert from "node:assert/strict";
import {
  Channel,
  type Coroutine,
  DeadlockError,
  Event,
  join,
  kill,
  KilledError,
  run,
  select,
  sleep,
  spawn,
  type Task,
  until,
  VirtualClock,
  yieldNow,
} from "../../mod.ts";

/** A thread that sleeps `ms`, and throws `error` from its `finally` when it is killed. */
function* throwsWhenKilled(error: unknown, ms: number): Coroutine<void> {
  try {
    yield* sleep(ms);
  } finally {
    // deno-lint-ignore no-unsafe-finally -- the point: a cleanup that throws
    throw error;
  }
}

Deno.test("run() resolves with the root's value only after every thread has finished", async () => {
  const record: string[] = [];
  const clock = new VirtualClock();
  const value = await run(
    function* () {
      yield* spawn(function* () {
        yield* sleep(100);
        record.push("child done");
      }());
      record.push("root returns");
      return "root value";
    }(),
    { clock },
  );
  assert.equal(value, "root value");
  assert.deepEqual(record, ["root returns", "child done"]);
  assert.equal(clock.now(), 100);
});

Deno.test("run() rejects with a TypeError when given something other than a generator", async () => {
  await assert.rejects(
    // @ts-expect-error: a function, not a generator object
    run(function* () {}),
    new TypeError(
      "Cannot run coroutine: generator function (anonymous) is not a generator; call it to make one",
    ),
  );
  function* main() {}
  await assert.rejects(
    // @ts-expect-error: the commonest slip, a generator function not called
    run(main),
    new TypeError(
      "Cannot run coroutine: generator function main is not a generator; call it to make one, as in main()",
    ),
  );
  await assert.rejects(
    // @ts-expect-error: nothing at all
    run(undefined),
    new TypeError("Cannot run coroutine: undefined is not a generator"),
  );
  await assert.rejects(
    // @ts-expect-error: not a generator at all
    run(42),
    new TypeError("Cannot run coroutine: number 42 is not a generator"),
  );
});

Deno.test("run() ends with an error no thread joins, after killing the others and running their finally blocks", async () => {
  const record: string[] = [];
  const boom = new Error("boom");
  await assert.rejects(
    run(
      function* () {
        yield* spawn(function* () {
          try {
            yield* sleep(1000);
          } finally {
            record.push("sleeper cleanup starts");
            yield* sleep(10);
            record.push("sleeper cleanup ends");
          }
        }());
        yield* spawn(function* () {
          yield* sleep(5);
          record.push("failing thread throws");
          throw boom;
        }());
        try {
          yield* sleep(1000);
        } finally {
          record.push("root cleanup");
        }
      }(),
      { clock: new VirtualClock() },
    ),
    (error) => error === boom,
  );
  // Oldest first: the root's cleanup runs before the threads it started end.
  assert.deepEqual(record, [
    "failing thread throws",
    "root cleanup",
    "sleeper cleanup starts",
    "sleeper cleanup ends",
  ]);
});

Deno.test("run() with an already aborted signal rejects with its reason without starting", async () => {
  const record: string[] = [];
  const controller = new AbortController();
  const reason = new Error("stop before start");
  controller.abort(reason);
  await assert.rejects(
    run(
      function* () {
        record.push("started");
        yield* yieldNow();
      }(),
      { signal: controller.signal },
    ),
    (error) => error === reason,
  );
  assert.deepEqual(record, []);
});

Deno.test("run() kills every thread when its signal aborts, runs their finally blocks, then rejects with the reason", async () => {
  const record: string[] = [];
  const controller = new AbortController();
  const reason = new Error("shutdown");
  let settled = false;
  const pending = run(
    function* () {
      yield* spawn(function* () {
        try {
          yield* sleep(60_000);
        } finally {
          record.push("child finally");
          yield* yieldNow();
          record.push("child finally after a yield");
        }
      }());
      try {
        yield* sleep(60_000);
      } finally {
        record.push("root finally");
      }
    }(),
    { signal: controller.signal },
  ).finally(() => settled = true);
  await Promise.resolve();
  assert.equal(settled, false);
  controller.abort(reason);
  await assert.rejects(pending, (error) => error === reason);
  assert.deepEqual(record, ["root finally", "child finally", "child finally after a yield"]);
});

Deno.test("run() reports a deadlock instead of hanging when threads join each other", async () => {
  const record: string[] = [];
  await assert.rejects(
    run(function* () {
      const tasks: Task<void>[] = [];
      tasks.push(
        yield* spawn(function* () {
          yield* yieldNow();
          try {
            yield* join(tasks[1]);
          } finally {
            record.push("first cleaned up");
          }
        }()),
      );
      tasks.push(
        yield* spawn(function* () {
          yield* join(tasks[0]);
        }()),
      );
      yield* join(tasks[0]);
    }()),
    (error) => {
      assert.ok(error instanceof DeadlockError);
      assert.equal(
        error.message,
        "Cannot continue run: every thread is blocked forever (thread 0 waits on join(thread 1); " +
          "thread 1 waits on join(thread 2); thread 2 waits on join(thread 1))",
      );
      return true;
    },
  );
  assert.deepEqual(record, ["first cleaned up"]);
});

Deno.test("a deadlock of many threads names the oldest ones, root first, then how many more", async () => {
  await assert.rejects(
    run(function* () {
      const event = new Event();
      for (let i = 1; i <= 12; i++) {
        yield* spawn(function* () {
          yield* event.wait();
        }());
      }
      yield* event.wait();
    }()),
    (error) => {
      assert.ok(error instanceof DeadlockError);
      const waits = Array.from({ length: 10 }, (_, id) => `thread ${id} waits on wait(Event)`);
      assert.equal(
        error.message,
        `Cannot continue run: every thread is blocked forever (${waits.join("; ")}; 3 more)`,
      );
      return true;
    },
  );
});

Deno.test("run() rejects with KilledError when another thread kills the root", async () => {
  const record: string[] = [];
  function* main(): Coroutine<string> {
    yield* spawn(function* () {
      yield* kill(root); // Bluelet style: the root generator names its thread
      record.push("root killed");
    }());
    try {
      yield* sleep(60_000);
    } finally {
      record.push("root finally");
    }
    return "unreachable";
  }
  const root = main();
  await assert.rejects(
    run(root, { clock: new VirtualClock() }),
    new KilledError("Cannot finish run: its root coroutine was killed"),
  );
  assert.deepEqual(record, ["root finally", "root killed"]);
});

Deno.test("run() whose own coroutine aborts its signal unwinds every thread and rejects with the reason", async () => {
  const record: string[] = [];
  const controller = new AbortController();
  const reason = new Error("shutdown requested by a handler");
  await assert.rejects(
    run(
      function* () {
        yield* spawn(function* () {
          try {
            yield* sleep(60_000);
          } finally {
            record.push("sleeper finally");
          }
        }());
        yield* yieldNow(); // the sleeper is now inside its try
        try {
          controller.abort(reason); // from inside a step of this very run
          yield* until(Promise.resolve("after abort"));
          record.push("resumed after abort");
        } finally {
          record.push("root finally");
        }
      }(),
      { signal: controller.signal },
    ),
    (error) => error === reason,
  );
  assert.deepEqual(record, ["root finally", "sleeper finally"]);
});

Deno.test("run() chains an error thrown by a finally during teardown as a SuppressedError", async () => {
  const first = new Error("first failure");
  const cleanup = new Error("cleanup failure");
  const error = await run(
    function* () {
      yield* spawn(throwsWhenKilled(cleanup, 60_000));
      yield* sleep(1);
      throw first;
    }(),
    { clock: new VirtualClock() },
  ).catch((e) => e);
  assert.ok(error instanceof SuppressedError);
  assert.equal(error.error, cleanup);
  assert.equal(error.suppressed, first);
});

Deno.test("run() ends with one error once, not chained to itself, when two threads fail with it", async () => {
  // Both receivers throw the channel's error. The one nobody joins ends the run; the root,
  // killed holding the other's (joined) copy, drops it, and it goes to the run again.
  const upstream = new Error("upstream gone");
  const channel = new Channel<number>(0);
  const error = await run(
    function* () {
      const first = yield* spawn(channel.receive());
      yield* spawn(channel.receive()); // nobody joins this one
      yield* sleep(1);
      channel.close(upstream);
      yield* join(first);
    }(),
    { clock: new VirtualClock() },
  ).catch((e) => e);
  assert.equal(error, upstream);
});

Deno.test("run() chains equal values thrown from two places: only one shared object is one failure", async () => {
  const error = await run(
    function* () {
      yield* spawn(throwsWhenKilled("timeout", 1000));
      yield* sleep(1);
      throw "timeout";
    }(),
    { clock: new VirtualClock() },
  ).catch((e) => e);
  assert.ok(error instanceof SuppressedError, `got ${error}`);
  assert.deepEqual([error.error, error.suppressed], ["timeout", "timeout"]);
});

Deno.test("run() chains a second failure to a first whose own fields throw when read", async () => {
  const first = new SuppressedError(new Error("a"), new Error("b"), "first");
  Object.defineProperty(first, "error", {
    get() {
      throw new Error("getter exploded");
    },
  });
  const second = new Error("second");
  const error = await run(
    function* () {
      yield* spawn(throwsWhenKilled(second, 1000));
      yield* sleep(1);
      throw first;
    }(),
    { clock: new VirtualClock() },
  ).catch((e) => e);
  assert.ok(error instanceof SuppressedError, `got ${error}`);
  assert.equal(error.error, second);
  assert.equal(error.suppressed, first);
});

Deno.test("run() holds a shared error once even when it first came inside a chain", async () => {
  // x's cleanup fails with `other` after rethrowing `upstream`: a SuppressedError of the
  // two ends the run. `upstream` reaching it again, from the second receiver, is no news.
  const upstream = new Error("upstream gone");
  const other = new Error("x cleanup failed");
  const channel = new Channel<number>();
  function* receiver(extra?: Error): Coroutine<void> {
    let error: unknown;
    try {
      yield* channel.receive();
    } catch (e) {
      error = e;
    }
    try {
      yield function* () {
        try {
          yield* sleep(100);
        } finally {
          // deno-lint-ignore no-unsafe-finally -- a cleanup that rethrows
          if (error) throw error;
        }
      }();
    } finally {
      // deno-lint-ignore no-unsafe-finally -- a cleanup that throws
      if (extra) throw extra;
    }
  }
  const error = await run(
    function* () {
      const x = yield* spawn(receiver(other));
      yield* spawn(receiver());
      yield* sleep(1);
      channel.close(upstream);
      yield* sleep(1);
      yield* kill(x);
    }(),
    { clock: new VirtualClock() },
  ).catch((e) => e);
  const flat = (e: unknown): unknown[] =>
    e instanceof SuppressedError ? [...flat(e.error), ...flat(e.suppressed)] : [e];
  assert.deepEqual(flat(error), [other, upstream]);
});

Deno.test("run() knows a shared error inside a chain that also holds undefined", async () => {
  const shared = new Error("shared");
  const first = new SuppressedError(shared, undefined, "wrapped");
  const error = await run(
    function* () {
      yield* spawn(function* () {
        yield* sleep(1);
        throw first;
      }());
      yield* spawn(throwsWhenKilled(shared, 100));
      yield* sleep(10);
    }(),
    { clock: new VirtualClock() },
  ).catch((e) => e);
  assert.equal(error, first);
});

Deno.test("VirtualClock refuses a start that is not a finite number", () => {
  for (const start of [NaN, Infinity, -Infinity]) {
    assert.throws(() => new VirtualClock(start), RangeError);
  }
});

Deno.test("a virtual clock jumps only after the event loop had a turn: an abort right after run() comes first", async () => {
  const clock = new VirtualClock();
  const stop = new AbortController();
  const outcome = run(
    function* () {
      yield* sleep(100);
      return "slept";
    }(),
    { clock, signal: stop.signal },
  );
  stop.abort(new Error("stop"));
  await assert.rejects(outcome, { message: "stop" });
  assert.equal(clock.now(), 0);
});

Deno.test("a virtual clock jumps only after the event loop had a turn: what runs in it comes first", async () => {
  // A send queued for the event loop's next turn, made before a 1000 ms sleep: in real time
  // it lands long before the sleep ends, and in virtual time too.
  const clock = new VirtualClock();
  const channel = new Channel<string>(1);
  setImmediate(() => channel.trySend("from outside"));
  const record: string[] = [];
  await run(
    function* () {
      const { index, value } = yield* select([channel.receive(), sleep(1000)]);
      record.push(`case ${index} at ${clock.now()}: ${JSON.stringify(value)}`);
    }(),
    { clock },
  );
  assert.deepEqual(record, ['case 0 at 0: {"value":"from outside","done":false}']);
});

Deno.test("a virtual clock's first jump waits for what the caller queues right after run() returns", async () => {
  // Queued in the same synchronous code as `run()`, just after it: in real time the
  // immediate runs long before a 1000 ms sleep ends.
  const clock = new VirtualClock();
  const channel = new Channel<string>(1);
  const record: string[] = [];
  const sent = run(
    function* () {
      const { index } = yield* select([channel.receive(), sleep(1000)]);
      record.push(`case ${index} at ${clock.now()}`);
    }(),
    { clock },
  );
  setImmediate(() => channel.trySend("from outside"));
  await sent;
  // An abort queued so, likewise.
  const controller = new AbortController();
  const aborted = run(
    function* () {
      yield* sleep(100);
      record.push("slept");
    }(),
    { clock, signal: controller.signal },
  );
  setImmediate(() => controller.abort(new Error("stop")));
  await aborted.catch((error) => record.push(`rejected: ${error.message} at ${clock.now()}`));
  assert.deepEqual(record, ["case 0 at 0", "rejected: stop at 0"]);
});

Deno.test("run() resumes coroutines whose next is not the generators' own: replaced, bound by a proxy, or inherited", async () => {
  function* body(): Coroutine<string> {
    yield* sleep(1);
    return "done";
  }
  const clock = new VirtualClock();
  // A `next` replaced on the generator object before it runs is the one called.
  const traced = body();
  const next = traced.next.bind(traced);
  let calls = 0;
  traced.next = (value: unknown) => {
    calls++;
    return next(value);
  };
  assert.equal(await run(traced, { clock }), "done");
  assert.equal(calls, 2);
  // A proxy that binds the generator's methods to it.
  const target = body();
  const proxy = new Proxy(target, {
    get: (object, key) => {
      const value = Reflect.get(object, key);
      return typeof value === "function" ? value.bind(object) : value;
    },
  });
  assert.equal(await run(proxy, { clock }), "done");
  // An object that inherits the generator prototype but has methods of its own.
  const inner = body();
  const prototype = Object.getPrototypeOf(Object.getPrototypeOf(inner));
  const inherited = Object.create(prototype, {
    next: { value: (value: unknown) => inner.next(value) },
    throw: { value: (error: unknown) => inner.throw(error) },
    return: { value: (value: string) => inner.return(value) },
  }) as Coroutine<string>;
  assert.equal(await run(inherited, { clock }), "done");
});

Deno.test("a frame whose next cannot be read fails at its yield, and the run goes on", async () => {
  const generatorPrototype = Object.getPrototypeOf(Object.getPrototypeOf((function* () {})()));
  // Never resumed: only its throw and return stand behind the unreadable frame's.
  const inner = (function* () {
    yield;
    return 1;
  })();
  // Taken for a generator (it inherits the prototype); reading its `next` throws.
  const unreadable = Object.create(generatorPrototype, {
    next: {
      get() {
        throw new Error("next cannot be read");
      },
    },
    throw: { value: (error: unknown) => inner.throw(error) },
    return: { value: (value: number) => inner.return(value) },
  }) as Coroutine<number>;
  const record: string[] = [];
  const result = await run(
    function* () {
      const sibling = yield* spawn(function* () {
        try {
          yield* sleep(1000);
        } finally {
          record.push("sibling finally");
        }
      }());
      yield* sleep(1);
      try {
        yield unreadable;
      } catch (error) {
        record.push(`caught: ${(error as Error).message}`);
      } finally {
        record.push("root finally");
      }
      yield* kill(sibling);
      return "ok";
    }(),
    { clock: new VirtualClock() },
  );
  assert.equal(result, "ok");
  assert.deepEqual(record, ["caught: next cannot be read", "root finally", "sibling finally"]);
});

Deno.test("a caller frame revoked while its callee runs fails when it is resumed, and its caller catches it", async () => {
  let revoke = () => {};
  function* outer(): Coroutine<unknown> {
    return yield (function* () {
      yield* sleep(1);
      revoke();
      return 5;
    })();
  }
  const revocable = Proxy.revocable(outer(), {
    get: (object, key) => {
      const value = Reflect.get(object, key);
      return typeof value === "function" ? value.bind(object) : value;
    },
  });
  revoke = revocable.revoke;
  const result = await run(
    function* () {
      try {
        return `got ${yield revocable.proxy}`;
      } catch (error) {
        return `caught ${(error as Error).constructor.name}`;
      }
    }(),
    { clock: new VirtualClock() },
  );
  assert.equal(result, "caught TypeError");
});

Deno.test("a deadlock while another run is live says that a run cannot wake threads of another", async () => {
  // The slip: one channel shared by two runs. The receiving run sees only its own threads:
  // none can send, so it ends, whatever the other run meant to do.
  const channel = new Channel<string>();
  const other = run(function* () {
    yield* sleep(50);
    return channel.trySend("late");
  }());
  await assert.rejects(
    run(function* () {
      yield* channel.receive();
    }()),
    new DeadlockError(
      "Cannot continue run: every thread is blocked forever (thread 0 waits on receive(Channel)); " +
        "another run is live in this process: if these threads wait on something it shares with this " +
        "run (a channel, a lock, an in-memory connection), it cannot wake them, since a run sees its " +
        "own threads only",
    ),
  );
  assert.equal(await other, false); // nobody was left to receive it
  // Alone again, a deadlock says nothing of other runs.
  await assert.rejects(
    run(function* () {
      yield* channel.receive();
    }()),
    new DeadlockError(
      "Cannot continue run: every thread is blocked forever (thread 0 waits on receive(Channel))",
    ),
  );
});
