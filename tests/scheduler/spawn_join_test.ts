import assert from "node:assert/strict";
import {
  Channel,
  type Coroutine,
  DeadlockError,
  join,
  kill,
  KilledError,
  run,
  shield,
  sleep,
  spawn,
  type Task,
  useAbortSignal,
  VirtualClock,
  yieldNow,
} from "../../mod.ts";

Deno.test("spawn() starts the thread once the spawner yields, and the spawner goes on first", async () => {
  const record: string[] = [];
  await run(function* () {
    const task = yield* spawn(function* () {
      record.push("child runs");
      yield* yieldNow();
      record.push("child resumes");
    }());
    record.push(`spawned thread ${task.id}`);
    yield* yieldNow();
    record.push("parent resumes");
    yield* join(task);
    record.push("joined");
  }());
  assert.deepEqual(record, [
    "spawned thread 1",
    "child runs",
    "parent resumes",
    "child resumes",
    "joined",
  ]);
});

Deno.test("loops of yield* spawn and of yield* task still give other threads their turn", async () => {
  // `yield* spawn` and `yield* task` of an ended thread are done without a trip through
  // the kernel, but they still count against the step budget: a long loop of them is cut
  // into turns like any other, and other threads run in between.
  const record: string[] = [];
  await run(function* () {
    const tasks: Task<number>[] = [];
    for (let i = 0; i < 5000; i++) {
      tasks.push(
        yield* spawn(function* () {
          if (i === 0) record.push("first child ran");
          return i;
        }()),
      );
    }
    record.push("spawned all");
    yield* sleep(0); // every child ends
    yield* spawn(function* () {
      record.push("other thread ran");
    }());
    let sum = 0;
    for (const task of tasks) sum += yield* task;
    record.push(`joined all, sum ${sum}`);
  }());
  assert.deepEqual(record, [
    "first child ran",
    "spawned all",
    "other thread ran",
    "joined all, sum 12497500",
  ]);
});

Deno.test("an iterator of yield* spawn, made by hand, spawns when first asked for a result", async () => {
  // As a primitive is begun: where `yield*` asks for the first result, not before.
  const record: string[] = [];
  await run(function* () {
    // deno-lint-ignore require-yield -- a thread that ends in its first step
    const iterator = spawn(function* () {
      record.push("child ran");
      return "child's value";
    }())[Symbol.iterator]();
    yield* sleep(0);
    record.push("slept with the iterator made");
    const result = iterator.next();
    assert.equal(result.done, true);
    const task = result.value as Task<string>;
    record.push(`task ${task.id}, done ${task.done}`);
    record.push(yield* task);
    const again = iterator.next();
    record.push(`asked again: done ${again.done}, value ${again.value}`);
  }());
  assert.deepEqual(record, [
    "slept with the iterator made",
    "task 1, done false",
    "child ran",
    "child's value",
    "asked again: done true, value undefined",
  ]);
});

Deno.test("a task's iterator, made by hand, answers at once once the thread has returned", async () => {
  const record: string[] = [];
  await run(
    function* () {
      const task = yield* spawn(function* () {
        yield* sleep(0);
        return "late";
      }());
      const early = task[Symbol.iterator]().next();
      record.push(
        `before it ends: done ${early.done}, yields the task ${(early.value as unknown) === task}`,
      );
      yield* sleep(1);
      const late = task[Symbol.iterator]().next();
      record.push(`after: done ${late.done}, value ${late.value}`);
    }(),
    { clock: new VirtualClock() },
  );
  assert.deepEqual(record, [
    "before it ends: done false, yields the task true",
    "after: done true, value late",
  ]);
});

Deno.test("join() accepts the task or the spawned generator, and yield* task joins too", async () => {
  const result = await run(
    function* (): Coroutine<number[]> {
      function* child(n: number): Coroutine<number> {
        yield* sleep(n);
        return n;
      }
      const byGenerator = child(3);
      yield spawn(byGenerator);
      const task = yield* spawn(child(2));
      const third = yield* spawn(child(1));
      const a: number = yield join(byGenerator);
      const b: number = yield* join(task);
      const c: number = yield* third;
      return [a, b, c];
    }(),
    { clock: new VirtualClock() },
  );
  assert.deepEqual(result, [3, 2, 1]);
});

Deno.test("join() of a finished thread answers at once with its value", async () => {
  const record: string[] = [];
  await run(
    function* () {
      const task = yield* spawn(function* () {
        return "early";
      }());
      yield* sleep(10);
      record.push(`done=${task.done}`);
      record.push(yield* join(task));
      record.push(yield* join(task));
    }(),
    { clock: new VirtualClock() },
  );
  assert.deepEqual(record, ["done=true", "early", "early"]);
});

Deno.test("join() rethrows the thread's error to every joiner, and the run goes on", async () => {
  const record: string[] = [];
  const failure = new Error("child failed");
  await run(
    function* () {
      const task = yield* spawn(function* (): Coroutine<void> {
        yield* sleep(10);
        throw failure;
      }());
      const other = yield* spawn(function* () {
        try {
          yield* join(task);
        } catch (error) {
          record.push(`other joiner caught: ${error === failure}`);
        }
      }());
      try {
        yield* join(task);
      } catch (error) {
        record.push(`root caught: ${error === failure}`);
      }
      yield* join(other);
    }(),
    { clock: new VirtualClock() },
  );
  // Joiners wake in the order they joined: the root joined before `other` first ran.
  assert.deepEqual(record, ["root caught: true", "other joiner caught: true"]);
});

Deno.test("join() of a killed thread throws KilledError", async () => {
  const message = await run(
    function* () {
      const task = yield* spawn(function* () {
        yield* sleep(1000);
      }());
      yield* kill(task);
      try {
        yield* join(task);
        return "no error";
      } catch (error) {
        assert.ok(error instanceof KilledError);
        return error.message;
      }
    }(),
    { clock: new VirtualClock() },
  );
  assert.equal(message, "Thread 1 was killed");
});

Deno.test("the KilledError of a named thread names it, to its joiner and in its own signal", async () => {
  const record: string[] = [];
  await run(
    function* () {
      const task = yield* spawn(
        function* () {
          const signal = yield* useAbortSignal();
          signal.addEventListener("abort", () => record.push(`signal: ${signal.reason.message}`));
          yield* sleep(1000);
        }(),
        { name: "poller" },
      );
      yield* yieldNow();
      yield* kill(task);
      try {
        yield* join(task);
      } catch (error) {
        record.push(`join: ${(error as Error).message}`);
      }
    }(),
    { clock: new VirtualClock() },
  );
  assert.deepEqual(record, [
    'signal: Thread 1 "poller" was killed',
    'join: Thread 1 "poller" was killed',
  ]);
});

Deno.test("join() of a thread killed while being joined throws KilledError to the joiner", async () => {
  const record: string[] = [];
  await run(
    function* () {
      const sleeper = yield* spawn(function* () {
        yield* sleep(1000);
      }());
      const joiner = yield* spawn(function* () {
        try {
          yield* join(sleeper);
        } catch (error) {
          record.push(`${(error as Error).name}: ${(error as Error).message}`);
        }
      }());
      yield* sleep(1);
      yield* kill(sleeper);
      record.push("killed");
      yield* join(joiner);
    }(),
    { clock: new VirtualClock() },
  );
  // A finished thread wakes its joiners before its killers.
  assert.deepEqual(record, ["KilledError: Thread 1 was killed", "killed"]);
});

Deno.test("spawn() refuses a non-generator or an already spawned generator with a TypeError", async () => {
  const messages = await run(function* (): Coroutine<string[]> {
    const out: string[] = [];
    const child = function* () {}();
    yield spawn(child);
    for (const bad of [() => 1, child]) {
      try {
        yield spawn(bad as Coroutine<unknown>);
      } catch (error) {
        assert.ok(error instanceof TypeError);
        out.push(error.message);
      }
    }
    return out;
  }());
  assert.deepEqual(messages, [
    "Cannot spawn coroutine: function (anonymous) is not a generator",
    "Cannot spawn coroutine: it is already running as thread 1",
  ]);
});

Deno.test("join() refuses itself, a never-spawned generator, a non-task and a thread of another run", async () => {
  let foreign: Task<void> | undefined;
  await run(function* () {
    foreign = yield* spawn(function* () {}());
  }());
  function* main(): Coroutine<string[]> {
    const out: string[] = [];
    for (const bad of [me, function* () {}(), 7, foreign]) {
      try {
        yield join(bad as Task<unknown>);
      } catch (error) {
        assert.ok(error instanceof TypeError);
        out.push(error.message);
      }
    }
    return out;
  }
  const me = main();
  assert.deepEqual(await run(me), [
    "Cannot join thread 0: a thread cannot join itself",
    "Cannot join coroutine: it was never spawned",
    "Cannot join thread: number 7 is not a task or a spawned generator",
    "Cannot join thread 1: it belongs to another run, where it has ended (a task is joined or killed in its own run only)",
  ]);
});

Deno.test("yield* task refuses a thread of another run, even one that has returned", async () => {
  const foreign = await run(function* () {
    const task = yield* spawn(function* () {
      return "from the first run";
    }());
    yield* task;
    return task;
  }());
  assert.equal(foreign.done, true);
  await assert.rejects(
    run(function* () {
      return yield* foreign;
    }()),
    {
      name: "TypeError",
      message:
        "Cannot join thread 1: it belongs to another run, where it has ended (a task is joined or killed in its own run only)",
    },
  );
  await assert.rejects(
    run(kill(foreign)),
    {
      name: "TypeError",
      message:
        "Cannot kill thread 1: it belongs to another run, where it has ended (a task is joined or killed in its own run only)",
    },
  );
});

Deno.test("run() handles 100,000 spawned threads", async () => {
  let finished = 0;
  const total = await run(function* () {
    const tasks: Task<number>[] = [];
    for (let i = 0; i < 100_000; i++) {
      tasks.push(
        yield* spawn(function* () {
          yield* yieldNow();
          finished++;
          return 1;
        }()),
      );
    }
    let sum = 0;
    for (const task of tasks) sum += yield* join(task);
    return sum;
  }());
  assert.equal(total, 100_000);
  assert.equal(finished, 100_000);
});

Deno.test("task ids count up in spawn order from the root's 0", async () => {
  const ids = await run(function* () {
    const a = yield* spawn(function* () {}());
    const b = yield* spawn(function* () {}());
    return [a.id, b.id];
  }());
  assert.deepEqual(ids, [1, 2]);
});

Deno.test("KilledError is an Error with its own name", () => {
  const error = new KilledError();
  assert.ok(error instanceof Error);
  assert.equal(error.name, "KilledError");
  assert.equal(error.message, "Thread was killed");
});

Deno.test("a thread left stuck when its run gave up after a deadlock is said to be of a run that has ended", async () => {
  let stuck: Task<unknown> | undefined;
  await assert.rejects(
    run(function* () {
      // The deadlock kills through the shield; the `finally` is stuck for good.
      stuck = yield* spawn(function* () {
        try {
          yield* shield(new Channel<number>().receive());
        } finally {
          yield* new Channel<number>().receive();
        }
      }());
      yield* new Channel<number>().receive();
    }()),
    DeadlockError,
  );
  assert.equal(stuck!.done, false);
  await assert.rejects(
    run(kill(stuck!)),
    {
      name: "TypeError",
      message:
        "Cannot kill thread 1: it belongs to another run, which has ended (a task is joined or killed in its own run only)",
    },
  );
});
