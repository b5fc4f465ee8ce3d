// Errors that tell their story: the coroutines and threads an error passed through.
import assert from "node:assert/strict";
import { type Connection, server } from "../../net/mod.ts";
import { MemoryListener, memoryPair } from "../../testing/mod.ts";
import {
  all,
  call,
  Channel,
  type Coroutine,
  DeadlockError,
  join,
  kill,
  moveOnAfter,
  type Operation,
  race,
  run,
  shield,
  sleep,
  snapshot,
  spawn,
  type Task,
  taskGroup,
  until,
  VirtualClock,
  withTimeout,
  yieldNow,
} from "../../mod.ts";

function* inner(): Coroutine<void> {
  yield* sleep(1);
  throw new Error("boom");
}
function* middle(): Coroutine<void> {
  yield* call(inner()); // a kernel frame of its own
}
function* outer(): Coroutine<void> {
  yield* middle(); // plain delegation
}

/** The lines of `stack` that name frames or threads, trimmed, without file positions. */
function storyOf(error: unknown): string[] {
  return String((error as Error).stack).split("\n").slice(1).map((line) =>
    line.trim().replace(/ \(file:[^)]*\)$/, "").replace(
      / \(spawned at file:[^)]*\)/,
      " (spawned at …)",
    )
  );
}

Deno.test("an error names the coroutines it passed through, innermost first, then its threads", async () => {
  const error = await run(
    function* main() {
      const worker = yield* spawn(outer(), { name: "worker" });
      yield* join(worker);
    }(),
    { clock: new VirtualClock(), name: "main" },
  ).catch((e) => e);
  assert.deepEqual(storyOf(error), [
    "at inner",
    "at middle",
    "at outer",
    'in thread 1 "worker", spawned by thread 0 "main"',
    "at main",
    'in thread 0 "main"',
  ]);
});

Deno.test("in trace mode, an error also says where each thread was spawned", async () => {
  const error = await run(
    function* main() {
      yield* join(yield* spawn(outer()));
    }(),
    { clock: new VirtualClock(), trace: true },
  ).catch((e) => e);
  const story = storyOf(error);
  assert.equal(story[3], "in thread 1 (spawned at …), spawned by thread 0");
  assert.match(String(error.stack), /spawned at file:\/\/\/.*story_test\.ts:\d+:\d+/);
});

Deno.test("in trace mode, a thread the library spawned (all's) names no site rather than an engine frame", async () => {
  function* leaf(): Coroutine<never> {
    yield* sleep(1);
    throw new Error("leaf failed");
  }
  function* worker(): Coroutine<void> {
    yield* spawn(leaf(), { name: "leaf" });
    yield* sleep(100);
  }
  const error = await run(all([worker(), sleep(50)]), { clock: new VirtualClock(), trace: true })
    .catch((e) => e);
  const stack = String(error.stack);
  assert.doesNotMatch(stack, /<anonymous>/);
  assert.match(
    stack,
    /in thread \d+ "leaf" \(spawned at file:\/\/\/.*story_test\.ts:\d+:\d+\), spawned by thread \d+, spawned by thread 0/,
  );
});

Deno.test("a story stops growing: an error rethrown through many frames keeps a bounded stack", async () => {
  function* rethrow(depth: number): Coroutine<void> {
    if (depth === 0) throw new Error("deep");
    yield* call(rethrow(depth - 1));
  }
  const error = await run(rethrow(1000)).catch((e) => e);
  assert.equal(error.message, "deep");
  assert.ok(String(error.stack).split("\n").length <= 110);
});

Deno.test("an error whose stack getter throws passes through untouched, to receivers and joiners", async () => {
  const odd = new Error("odd");
  Object.defineProperty(odd, "stack", {
    get() {
      throw new Error("stack getter threw");
    },
  });
  const channel = new Channel<number>();
  const caught: unknown[] = [];
  await run(
    function* () {
      const failing = yield* spawn(function* () {
        yield* sleep(1);
        throw odd;
      }());
      for (let i = 0; i < 2; i++) {
        yield* spawn(function* () {
          try {
            yield* channel.receive();
          } catch (error) {
            caught.push(error);
          }
        }());
      }
      try {
        yield* join(failing);
      } catch (error) {
        caught.push(error);
      }
      channel.close(odd);
    }(),
    { clock: new VirtualClock() },
  );
  assert.deepEqual(caught, [odd, odd, odd]);
});

Deno.test("a revoked proxy thrown by a thread passes through untouched, to its joiner", async () => {
  const { proxy, revoke } = Proxy.revocable(new Error("boom"), {});
  revoke();
  const caught = await run(
    function* () {
      const failing = yield* spawn(function* () {
        yield* sleep(1);
        throw proxy;
      }());
      try {
        yield* join(failing);
        return "joined";
      } catch (error) {
        return error === proxy ? "the proxy" : "something else";
      }
    }(),
    { clock: new VirtualClock() },
  );
  assert.equal(caught, "the proxy");
});

Deno.test("with Error.stackTraceLimit at 0, a story still names the frames a wait passed through", async () => {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    const channel = new Channel<number>();
    const error = await run(
      function* main() {
        yield* spawn(function* () {
          yield* sleep(1);
          channel.close(new Error("upstream"));
        }());
        yield* channel.receive();
      }(),
      { clock: new VirtualClock(), name: "main" },
    ).catch((e) => e);
    assert.deepEqual(storyOf(error), [
      'in thread 1, spawned by thread 0 "main"',
      "at main",
      'in thread 0 "main"',
    ]);
    assert.equal(Error.stackTraceLimit, 0);
  } finally {
    Error.stackTraceLimit = limit;
  }
});

Deno.test("values that are not errors, and frozen errors, pass through untouched", async () => {
  const frozen = Object.freeze(new Error("frozen"));
  const stack = frozen.stack;
  for (const thrown of ["a string", frozen]) {
    const caught = await run(function* () {
      yield* call(function* () {
        yield* yieldNow();
        throw thrown;
      }());
    }()).catch((e) => e);
    assert.equal(caught, thrown);
  }
  assert.equal(frozen.stack, stack);
});

Deno.test("snapshot() tells each live thread's state and what it waits on", async () => {
  const channel = new Channel<number>(0);
  const summaries = await run(
    function* () {
      const sleeper = yield* spawn(sleep(1000), { name: "sleeper" });
      const receiver = yield* spawn(channel.receive(), { name: "receiver" });
      const joiner = yield* spawn(join(sleeper), { name: "joiner" });
      const dying = yield* spawn(
        function* () {
          try {
            yield* sleep(1000);
          } finally {
            yield* sleep(10);
          }
        }(),
        { name: "dying" },
      );
      yield* sleep(1);
      yield* spawn(kill(dying), { name: "killer" });
      yield* sleep(1);
      const threads = yield* snapshot();
      for (const task of [joiner, receiver, sleeper]) yield* kill(task);
      return threads.map((thread) => thread.summary);
    }(),
    { clock: new VirtualClock(), name: "main" },
  );
  assert.deepEqual(summaries, [
    'thread 0 "main" running',
    'thread 1 "sleeper" sleeping: sleep until 1000',
    'thread 2 "receiver" suspended: receive(Channel)',
    'thread 3 "joiner" joining: join(thread 1 "sleeper")',
    'thread 4 "dying" being killed, sleeping: sleep until 11',
    'thread 5 "killer" killing: kill(thread 4 "dying")',
  ]);
});

Deno.test("snapshot() in trace mode shows each thread's call stack, innermost first", async () => {
  const threads = await run(
    function* () {
      yield* spawn(function* () {
        yield* call(function* () {
          yield* sleep(100);
        }());
      }());
      yield* sleep(1);
      return yield* snapshot();
    }(),
    { clock: new VirtualClock(), trace: true },
  );
  const child = threads[1];
  assert.equal(child.depth, 2);
  assert.equal(child.stack.length, 2);
  for (const site of child.stack) assert.match(site, /story_test\.ts:\d+:\d+$/);
  assert.equal(child.spawnedBy, 0);
});

Deno.test("snapshot() in trace mode gives the root one stack entry per frame, calls or none", async () => {
  const [plain] = await run(
    function* () {
      return yield* snapshot();
    }(),
    { trace: true },
  );
  assert.deepEqual([plain.depth, plain.stack], [1, ["(the root of the run)"]]);
  const [called] = await run(
    function* () {
      return yield* call(function* () {
        return yield* snapshot();
      }());
    }(),
    { trace: true },
  );
  assert.equal(called.depth, 2);
  assert.equal(called.stack[1], "(the root of the run)");
  assert.match(called.stack[0], /story_test\.ts:\d+:\d+$/);
  const [untraced] = await run(function* () {
    return yield* snapshot();
  }());
  assert.deepEqual(untraced.stack, []);
});

Deno.test("a deadlock names each stuck thread by its name", async () => {
  const error = await run(function* () {
    const tasks: Task<void>[] = [];
    tasks.push(
      yield* spawn(
        function* () {
          yield* yieldNow();
          yield* join(tasks[1]);
        }(),
        { name: "left" },
      ),
    );
    tasks.push(yield* spawn(join(tasks[0]), { name: "right" }));
  }()).catch((e) => e);
  assert.ok(error instanceof DeadlockError);
  assert.match(
    error.message,
    /thread 1 "left" waits on join\(thread 2 "right"\); thread 2 "right" waits on join\(thread 1 "left"\)/,
  );
});

/** The line of the code that calls this: to name the line of an event in an assertion. */
function lineHere(): number {
  return Number(/:(\d+):\d+\)?$/.exec(new Error().stack!.split("\n")[2])![1]);
}

/** `site` with this file's URL cut to `story_test.ts` and its column dropped. */
function shortSite(site: string): string {
  return site.replace(/file:\/\/\/[^ )]*\/story_test\.ts:(\d+):\d+/, "story_test.ts:$1");
}

Deno.test("in trace mode, what the library spawned or called says so, never naming an engine frame", async () => {
  // Driven from a timer, the kernel's stack ends in Deno's own frames, and a library
  // spawn's stack is longer than the engine keeps by default: neither may be taken for a
  // site, nor an empty one for a spawn before tracing began.
  let callLine = 0;
  const threads = await run(
    function* main() {
      yield* sleep(1); // from here on a timer drives the kernel
      callLine = lineHere() + 2;
      const runner = yield* spawn(all([sleep(5), sleep(5)]), { name: "all" });
      const threads = yield* withTimeout(1000, snapshot());
      yield* join(runner);
      return threads;
    }(),
    { trace: true, name: "main" },
  );
  assert.deepEqual(
    threads.map((thread) => [thread.id, thread.stack.map(shortSite)]),
    [
      [0, ["(called by the library)", `story_test.ts:${callLine}`, "(the root of the run)"]],
      // `all` makes its call where it is called; what it runs then is the library's.
      [1, [
        "(called by the library)",
        `story_test.ts:${callLine - 1}`,
        `story_test.ts:${callLine - 1}`,
      ]],
      [2, ["(spawned by the library)"]],
      [3, ["(spawned by the library)"]],
      // withTimeout's threads: the snapshot and the timer.
      [4, ["(spawned by the library)"]],
      [5, ["(spawned by the library)"]],
    ],
  );
});

Deno.test("in trace mode, a user's coroutine that a combinator runs in a thread of its own was called by the library", async () => {
  function* work(): Coroutine<void> {
    yield* sleep(500);
  }
  const cases: [string, () => Operation<unknown>][] = [
    ["withTimeout", () => withTimeout(1000, work())],
    ["moveOnAfter", () => moveOnAfter(1000, work())],
    ["all", () => all([work()])],
    ["race", () => race([work(), sleep(2000)])],
  ];
  for (const [name, make] of cases) {
    const threads = await run(
      function* main() {
        yield* spawn(make(), { name });
        yield* sleep(1);
        return yield* snapshot();
      }(),
      { clock: new VirtualClock(), trace: true, name: "main" },
    );
    // The thread running `work`: the user never wrote a `yield gen` for it.
    const worker = threads.find((thread) => thread.waitsOn === "sleep until 500")!;
    assert.deepEqual(worker.stack, ["(called by the library)", "(spawned by the library)"], name);
  }
});

Deno.test("in trace mode, an error's story names no engine frame for a thread the library spawned", async () => {
  function* leaf(): Coroutine<never> {
    yield* sleep(1);
    throw new Error("leaf failed");
  }
  let spawnLine = 0;
  function* worker(): Coroutine<void> {
    spawnLine = lineHere() + 1;
    yield* spawn(leaf(), { name: "leaf" });
    yield* sleep(100);
  }
  const error = await run(
    function* main() {
      yield* sleep(1); // from here on a timer drives the kernel
      yield* all([worker(), sleep(50)]);
    }(),
    { trace: true, name: "main" },
  ).catch((e) => e);
  const story = String(error.stack).split("\n").map((line) => shortSite(line.trim()));
  assert.equal(
    story.find((line) => line.startsWith("in thread")),
    `in thread 3 "leaf" (spawned at story_test.ts:${spawnLine}), spawned by thread 1, spawned by thread 0 "main"`,
  );
});

Deno.test("in trace mode, a server's threads say the library spawned them, however deep its stack", async () => {
  // The server spawns each connection's thread from generators nested with `yield*`: the
  // frames captured there (10, the engine's default) are all the library's and kernel's.
  const listener = new MemoryListener();
  function* handler(conn: Connection): Coroutine<void> {
    yield* conn.readline();
  }
  let serverLine = 0;
  const threads = await run(
    function* () {
      serverLine = lineHere() + 1;
      const serving = yield* spawn(server(listener, handler), { name: "server" });
      using _conn = yield* listener.connect();
      yield* sleep(1);
      const threads = yield* snapshot();
      yield* kill(serving);
      return threads;
    }(),
    { clock: new VirtualClock(), trace: true },
  );
  assert.deepEqual(threads.map((thread) => [thread.id, thread.stack.map(shortSite)]), [
    [0, ["(the root of the run)"]],
    [1, ["(called by the library)", `story_test.ts:${serverLine}`]],
    [2, ["(spawned by the library)"]],
    [3, ["(spawned by the library)"]],
  ]);
});

Deno.test("snapshot() in trace mode shows a shield's frame where it was shielded, not an ended call's site", async () => {
  function* ended(): Coroutine<void> {
    yield* sleep(1);
  }
  function* stackHere(): Coroutine<readonly string[]> {
    return (yield* snapshot())[0].stack;
  }
  let shieldLine = 0;
  const stacks = await run(
    function* () {
      yield* call(ended()); // its frame was where the shield's is now
      shieldLine = lineHere() + 1;
      const typed = yield* shield(stackHere());
      yield* call(ended());
      const bluelet = yield shield(stackHere()); // the event records its site, yield or yield*
      return [typed, bluelet as readonly string[]];
    }(),
    { clock: new VirtualClock(), trace: true },
  );
  assert.deepEqual(stacks.map((stack) => stack.map(shortSite)), [
    [`story_test.ts:${shieldLine}`, "(the root of the run)"],
    [`story_test.ts:${shieldLine + 2}`, "(the root of the run)"],
  ]);
});

const LIBRARY = [
  new URL("../../scheduler/", import.meta.url).href,
  new URL("../../net/", import.meta.url).href,
];

/** `storyOf(error)` without the library's own frames (where it made an error). */
function userStoryOf(error: unknown): string[] {
  const own = String((error as Error).stack).split("\n").slice(1).map((line) =>
    LIBRARY.some((dir) => line.includes(dir))
  );
  return storyOf(error).filter((_, i) => !own[i]);
}

Deno.test("an error the library made (a timeout) tells no frame of the kernel or of what drove it", async (t) => {
  function* fetchPage(): Coroutine<void> {
    yield* sleep(1000);
  }
  function* crawl(): Coroutine<void> {
    yield* withTimeout(10, fetchPage());
  }
  for (const clock of [new VirtualClock(), undefined]) {
    await t.step(clock === undefined ? "real clock" : "virtual clock", async () => {
      const error = await run(
        function* main() {
          yield* join(yield* spawn(crawl(), { name: "crawler" }));
        }(),
        { clock, name: "main" },
      ).catch((e) => e);
      assert.equal(error.name, "TimeoutError");
      assert.doesNotMatch(String(error.stack), /kernel\.ts|run\.ts|ext:|node:|<anonymous>/);
      assert.deepEqual(userStoryOf(error), [
        "at crawl",
        'in thread 1 "crawler", spawned by thread 0 "main"',
        "at main",
        'in thread 0 "main"',
      ]);
    });
  }
});

Deno.test("a KilledError tells no frame of the kernel", async () => {
  const error = await run(
    function* main() {
      const sleeper = yield* spawn(sleep(100));
      yield* spawn(kill(sleeper));
      yield* join(sleeper);
    }(),
    { clock: new VirtualClock(), name: "main" },
  ).catch((e) => e);
  assert.equal(error.name, "KilledError");
  assert.deepEqual(storyOf(error), ["at main", 'in thread 0 "main"']);
});

Deno.test("an error thrown into a wait many frames deep names every frame it passed through", async () => {
  const channel = new Channel<number>();
  function* level(n: number): Coroutine<void> {
    if (n === 0) yield* channel.receive();
    else yield* level(n - 1);
  }
  const error = await run(
    function* main() {
      yield* spawn(function* () {
        yield* sleep(1);
        channel.close(new Error("closed"));
      }());
      yield* level(12);
    }(),
    { clock: new VirtualClock(), name: "main" },
  ).catch((e) => e);
  const story = storyOf(error);
  assert.equal(story.filter((line) => line === "at level").length, 13);
  assert.deepEqual(story.slice(-2), ["at main", 'in thread 0 "main"']);
});

Deno.test("an error handed to two joiners tells each its own way, not the other's", async () => {
  const stories: string[][] = [];
  function* work(): Coroutine<void> {
    yield* sleep(5);
    throw new Error("work failed");
  }
  function* watcherA(task: Task<void>): Coroutine<void> {
    try {
      yield* join(task);
    } catch (error) {
      stories.push(storyOf(error));
    }
  }
  function* watcherB(task: Task<void>): Coroutine<void> {
    yield* sleep(10);
    try {
      yield* join(task);
    } catch (error) {
      stories.push(storyOf(error));
    }
  }
  await run(
    function* () {
      const task = yield* spawn(work(), { name: "worker" });
      yield* spawn(watcherA(task));
      yield* spawn(watcherB(task));
    }(),
    { clock: new VirtualClock() },
  );
  assert.deepEqual(stories, [
    ["at work", 'in thread 1 "worker", spawned by thread 0', "at watcherA"],
    ["at work", 'in thread 1 "worker", spawned by thread 0', "at watcherB"],
  ]);
});

Deno.test("an error a channel was closed with tells each receiver its own way", async () => {
  const stories: string[][] = [];
  const channel = new Channel<number>();
  function* consumer(): Coroutine<void> {
    try {
      yield* channel.receive();
    } catch (error) {
      stories.push(storyOf(error));
    }
  }
  function* producer(): Coroutine<void> {
    yield* sleep(1);
    channel.close(new Error("upstream gone"));
  }
  await run(
    function* () {
      yield* spawn(consumer(), { name: "c0" });
      yield* spawn(consumer(), { name: "c1" });
      yield* spawn(producer());
    }(),
    { clock: new VirtualClock() },
  );
  // The producer's thread first: the consumers' frames are of other threads.
  const closed = ["at producer", "in thread 3, spawned by thread 0"];
  assert.deepEqual(stories, [[...closed, "at consumer"], [...closed, "at consumer"]]);
});

Deno.test("a deadlock names the connection a thread waits to read or write, and a task group's named child", async () => {
  const [client, server] = memoryPair();
  const error = await run(
    taskGroup(function* (group) {
      yield* group.spawn(server.readline(), { name: "reader" });
      yield* group.spawn(client.recv(10), { name: "other reader" });
    }),
    { clock: new VirtualClock() },
  ).catch((e) => e);
  assert.ok(error instanceof DeadlockError, String(error));
  assert.match(error.message, /thread \d+ "reader" waits on readline from [^;)]+:\d+/);
  assert.match(error.message, /thread \d+ "other reader" waits on recv\(10\) from [^;)]+:\d+/);
});

Deno.test("each joiner of a failed thread tells its own way on, not another joiner's", async () => {
  function* leaf(): Coroutine<void> {
    yield* sleep(5);
    throw new Error("leaf failed");
  }
  function* joinerA(task: Task<void>): Coroutine<void> {
    yield* join(task);
  }
  function* joinerB(task: Task<void>): Coroutine<void> {
    yield* join(task);
  }
  let caught: Error | undefined;
  const rejected = await run(
    function* main(): Coroutine<void> {
      const leafy = yield* spawn(leaf(), { name: "leafy" });
      const a = yield* spawn(joinerA(leafy), { name: "A" });
      yield* spawn(joinerB(leafy), { name: "B" });
      try {
        yield* join(a);
      } catch (error) {
        caught = error as Error;
      }
    }(),
    { clock: new VirtualClock(), name: "main" },
  ).catch((error: Error) => error);
  // One error object goes both ways: B's way ends the run, after A's was told.
  assert.equal(caught, undefined); // the run ended with B's before main could catch A's
  assert.deepEqual(storyOf(rejected), [
    "at leaf",
    'in thread 1 "leafy", spawned by thread 0 "main"',
    "at joinerB",
    'in thread 3 "B", spawned by thread 0 "main"',
  ]);
});

Deno.test("an error a thread closes a channel with says which thread closed it, before each receiver's way", async () => {
  const channel = new Channel<number>();
  function* closer(): Coroutine<void> {
    yield* sleep(1);
    channel.close(new Error("producer gave up"));
  }
  const stories: string[][] = [];
  function* receiver(): Coroutine<void> {
    try {
      yield* channel.receive();
    } catch (error) {
      stories.push(storyOf(error));
    }
  }
  await run(
    function* main(): Coroutine<void> {
      yield* spawn(receiver(), { name: "a" });
      yield* spawn(receiver(), { name: "b" });
      yield* spawn(closer(), { name: "closer" });
    }(),
    { clock: new VirtualClock(), name: "main" },
  );
  const closed = ["at closer", 'in thread 3 "closer", spawned by thread 0 "main"'];
  assert.deepEqual(stories, [[...closed, "at receiver"], [...closed, "at receiver"]]);
  // Closed from outside any thread's step (a timer's callback): no thread to name.
  const outside = new Channel<number>();
  setTimeout(() => outside.close(new Error("closed from a timer")), 1);
  const later = new Promise((resolve) => setTimeout(resolve, 5)); // the run waits on it
  const error = await run(
    function* main(): Coroutine<void> {
      yield* all([outside.receive(), until(later)]);
    }(),
    { name: "main" },
  ).catch((error) => error);
  await later;
  assert.equal((error as Error).message, "closed from a timer");
  assert.deepEqual(storyOf(error).filter((line) => !line.startsWith("at ")), [
    'in thread 0 "main"',
  ]);
});

Deno.test("an error a thread closes a channel with, then throws itself, names that thread once", async () => {
  const first = new Channel<number>();
  const second = new Channel<number>();
  function* producer(): Coroutine<void> {
    try {
      yield* sleep(1);
      throw new Error("disk on fire");
    } catch (error) {
      first.close(error);
      second.close(error);
      first.close(error); // again: nothing happens
      throw error;
    }
  }
  const error = await run(
    function* main(): Coroutine<void> {
      yield* spawn(producer(), { name: "producer" });
      yield* sleep(5);
    }(),
    { clock: new VirtualClock(), name: "main" },
  ).catch((error) => error);
  assert.deepEqual(storyOf(error), [
    "at producer",
    'in thread 1 "producer", spawned by thread 0 "main"',
  ]);
});

Deno.test("a joiner that holds a failed thread's error while another takes it keeps its own frame in the story", async () => {
  function* failer(): Coroutine<void> {
    yield* sleep(1);
    throw new Error("E");
  }
  function* joinerOne(task: Task<void>): Coroutine<void> {
    try {
      yield* join(task);
    } catch (error) {
      yield* sleep(2); // holds the error while joinerTwo takes it
      throw error;
    }
  }
  function* joinerTwo(task: Task<void>): Coroutine<void> {
    try {
      yield* join(task);
    } catch {
      // kept
    }
  }
  const error = await run(
    function* main(): Coroutine<void> {
      const task = yield* spawn(failer(), { name: "failer" });
      yield* spawn(joinerOne(task), { name: "J1" });
      yield* spawn(joinerTwo(task), { name: "J2" });
      yield* sleep(10);
    }(),
    { clock: new VirtualClock(), name: "main" },
  ).catch((error) => error);
  const story = storyOf(error);
  // One error tells one story: J2's frame is in it too, but J1's is not lost to it.
  assert.deepEqual(story.slice(0, 3), [
    "at failer",
    'in thread 1 "failer", spawned by thread 0 "main"',
    "at joinerOne",
  ]);
  assert.equal(story.at(-1), 'in thread 2 "J1", spawned by thread 0 "main"');
});

Deno.test("a story names a few threads of a long lineage, and the spawners let go as a count, then the root", async () => {
  // A restart loop: each link spawns the next and ends, and the 30th fails.
  function* restarting(n: number): Coroutine<void> {
    if (n === 30) throw new Error("link 30 failed");
    yield* spawn(restarting(n + 1));
  }
  const restarted = await run(
    function* main() {
      yield* spawn(restarting(1));
    }(),
    { clock: new VirtualClock(), name: "main" },
  ).catch((e) => e);
  assert.ok(
    storyOf(restarted).includes(
      'in thread 30, spawned by thread 29, descends from thread 0 "main", 29 generations up',
    ),
    storyOf(restarted).join("\n"),
  );
  // Each link spawns the next and waits for it: all 30 are live when the last fails.
  function* nested(n: number): Coroutine<void> {
    if (n === 30) throw new Error("link 30 failed");
    yield* join(yield* spawn(nested(n + 1)));
  }
  const deep = await run(
    function* main() {
      yield* join(yield* spawn(nested(1)));
    }(),
    { clock: new VirtualClock(), name: "main" },
  ).catch((e) => e);
  const threads = Array.from({ length: 9 }, (_, i) => `thread ${30 - i}`).join(", spawned by ");
  assert.equal(
    storyOf(deep).filter((line) => line.startsWith("in thread 30"))[0],
    `in ${threads}, descends from thread 0 "main", 22 generations up`,
  );
});

Deno.test("an error object thrown again round after round keeps a bounded story that ends with the newest round", async () => {
  // A sentinel error shared by every round's worker: its story is one, and would grow.
  const unavailable = new Error("upstream down");
  function* worker(): Coroutine<void> {
    yield* sleep(1);
    throw unavailable;
  }
  const stories: string[][] = [];
  await run(
    function* main() {
      for (let i = 0; i < 200; i++) {
        try {
          yield* join(yield* spawn(worker(), { name: `w${i}` }));
        } catch (error) {
          stories.push(storyOf(error));
        }
      }
    }(),
    { clock: new VirtualClock(), name: "main" },
  );
  const threads = (story: string[]) => story.filter((line) => line.startsWith("in thread"));
  assert.deepEqual(threads(stories[1]), [
    'in thread 1 "w0", spawned by thread 0 "main"',
    'in thread 2 "w1", spawned by thread 0 "main"',
  ]);
  const last = stories[199];
  assert.ok(last.length <= 100, `${last.length} lines`);
  assert.equal(threads(last)[0], 'in thread 1 "w0", spawned by thread 0 "main"');
  assert.match(
    last.find((line) => line.includes("left out"))!,
    /^… \d+ lines of this story left out …$/,
  );
  assert.deepEqual(last.slice(-2), ['in thread 200 "w199", spawned by thread 0 "main"', "at main"]);
});

Deno.test("on the real clock, a sleep's wait says how long is left, not a clock reading", async () => {
  const { threads, timedOut } = await run(function* main() {
    const sleeper = yield* spawn(sleep(60_000), { name: "sleeper" });
    yield* yieldNow(); // it starts to sleep
    const threads = yield* snapshot();
    yield* kill(sleeper);
    const timedOut = yield* call(function* () {
      try {
        yield* withTimeout(1, sleep(60_000));
        return "no timeout (wrong)";
      } catch (error) {
        return String(error);
      }
    }());
    return { threads, timedOut };
  }());
  const waitsOn = threads.find((thread) => thread.name === "sleeper")!.waitsOn;
  const left = Number(/^sleep with ([\d.]+) ms left$/.exec(waitsOn)?.[1]);
  assert.ok(left > 50_000 && left <= 60_000, waitsOn);
  const limited = Number(
    /^TimeoutError: .* waiting on sleep with ([\d.]+) ms left$/.exec(timedOut)?.[1],
  );
  assert.ok(limited > 50_000 && limited <= 60_000, timedOut);
});
