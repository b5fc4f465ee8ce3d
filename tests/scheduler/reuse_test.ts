// An event can be yielded again, and does its work again, as `sleep(10)` does: the
// combinators' events too, not only the leaf operations' (a combinator's event made its
// coroutine when it was made, and a second yield ran that finished coroutine: `undefined`
// at once, whatever its type said). A coroutine given to one can run only once, and a
// second use says so.
import assert from "node:assert/strict";
import {
  all,
  call,
  Channel,
  join,
  kill,
  Lock,
  moveOnAfter,
  race,
  run,
  select,
  Semaphore,
  sleep,
  spawn,
  taskGroup,
  TimeoutError,
  VirtualClock,
  withTimeout,
} from "../../mod.ts";
import type { Coroutine, Operation } from "../../mod.ts";

Deno.test("a combinator's event yielded twice does its work twice", async () => {
  const clock = new VirtualClock();
  const record: string[] = [];
  const lock = new Lock();
  const semaphore = new Semaphore(1);
  await run(
    function* () {
      const events = {
        withTimeout: withTimeout(10, sleep(1000)),
        moveOnAfter: moveOnAfter(10, sleep(1000)),
        all: all([sleep(5), sleep(10)]),
        race: race([sleep(20), sleep(5)]),
        withLock: lock.withLock(sleep(5)),
        withPermit: semaphore.withPermit(sleep(5)),
        taskGroup: taskGroup(function* (group) {
          yield* group.spawn(sleep(5));
          return "group";
        }),
      };
      for (let use = 1; use <= 2; use++) {
        for (const [name, event] of Object.entries(events)) {
          const start = clock.now();
          let outcome: unknown;
          try {
            outcome = yield* event;
          } catch (error) {
            outcome = error instanceof TimeoutError ? "TimeoutError" : error;
          }
          record.push(`${name} ${use}: ${JSON.stringify(outcome)} after ${clock.now() - start}`);
        }
      }
    }(),
    { clock },
  );
  const once = [
    'withTimeout: "TimeoutError" after 10',
    'moveOnAfter: {"timedOut":true} after 10',
    "all: [null,null] after 10",
    "race: undefined after 5",
    "withLock: undefined after 5",
    "withPermit: undefined after 5",
    'taskGroup: "group" after 5',
  ];
  assert.deepEqual(record, [
    ...once.map((line) => line.replace(":", " 1:")),
    ...once.map((line) => line.replace(":", " 2:")),
  ]);
});

Deno.test("a combinator's event over a coroutine says so when yielded again", async () => {
  function* child() {
    yield* sleep(1);
    return 1;
  }
  const cases = {
    withTimeout: () => withTimeout(10, child()),
    moveOnAfter: () => moveOnAfter(10, child()),
    all: () => all([child()]),
    race: () => race([child()]),
    withLock: () => new Lock().withLock(child()),
  };
  for (const [name, make] of Object.entries(cases)) {
    const error = await run(
      function* () {
        const event = make();
        yield* event;
        try {
          yield* event;
        } catch (error) {
          return error;
        }
        return "no error";
      }(),
      { clock: new VirtualClock() },
    );
    assert.ok(error instanceof TypeError, `${name}: ${error}`);
    assert.match((error as Error).message, /it was run already; a generator runs once/, name);
  }
});

Deno.test("a kill of several threads yielded twice kills them and then finds them ended", async () => {
  const record: string[] = [];
  await run(
    function* () {
      const a = yield* spawn(sleep(100));
      const b = yield* spawn(sleep(100));
      const both = kill([a, b]);
      yield* both;
      record.push(`after the first: ${a.done} ${b.done}`);
      yield* both;
      record.push("after the second");
    }(),
    { clock: new VirtualClock() },
  );
  assert.deepEqual(record, ["after the first: true true", "after the second"]);
});

Deno.test("a generator called once is refused the second time, in every form", async () => {
  function* child() {
    yield* sleep(1);
    return 1;
  }
  const record = await run(
    function* () {
      const record: string[] = [];
      const attempts: [string, (g: Generator<unknown, number>) => Generator<unknown, unknown>][] = [
        ["yield g", function* (g) {
          return yield g;
        }],
        ["call(g)", function* (g) {
          return yield* call(g);
        }],
        ["spawn(g)", function* (g) {
          return yield* join(yield* spawn(g));
        }],
      ];
      for (const [form, again] of attempts) {
        const g = child();
        record.push(`${form} first: ${yield g}`);
        try {
          record.push(`${form} again: ${yield* again(g)}`);
        } catch (error) {
          record.push(`${form} again: ${(error as Error).message}`);
        }
      }
      return record;
    }(),
    { clock: new VirtualClock() },
  );
  const refused =
    "it was run already; a generator runs once, so call its function again for another";
  assert.deepEqual(record, [
    "yield g first: 1",
    `yield g again: Cannot call coroutine: ${refused}`,
    "call(g) first: 1",
    `call(g) again: Cannot call coroutine: ${refused}`,
    "spawn(g) first: 1",
    `spawn(g) again: Cannot spawn coroutine: ${refused}`,
  ]);
});

Deno.test("a select with a case that is no channel operation, yielded again, selects again", async () => {
  const clock = new VirtualClock();
  const jobs = new Channel<string>(4);
  const record: string[] = [];
  await run(
    function* () {
      const next = select([jobs.receive(), sleep(10)]);
      for (let round = 1; round <= 3; round++) {
        if (round === 2) jobs.trySend("job");
        const { index, value } = yield* next;
        record.push(`${round}: case ${index} ${JSON.stringify(value)} at ${clock.now()}`);
      }
    }(),
    { clock },
  );
  assert.deepEqual(record, [
    "1: case 1 undefined at 10",
    '2: case 0 {"value":"job","done":false} at 10',
    "3: case 1 undefined at 20",
  ]);
});

Deno.test("a frozen generator runs as a call or a thread, unmarked", async () => {
  function* child(): Coroutine<number> {
    yield* sleep(1);
    return 1;
  }
  const values = await run(
    function* (): Coroutine<unknown[]> {
      const called = yield Object.freeze(child());
      const viaCall = yield* call(Object.freeze(child()));
      const task = yield* spawn(Object.freeze(child()));
      return [called, viaCall, yield* join(task)];
    }(),
    { clock: new VirtualClock() },
  );
  assert.deepEqual(values, [1, 1, 1]);
});

Deno.test("a select's cases are the ones it was given, whatever happens to the array after", async () => {
  const jobs = new Channel<string>(4);
  const other = new Channel<string>(4);
  const cases: Operation<unknown>[] = [jobs.receive(), sleep(10)];
  const next = select(cases);
  cases[1] = jobs.send("x"); // sends on the channel the first case receives from
  cases.push(other.receive());
  const record: string[] = [];
  await run(
    function* () {
      for (let round = 1; round <= 2; round++) {
        const { index } = yield* next;
        record.push(`${round}: case ${index}`);
      }
    }(),
    { clock: new VirtualClock() },
  );
  assert.deepEqual(record, ["1: case 1", "2: case 1"]);
});
