// Per-step cost of the coroutine kernel against its peers, in one run.
//
//   deno bench --allow-all bench/scheduler_bench.ts
//
// Every bench of a group does the same fixed amount of work per iteration, so the
// "x faster/slower than baseline" lines of a group compare like with like. The peers:
// "trampoline" is a bare hand-written generator runner with no kernel (bench/_peers.ts),
// "async" is plain async/await, "effection" is npm:effection (v4).
//
// Groups:
//   null-1      one thread giving way STEPS times. bluelet `yield null()` (and `sleep(0)`,
//               which the kernel treats as `null()`); trampoline `yield PASS` (baseline),
//               which like the kernel goes on at once when no other thread is ready;
//               async `await null` (one microtask); effection has no pure "give way", so
//               `yield* action(r => r())`: an operation that resolves synchronously, one
//               round trip through Effection's reducer.
//   null-2      two threads alternating STEPS steps each, same primitives as null-1: each
//               step goes through the ready queue, in the kernel and the trampoline alike.
//   call        CALLS calls of a trivial sub-coroutine, one after the other. bluelet
//               `yield* call(sub())` and `yield sub()` (a kernel frame each); plain
//               `yield* sub()` for reference (JS delegation, the kernel sees nothing);
//               trampoline with an explicit stack (baseline); async `await sub()`;
//               effection `yield* sub()`, which is plain delegation too: Effection has no
//               call frame of its own, so it is not the same work as a kernel call.
//   spawn+join  THREADS threads that return at once, all spawned, then all joined.
//               async: THREADS async functions under `Promise.all` (baseline); bluelet
//               through Task handles (`yield*`) and Bluelet-style by generator (`yield`);
//               trampoline with spawn/join requests; effection `spawn` + `yield* task`.
//   sleep(0), no timer  one thread giving way STEPS times without a timer: bluelet's
//               `sleep(0)`, which sets no timer (it is `null()`), against async
//               `await null` (baseline) and `await Promise.resolve()`.
//   sleep(0), timer  one thread doing SLEEPS timer round trips: async
//               `await new Promise((r) => setTimeout(r, 0))` (baseline) and effection
//               `sleep(0)` (also a setTimeout); few steps and few iterations.
//   promise wakes  one thread awaiting AWAITS promises that are already resolved: each
//               wakes the kernel from outside (a promise reaction), as I/O does. async
//               `await` (baseline); bluelet `yield promise` alone, and beside a thread that
//               sleeps meanwhile (a pending timer, as a server's idle sweeper leaves): a
//               wake then costs the same, since a drive does not read the clock for a
//               timer the armed wake already covers.
//   null-1 (warm)  null-1's trampoline and bluelet `null()` again, last: by now the kernel
//               has run every other kind of event, so its hot paths have seen mixed
//               (polymorphic) feedback, as in a real program. null-1 itself runs first,
//               on a kernel that has only ever seen `null()`.
import * as bluelet from "../mod.ts";
import {
  action as effAction,
  type Operation,
  run as effRun,
  sleep as effSleep,
  spawn as effSpawn,
  type Task as EffTask,
} from "effection";
import {
  type Bare,
  type BareThread,
  JoinRequest,
  PASS,
  SpawnRequest,
  trampoline,
  trampolineStack,
  trampolineThreads,
} from "./_peers.ts";

const STEPS = 100_000;
const CALLS = 100_000;
const THREADS = 10_000;
const SLEEPS = 50;

/** Effection's closest to a pure "give way": a synchronously resolved operation. */
const effPass: Operation<void> = effAction<void>((resolve) => {
  resolve();
  return noop;
});

function noop(): void {}

/** Checks a bench's result so no work can be optimized away and a broken bench shows. */
function expect(actual: unknown, expected: unknown): void {
  if (actual !== expected) {
    throw new Error(
      `Bench computed ${String(actual)}, not ${String(expected)}`,
    );
  }
}

// -----------------------------------------------------------------------------------------
// null-1

function* blueletSteps(n: number): bluelet.Coroutine<number> {
  let i = 0;
  while (i < n) {
    yield bluelet.null();
    i++;
  }
  return i;
}

function* blueletSleeps(n: number): bluelet.Coroutine<number> {
  let i = 0;
  while (i < n) {
    yield bluelet.sleep(0);
    i++;
  }
  return i;
}

function* bareSteps(n: number): Bare<number> {
  let i = 0;
  while (i < n) {
    yield PASS;
    i++;
  }
  return i;
}

async function asyncSteps(n: number): Promise<number> {
  let i = 0;
  while (i < n) {
    await null;
    i++;
  }
  return i;
}

function* effSteps(n: number): Operation<number> {
  let i = 0;
  while (i < n) {
    yield* effPass;
    i++;
  }
  return i;
}

Deno.bench({
  name: "trampoline: yield PASS",
  group: "null-1",
  baseline: true,
  fn(): void {
    expect(trampoline([bareSteps(STEPS)]), STEPS);
  },
});

Deno.bench({
  name: "bluelet: yield null()",
  group: "null-1",
  async fn(): Promise<void> {
    expect(await bluelet.run(blueletSteps(STEPS)), STEPS);
  },
});

Deno.bench({
  name: "bluelet: yield sleep(0)",
  group: "null-1",
  async fn(): Promise<void> {
    expect(await bluelet.run(blueletSleeps(STEPS)), STEPS);
  },
});

Deno.bench({
  name: "async: await null",
  group: "null-1",
  async fn(): Promise<void> {
    expect(await asyncSteps(STEPS), STEPS);
  },
});

Deno.bench({
  name: "effection: yield* action(r => r())",
  group: "null-1",
  async fn(): Promise<void> {
    expect(await effRun(() => effSteps(STEPS)), STEPS);
  },
});

// -----------------------------------------------------------------------------------------
// null-2

Deno.bench({
  name: "trampoline: 2 x yield PASS",
  group: "null-2",
  baseline: true,
  fn(): void {
    expect(trampoline([bareSteps(STEPS), bareSteps(STEPS)]), 2 * STEPS);
  },
});

Deno.bench({
  name: "bluelet: 2 x yield null()",
  group: "null-2",
  async fn(): Promise<void> {
    const total = await bluelet.run(
      function* (): bluelet.Coroutine<number> {
        const other = yield* bluelet.spawn(blueletSteps(STEPS));
        const mine = yield* bluelet.call(blueletSteps(STEPS));
        return mine + (yield* other);
      }(),
    );
    expect(total, 2 * STEPS);
  },
});

Deno.bench({
  name: "async: 2 x await null",
  group: "null-2",
  async fn(): Promise<void> {
    const [a, b] = await Promise.all([asyncSteps(STEPS), asyncSteps(STEPS)]);
    expect(a + b, 2 * STEPS);
  },
});

Deno.bench({
  name: "effection: 2 x yield* action(r => r())",
  group: "null-2",
  async fn(): Promise<void> {
    const total = await effRun(function* (): Operation<number> {
      const other = yield* effSpawn(() => effSteps(STEPS));
      const mine = yield* effSteps(STEPS);
      return mine + (yield* other);
    });
    expect(total, 2 * STEPS);
  },
});

// -----------------------------------------------------------------------------------------
// call

// deno-lint-ignore require-yield
function* blueletSub(i: number): bluelet.Coroutine<number> {
  return i & 1;
}

// deno-lint-ignore require-yield
function* bareSub(i: number): Bare<number> {
  return i & 1;
}

// deno-lint-ignore require-await
async function asyncSub(i: number): Promise<number> {
  return i & 1;
}

// deno-lint-ignore require-yield
function* effSub(i: number): Operation<number> {
  return i & 1;
}

Deno.bench({
  name: "trampoline: yield sub() (explicit stack)",
  group: "call",
  baseline: true,
  fn(): void {
    const total = trampolineStack(function* (): Bare<number> {
      let sum = 0;
      for (let i = 0; i < CALLS; i++) sum += (yield bareSub(i)) as number;
      return sum;
    }());
    expect(total, CALLS / 2);
  },
});

Deno.bench({
  name: "bluelet: yield* call(sub())",
  group: "call",
  async fn(): Promise<void> {
    const total = await bluelet.run(function* (): bluelet.Coroutine<number> {
      let sum = 0;
      for (let i = 0; i < CALLS; i++) {
        sum += yield* bluelet.call(blueletSub(i));
      }
      return sum;
    }());
    expect(total, CALLS / 2);
  },
});

Deno.bench({
  name: "bluelet: yield sub()",
  group: "call",
  async fn(): Promise<void> {
    const total = await bluelet.run(function* (): bluelet.Coroutine<number> {
      let sum = 0;
      for (let i = 0; i < CALLS; i++) sum += (yield blueletSub(i)) as number;
      return sum;
    }());
    expect(total, CALLS / 2);
  },
});

Deno.bench({
  name: "bluelet: yield* sub() (plain delegation)",
  group: "call",
  async fn(): Promise<void> {
    const total = await bluelet.run(function* (): bluelet.Coroutine<number> {
      let sum = 0;
      for (let i = 0; i < CALLS; i++) sum += yield* blueletSub(i);
      return sum;
    }());
    expect(total, CALLS / 2);
  },
});

Deno.bench({
  name: "async: await sub()",
  group: "call",
  async fn(): Promise<void> {
    let sum = 0;
    for (let i = 0; i < CALLS; i++) sum += await asyncSub(i);
    expect(sum, CALLS / 2);
  },
});

Deno.bench({
  name: "effection: yield* sub() (plain delegation)",
  group: "call",
  async fn(): Promise<void> {
    const total = await effRun(function* (): Operation<number> {
      let sum = 0;
      for (let i = 0; i < CALLS; i++) sum += yield* effSub(i);
      return sum;
    });
    expect(total, CALLS / 2);
  },
});

// -----------------------------------------------------------------------------------------
// spawn+join

// deno-lint-ignore require-await
async function asyncTiny(i: number): Promise<number> {
  return i & 1;
}

Deno.bench({
  name: "async: Promise.all of async fns",
  group: "spawn+join",
  baseline: true,
  async fn(): Promise<void> {
    const promises: Promise<number>[] = new Array(THREADS);
    for (let i = 0; i < THREADS; i++) promises[i] = asyncTiny(i);
    const values = await Promise.all(promises);
    let sum = 0;
    for (const value of values) sum += value;
    expect(sum, THREADS / 2);
  },
});

Deno.bench({
  name: "bluelet: yield* spawn + yield* task",
  group: "spawn+join",
  async fn(): Promise<void> {
    const total = await bluelet.run(function* (): bluelet.Coroutine<number> {
      const tasks: bluelet.Task<number>[] = new Array(THREADS);
      for (let i = 0; i < THREADS; i++) {
        tasks[i] = yield* bluelet.spawn(blueletSub(i));
      }
      let sum = 0;
      for (const task of tasks) sum += yield* task;
      return sum;
    }());
    expect(total, THREADS / 2);
  },
});

Deno.bench({
  name: "bluelet: yield spawn(gen) + yield join(gen)",
  group: "spawn+join",
  async fn(): Promise<void> {
    const total = await bluelet.run(function* (): bluelet.Coroutine<number> {
      const children: bluelet.Coroutine<number>[] = new Array(THREADS);
      for (let i = 0; i < THREADS; i++) {
        children[i] = blueletSub(i);
        yield bluelet.spawn(children[i]);
      }
      let sum = 0;
      for (const child of children) {
        sum += (yield bluelet.join(child)) as number;
      }
      return sum;
    }());
    expect(total, THREADS / 2);
  },
});

Deno.bench({
  name: "trampoline: spawn + join requests",
  group: "spawn+join",
  fn(): void {
    const total = trampolineThreads(function* (): Bare<number> {
      const threads: BareThread[] = new Array(THREADS);
      for (let i = 0; i < THREADS; i++) {
        threads[i] = (yield new SpawnRequest(bareSub(i))) as BareThread;
      }
      let sum = 0;
      for (const thread of threads) {
        sum += (yield new JoinRequest(thread)) as number;
      }
      return sum;
    }());
    expect(total, THREADS / 2);
  },
});

Deno.bench({
  name: "effection: spawn + yield* task",
  group: "spawn+join",
  n: 10,
  warmup: 2,
  async fn(): Promise<void> {
    const total = await effRun(function* (): Operation<number> {
      const tasks: EffTask<number>[] = new Array(THREADS);
      for (let i = 0; i < THREADS; i++) {
        tasks[i] = yield* effSpawn(() => effSub(i));
      }
      let sum = 0;
      for (const task of tasks) sum += yield* task;
      return sum;
    });
    expect(total, THREADS / 2);
  },
});

// -----------------------------------------------------------------------------------------
// promise wakes

const AWAITS = 10_000;

async function asyncAwaits(n: number): Promise<number> {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += await Promise.resolve(1);
  return sum;
}

function* blueletAwaits(n: number): bluelet.Coroutine<number> {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += (yield Promise.resolve(1)) as number;
  return sum;
}

Deno.bench({
  name: "async: await a resolved promise",
  group: "promise wakes",
  baseline: true,
  async fn(): Promise<void> {
    expect(await asyncAwaits(AWAITS), AWAITS);
  },
});

Deno.bench({
  name: "bluelet: yield a resolved promise",
  group: "promise wakes",
  async fn(): Promise<void> {
    expect(await bluelet.run(blueletAwaits(AWAITS)), AWAITS);
  },
});

Deno.bench({
  name: "bluelet: the same, beside a sleeping thread",
  group: "promise wakes",
  async fn(): Promise<void> {
    const total = await bluelet.run(function* (): bluelet.Coroutine<number> {
      const sleeper = yield* bluelet.spawn(bluelet.sleep(60_000));
      const sum = yield* bluelet.call(blueletAwaits(AWAITS));
      yield* bluelet.kill(sleeper);
      return sum;
    }());
    expect(total, AWAITS);
  },
});

// trace: the cost of `run(op, { trace: true })`, which records where every spawn and call
// was made, on spawn + join and on `yield* call(sub())`.

function* spawnAndJoin(): bluelet.Coroutine<number> {
  const tasks: bluelet.Task<number>[] = new Array(THREADS);
  for (let i = 0; i < THREADS; i++) tasks[i] = yield* bluelet.spawn(blueletSub(i));
  let sum = 0;
  for (const task of tasks) sum += yield* task;
  return sum;
}

function* typedCalls(): bluelet.Coroutine<number> {
  let sum = 0;
  for (let i = 0; i < THREADS; i++) sum += yield* bluelet.call(blueletSub(i));
  return sum;
}

for (const trace of [false, true]) {
  Deno.bench({
    name: `bluelet: spawn + join, trace ${trace ? "on" : "off"}`,
    group: "trace: spawn+join",
    baseline: !trace,
    async fn(): Promise<void> {
      expect(await bluelet.run(spawnAndJoin(), { trace }), THREADS / 2);
    },
  });
  Deno.bench({
    name: `bluelet: yield* call(sub()), trace ${trace ? "on" : "off"}`,
    group: "trace: call",
    baseline: !trace,
    async fn(): Promise<void> {
      expect(await bluelet.run(typedCalls(), { trace }), THREADS / 2);
    },
  });
}

// -----------------------------------------------------------------------------------------
// sleep(0), no timer: bluelet's `sleep(0)` is `null()`, so its peers are the other ways to
// give way without a timer, one microtask each. Many steps, as in null-1, so that the
// per-step cost, not `run`'s setup, is what the group compares.

async function asyncResolvedSteps(n: number): Promise<number> {
  let i = 0;
  while (i < n) {
    await Promise.resolve();
    i++;
  }
  return i;
}

Deno.bench({
  name: "async: await null",
  group: "sleep(0), no timer",
  baseline: true,
  async fn(): Promise<void> {
    expect(await asyncSteps(STEPS), STEPS);
  },
});

Deno.bench({
  name: "async: await Promise.resolve()",
  group: "sleep(0), no timer",
  async fn(): Promise<void> {
    expect(await asyncResolvedSteps(STEPS), STEPS);
  },
});

Deno.bench({
  name: "bluelet: yield sleep(0) (no timer)",
  group: "sleep(0), no timer",
  async fn(): Promise<void> {
    expect(await bluelet.run(blueletSleeps(STEPS)), STEPS);
  },
});

// -----------------------------------------------------------------------------------------
// sleep(0), timer: a real timer round trip per step (about 2 ms apart when nested, see
// DENO_FACTS), so few steps and few iterations. bluelet has no entry: its `sleep(0)` sets
// no timer.

function* effSleeps(n: number): Operation<number> {
  let i = 0;
  while (i < n) {
    yield* effSleep(0);
    i++;
  }
  return i;
}

async function asyncSleeps(n: number): Promise<number> {
  let i = 0;
  while (i < n) {
    await new Promise<void>((resolve) => setTimeout(resolve, 0));
    i++;
  }
  return i;
}

Deno.bench({
  name: "async: await setTimeout(0) promise",
  group: "sleep(0), timer",
  baseline: true,
  n: 10,
  warmup: 1,
  async fn(): Promise<void> {
    expect(await asyncSleeps(SLEEPS), SLEEPS);
  },
});

Deno.bench({
  name: "effection: yield* sleep(0) (a setTimeout)",
  group: "sleep(0), timer",
  n: 10,
  warmup: 1,
  async fn(): Promise<void> {
    expect(await effRun(() => effSleeps(SLEEPS)), SLEEPS);
  },
});

// -----------------------------------------------------------------------------------------
// null-1 (warm): must stay the last group.

Deno.bench({
  name: "trampoline: yield PASS (again)",
  group: "null-1 (warm)",
  baseline: true,
  fn(): void {
    expect(trampoline([bareSteps(STEPS)]), STEPS);
  },
});

Deno.bench({
  name: "bluelet: yield null() (warm kernel)",
  group: "null-1 (warm)",
  async fn(): Promise<void> {
    expect(await bluelet.run(blueletSteps(STEPS)), STEPS);
  },
});
