import { deepEqual, equal, match, ok, rejects } from "node:assert/strict";
import {
  AddressInUseError,
  all,
  connect,
  ConnectError,
  type Connection,
  ConnectionRefusedError,
  type Coroutine,
  moveOnAfter,
  run,
  serveWorkers,
  type ServeWorkersOptions,
  until,
  withTimeout,
  type WorkerServer,
} from "../../mod.ts";
import { withDeadline } from "../examples/_process.ts";
import { text, underUlimit } from "./_helpers.ts";

const HANDLER = new URL("./_worker_handler.ts", import.meta.url);
const DIES = new URL("./_worker_dies.ts", import.meta.url);
const FAILS_ON_STOP = new URL("./_worker_fails_on_stop.ts", import.meta.url);
const SLOW_START = new URL("./_worker_slow_start.ts", import.meta.url);
const LISTENER_ENDS = new URL("./_worker_listener_ends.ts", import.meta.url);
const EXITS_WHILE_STARTING = new URL("./_worker_exits_while_starting.ts", import.meta.url);
const DIES_SCRIPT = new URL("./_workers_dies_default.ts", import.meta.url).pathname;
const EXIT_SCRIPT = new URL("./_workers_exit.ts", import.meta.url).pathname;
const NO_FLAG_SCRIPT = new URL("./_workers_no_flag.ts", import.meta.url).pathname;
const FD_SERVER = new URL("./_workers_fd_server.ts", import.meta.url).pathname;
const TOO_MANY_SCRIPT = new URL("./_workers_too_many.ts", import.meta.url).pathname;

/** Connects, sends `line`, and gives the name of the Worker that answered. */
function* whoServes(port: number, line = "who?"): Coroutine<string> {
  using conn = yield* connect("127.0.0.1", port);
  yield* conn.sendall(`${line}\n`);
  return text(yield* conn.readline()).trim();
}

Deno.test("serveWorkers() spreads connections over more than one worker", async () => {
  await using workers = await serveWorkers(HANDLER, { workers: 2 });
  equal(workers.workers, 2);
  const names = await run(
    all(Array.from({ length: 40 }, () => whoServes(workers.port))),
  );
  // 40 connections from distinct ports, hashed over 2 listeners: all on one is 2^-39.
  deepEqual([...new Set(names)].sort(), ["bluelet-worker-1", "bluelet-worker-2"]);
});

Deno.test("serveWorkers() shutdown stops every worker: handlers end, the port is closed", async () => {
  const errors: Error[] = [];
  const workers = await serveWorkers(HANDLER, {
    workers: 2,
    onWorkerError: (error) => errors.push(error),
  });
  const record: string[] = [];
  await run(function* () {
    using conn = yield* connect("127.0.0.1", workers.port);
    yield* conn.sendall("who?\n");
    record.push(`served by ${text(yield* conn.readline()).trim().replace(/\d$/, "N")}`);
    yield* until(workers.shutdown());
    record.push("shut down");
    // The handler was killed: its `finally` ran, then its connection was closed.
    record.push(`then ${JSON.stringify(text(yield* conn.recv(100)))}`);
    record.push(`then ${JSON.stringify(text(yield* conn.recv(100)))}`);
  }());
  deepEqual(record, ["served by bluelet-worker-N", "shut down", 'then "bye\\n"', 'then ""']);
  await rejects(run(connect("127.0.0.1", workers.port)), ConnectionRefusedError);
  await workers.shutdown(); // again: the same, finished, shutdown
  deepEqual(errors, []); // a handler killed by a requested shutdown is no failure
});

Deno.test("serveWorkers() shutdown leaves nothing behind: the process exits by itself", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--unstable-net", "--allow-net=127.0.0.1", "--allow-read", EXIT_SCRIPT],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // A guard against hanging, not a timing assertion: a Worker left running keeps the
  // process alive forever.
  const guard = setTimeout(() => child.kill("SIGKILL"), 30_000);
  const output = await child.output();
  clearTimeout(guard);
  equal(new TextDecoder().decode(output.stderr), "");
  equal(output.signal, null);
  equal(new TextDecoder().decode(output.stdout), "served by bluelet-worker-N, shut down\n");
});

Deno.test("serveWorkers() without --unstable-net throws an Error saying so, and the process goes on", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    // --no-config: the repository's deno.json turns the flag on.
    args: ["run", "--no-config", "--allow-net=127.0.0.1", "--allow-read", NO_FLAG_SCRIPT],
    stdout: "piped",
    stderr: "piped",
  }).output();
  equal(new TextDecoder().decode(output.stderr), "");
  equal(output.code, 0);
  equal(
    new TextDecoder().decode(output.stdout),
    "Error: Cannot serve in workers: Deno runs without the --unstable-net flag, which reusePort needs\n",
  );
});

Deno.test("serveWorkers() fails to start when the module lacks the export, leaving no worker", async () => {
  await rejects(
    serveWorkers(HANDLER, { workers: 2, exportName: "missing" }),
    {
      message: `Cannot serve in a worker: ${HANDLER} exports no function named missing`,
    },
  );
});

Deno.test("serveWorkers() whose handler module never finishes loading ends its start when its signal aborts, leaving no worker", async () => {
  const hangs = new URL(
    "data:text/javascript,await new Promise(() => {}); export function* handler() {}",
  );
  const stop = new AbortController();
  const record: string[] = [];
  const starting = serveWorkers(hangs, { workers: 2, signal: stop.signal, stopTimeout: 500 })
    .then(() => "started", (error: Error) => `start failed: ${error.message}`);
  setTimeout(() => {
    record.push("abort");
    stop.abort(new Error("gave up waiting"));
  }, 200);
  record.push(await withDeadline(starting, "the start"));
  deepEqual(record, ["abort", "start failed: gave up waiting"]);
  // Already aborted: nothing starts.
  await rejects(serveWorkers(HANDLER, { workers: 1, signal: stop.signal }), {
    message: "gave up waiting",
  });
});

Deno.test("serveWorkers() aborted in the last turns of its start does not resolve with Workers serving", async () => {
  // The abort is made a few microtasks after the last Worker says it listens: wherever it
  // lands, the start rejects, or what it resolved with is shut down.
  const handler = new URL("data:text/javascript,export function* handler() {}");
  const onmessage = Object.getOwnPropertyDescriptor(MessagePort.prototype, "onmessage")!;
  let depth = 0;
  let listening = 0;
  let stop: AbortController | null = null;
  Object.defineProperty(MessagePort.prototype, "onmessage", {
    configurable: true,
    get() {
      return onmessage.get!.call(this);
    },
    set(receive) {
      onmessage.set!.call(
        this,
        receive === null ? null : (event: MessageEvent) => {
          receive(event);
          const told = event.data && typeof event.data === "object" && "listening" in event.data;
          if (stop !== null && told && --listening === 0) {
            const aborter = stop;
            stop = null;
            let later = Promise.resolve();
            for (let i = 0; i < depth; i++) later = later.then(() => {});
            later.then(() => aborter.abort(new Error(`aborted ${depth} microtasks later`)));
          }
        },
      );
    },
  });
  try {
    for (depth = 0; depth <= 6; depth++) {
      const aborter = stop = new AbortController();
      listening = 2;
      const workers = await serveWorkers(handler, { workers: 2, signal: aborter.signal })
        .catch((error: Error) => error.message);
      if (typeof workers === "string") {
        equal(workers, `aborted ${depth} microtasks later`);
        continue;
      }
      // Resolved: the abort came after, and shuts the Workers down by itself.
      for (let waits = 0; workers.serving > 0 && waits < 300; waits++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      equal(workers.serving, 0, `Workers still serving after an abort ${depth} microtasks late`);
      await withDeadline(workers.shutdown(), "the shutdown");
    }
  } finally {
    Object.defineProperty(MessagePort.prototype, "onmessage", onmessage);
  }
});

Deno.test("serveWorkers() shuts its workers down when its signal aborts after they started", async () => {
  const stop = new AbortController();
  const workers = await serveWorkers(HANDLER, { workers: 2, signal: stop.signal });
  equal(workers.serving, 2);
  stop.abort();
  await withDeadline(workers.shutdown(), "the shutdown"); // the one the signal began
  equal(workers.serving, 0);
  await rejects(run(connect("127.0.0.1", workers.port)), ConnectionRefusedError);
});

Deno.test("serveWorkers() fails to start when a worker's module throws, leaving no worker", async () => {
  const broken = new URL("data:text/javascript,throw new Error('broken')");
  await rejects(serveWorkers(broken, { workers: 2 }), (error: Error) => {
    equal(error.message, "Cannot serve in a worker: broken");
    equal((error.cause as Error).message, "broken");
    return true;
  });
});

Deno.test("serveWorkers() fails to start with all a worker threw before it listened, and reports none of it", async () => {
  const twice = new URL(
    "data:text/javascript,setTimeout(() => { throw new Error('then a timer') }); throw new Error('the load');",
  );
  const reported: Error[] = [];
  await rejects(
    serveWorkers(twice, { workers: 1, onWorkerError: (error) => reported.push(error) }),
    (error: Error) => {
      equal(error.message, "Cannot serve in a worker: the load");
      ok(error.cause instanceof SuppressedError, String(error.cause));
      equal(error.cause.error.message, "then a timer");
      equal(error.cause.suppressed.message, "the load");
      return true;
    },
  );
  deepEqual(reported, []);
});

Deno.test("serveWorkers() fails to start when a worker dies before it listens, leaving no worker", async () => {
  // The module never finishes loading; a timer kills its Worker meanwhile.
  const stuck = new URL(
    "data:text/javascript,setTimeout(() => { throw new Error('early') }); await new Promise(() => {});",
  );
  await rejects(withDeadline(serveWorkers(stuck, { workers: 2 }), "starting"), {
    message: "Cannot serve in a worker: early",
  });
});

/**
 * Starts `workers` Workers of `module` (with `stopTimeout`, if given), collecting what
 * `onWorkerError` receives; `reported` settles at the first report.
 */
async function serveReporting(module: URL, workers: number, stopTimeout?: number) {
  const errors: Error[] = [];
  const reported = Promise.withResolvers<void>();
  const server = await withDeadline(
    serveWorkers(module, {
      workers,
      stopTimeout,
      onWorkerError(error) {
        errors.push(error);
        reported.resolve();
      },
    }),
    "starting",
  );
  return { workers: server, errors, reported: reported.promise };
}

/**
 * Starts one Worker of `_worker_listener_ends.ts`, sends it `line`, waits for the report
 * and shuts down; gives what `onWorkerError` received.
 */
async function reportsOf(line: string): Promise<Error[]> {
  const { workers, errors, reported } = await serveReporting(LISTENER_ENDS, 1);
  try {
    await withDeadline(run(whoServes(workers.port, line)), "the reply");
    await withDeadline(reported, "the report");
  } finally {
    await withDeadline(workers.shutdown(), "the shutdown");
  }
  return errors;
}

/**
 * How a handler's module kills its Worker (see _worker_dies.ts), and what the report then
 * says. `Deno.exit` cannot wait for the server to stop first: its Worker ends on the spot
 * and its listener with it, a moment after the report, so new clients are not checked.
 */
const DEATHS = [
  { how: "throw", says: "thrown from a timer", closedFirst: true },
  { how: "reject", says: "rejected, unhandled", closedFirst: true },
  { how: "close", says: "close() was called", closedFirst: true },
  { how: "exit", says: "Deno.exit(3) was called", closedFirst: false },
  { how: "odd", says: "[object Object]", closedFirst: true },
  { how: "unprintable", says: "[object Object]", closedFirst: true },
  {
    how: "revoked",
    says: "a value that can be neither cloned nor printed was thrown",
    closedFirst: true,
  },
];

/**
 * Listeners of the module's own that hear of its error and leave it unhandled (see
 * _worker_dies.ts): the Worker stops all the same, the way shutdown does.
 */
const UNHANDLING = [
  { listener: "stops", does: "a listener that stops the propagation" },
  { listener: "adds", does: "a listener that adds a listener" },
  { listener: "lazy", does: "a listener that makes a global Deno makes on first use" },
  { listener: "late", does: "a listener that prevents the default after the dispatch" },
  { listener: "passive", does: "a passive listener that prevents the default" },
  { listener: "drops", does: "a listener that drops Node's process listener" },
  { listener: "redispatches", does: "a listener that has it handled in a dispatch, later" },
  { listener: "wraps", does: "a module that wraps dispatchEvent" },
  { listener: "binds", does: "a module that wraps dispatchEvent in an AsyncLocalStorage" },
  { listener: "freezes", does: "a module that freezes Error" },
  { listener: "limits", does: "a module that makes Error.stackTraceLimit read-only" },
  { listener: "emits", does: "a module that sends dispatchEvent through an EventEmitter" },
  { listener: "buses", does: "a module that sends dispatchEvent through an EventTarget" },
  { listener: "deprecates", does: "a module that wraps dispatchEvent in util.deprecate" },
  { listener: "short", does: "a module that makes Error.stackTraceLimit read-only at 8" },
  { listener: "hides", does: "a module whose Error.prepareStackTrace getter throws" },
  { listener: "replaces", does: "a module that replaces ErrorEvent and PromiseRejectionEvent" },
];

const DEATH_CASES: ((typeof DEATHS)[number] & { listener?: string; does?: string })[] = [
  ...DEATHS,
  ...UNHANDLING.flatMap((unhandling) =>
    DEATHS.slice(0, 2).map((death) => ({ ...death, ...unhandling }))
  ),
];

for (const { how, says, closedFirst, listener, does } of DEATH_CASES) {
  const heard = does === undefined ? "" : `, with ${does}`;
  Deno.test(`serveWorkers() reports a worker that dies after it listens (${how}${heard}), and the other serves on`, async () => {
    const module = listener === undefined ? DIES : new URL(`${DIES.href}#${listener}`);
    const { workers, errors, reported } = await serveReporting(module, 2);
    const record: string[] = [];
    try {
      record.push(`serving ${workers.serving}`);
      const victim = await withDeadline(run(whoServes(workers.port, how)), `asking to ${how}`);
      await withDeadline(reported, "the report");
      record.push(`serving ${workers.serving}`);
      const [error] = errors;
      equal(error.message, `Worker ${victim.at(-1)} stopped serving: ${says}`);
      ok(error.cause instanceof Error, String(error.cause));
      equal(error.cause.message, says);
      if (closedFirst) {
        // Its listener closed before the report: every new client goes to the other.
        const names = await withDeadline(
          run(all(Array.from({ length: 20 }, () => whoServes(workers.port)))),
          "serving after the death",
        );
        deepEqual([...new Set(names)], [
          victim.endsWith("1") ? "bluelet-worker-2" : "bluelet-worker-1",
        ]);
        record.push("the other serves");
      }
    } finally {
      await withDeadline(workers.shutdown(), "the shutdown");
    }
    record.push(`shut down, serving ${workers.serving}`);
    await rejects(run(connect("127.0.0.1", workers.port)), ConnectionRefusedError);
    deepEqual(record, [
      "serving 2",
      "serving 1",
      ...(closedFirst ? ["the other serves"] : []),
      "shut down, serving 0",
    ]);
    equal(errors.length, 1); // once: not again at shutdown
  });
}

for (
  const { how, last } of [
    { how: "throw", last: "the module's error listener threw" },
    { how: "exit", last: "Deno.exit(3) was called" },
  ]
) {
  Deno.test(`serveWorkers() reports the first error of a worker whose module's error listener ends it on the spot (${how})`, async () => {
    const errors = await reportsOf(how);
    equal(errors.length, 1);
    const [error] = errors;
    // The error the module's listener heard of comes first, though the Worker died at once.
    equal(error.message, "Worker 1 stopped serving: first: thrown from a timer");
    ok(error.cause instanceof SuppressedError, String(error.cause));
    equal((error.cause.suppressed as Error).message, "first: thrown from a timer");
    ok((error.cause.error as Error).message.includes(last), String(error.cause.error));
  });
}

Deno.test("serveWorkers() does not report an error the module's listener handled before it closed its Worker", async () => {
  const errors = await reportsOf("handle, then close");
  deepEqual(errors.map((error) => [error.message, String(error.cause)]), [
    ["Worker 1 stopped serving: close() was called", "Error: close() was called"],
  ]);
});

for (
  const { how, chain } of [
    { how: "exit", chain: ["first: thrown from a timer", "Deno.exit(3) was called"] },
    { how: "close", chain: ["first: thrown from a timer", "close() was called"] },
    { how: "two", chain: ["A", "B"] },
  ]
) {
  Deno.test(`serveWorkers() fails to start with every error of a serving worker that fails in one turn (${how}), and reports none again`, async () => {
    const reported: Error[] = [];
    const starting = serveWorkers(new URL(`${EXITS_WHILE_STARTING.href}#${how}`), {
      workers: 2,
      onWorkerError: (error) => reported.push(error),
    });
    const error = await withDeadline(
      starting.then(() => null, (error: Error) => error),
      "the start",
    );
    ok(error instanceof Error, "the start should fail");
    equal(error.message, `Cannot serve in a worker: ${chain[0]}`);
    ok(error.cause instanceof SuppressedError, String(error.cause));
    deepEqual(
      [(error.cause.suppressed as Error).message, (error.cause.error as Error).message],
      chain,
    );
    deepEqual(reported, []); // told by the start's rejection: not again
  });
}

Deno.test("serveWorkers() reports what a second worker threw on its own after the start failed as while shutting down", async () => {
  const reported: Error[] = [];
  const starting = serveWorkers(new URL(`${EXITS_WHILE_STARTING.href}#both`), {
    workers: 2,
    onWorkerError: (error) => reported.push(error),
  });
  const error = await withDeadline(
    starting.then(() => null, (error: Error) => error),
    "the start",
  );
  equal(error?.message, "Cannot serve in a worker: first: thrown from a timer");
  // The start had failed, and was stopping the Workers: the JSDoc's "failed while shutting
  // down", though this one could not hear the shutdown before it failed.
  deepEqual(reported.map((error) => error.message), [
    "Worker 2 failed while shutting down: second: the load",
  ]);
});

Deno.test("serveWorkers() does not report an error handled before the module's listener threw", async () => {
  const errors = await reportsOf("handle, then throw");
  equal(errors.length, 1);
  equal(
    errors[0].message,
    "Worker 1 stopped serving: Uncaught Error: the module's error listener threw",
  );
});

Deno.test("serveWorkers() reports a worker that died with nothing told before with the message as cause", async () => {
  const errors = await reportsOf("handle, then report");
  equal(errors.length, 1);
  const { message, cause } = errors[0];
  ok(message.startsWith("Worker 1 stopped serving: "), message);
  ok(message.includes("reported from the module's error listener"), message);
  ok(cause instanceof Error, String(cause));
  equal(`Worker 1 stopped serving: ${cause.message}`, message);
});

for (const how of ["returnValue", "prototype"]) {
  Deno.test(`serveWorkers() keeps a worker whose module handled an error (${how}) serving, and reports nothing`, async () => {
    const { workers, errors } = await serveReporting(LISTENER_ENDS, 1);
    try {
      const replies = await withDeadline(
        run(function* () {
          using conn = yield* connect("127.0.0.1", workers.port);
          yield* conn.sendall(`${how}\n`);
          // Its name, then word that the module's listener heard of the timer's error.
          return [text(yield* conn.readline()), text(yield* conn.readline())];
        }()),
        "the replies",
      );
      deepEqual(replies, ["bluelet-worker-1\n", "heard\n"]);
      // Served again after the error was handled: the Worker goes on.
      equal(
        await withDeadline(run(whoServes(workers.port)), "serving on"),
        "bluelet-worker-1",
      );
      equal(workers.serving, 1);
    } finally {
      await withDeadline(workers.shutdown(), "the shutdown");
    }
    deepEqual(errors, []);
  });
}

Deno.test("serveWorkers() counts a worker that stops unasked out at once, and gives it stopTimeout to stop", async () => {
  const { workers, errors, reported } = await serveReporting(DIES, 2, 300);
  const record: string[] = [];
  let conn: Connection | undefined; // kept open: its handler hangs
  try {
    const victim = await withDeadline(
      run(function* (): Coroutine<string> {
        conn = yield* connect("127.0.0.1", workers.port);
        yield* conn.sendall("throw, then hang\n");
        const name = text(yield* conn.readline()).trim();
        // Counted out as soon as it is told of the error, long before the timeout.
        while (workers.serving === 2) yield* until(new Promise((ok) => setTimeout(ok, 5)));
        record.push(`serving ${workers.serving}, reported ${errors.length}`);
        return name;
      }()),
      "the error",
    );
    await withDeadline(reported, "the report");
    equal(errors[0].message, `Worker ${victim.at(-1)} stopped serving: thrown from a timer`);
    ok(errors[0].cause instanceof SuppressedError, String(errors[0].cause));
    equal(errors[0].cause.error.message, "it did not stop within 300 ms, so it was terminated");
    record.push(`serving ${workers.serving}, reported ${errors.length}`);
  } finally {
    await withDeadline(workers.shutdown(), "the shutdown");
    conn?.close();
  }
  deepEqual(record, ["serving 1, reported 0", "serving 1, reported 1"]);
  equal(errors.length, 1);
});

for (const stopTimeout of [100, 1000]) {
  Deno.test(`serveWorkers() fails to start when a worker stops unasked while the others start, though its cleanup hangs (stopTimeout ${stopTimeout})`, async () => {
    // Worker 1 listens at once, the other only after 600 ms: in between, Worker 1's module
    // throws and its handler's cleanup hangs. The start fails with that error at once,
    // whenever the other listens, and its shutdown ends Worker 1 at its stop timeout.
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = probe.addr.port;
    probe.close();
    const errors: Error[] = [];
    const starting = serveWorkers(SLOW_START, {
      workers: 2,
      port,
      stopTimeout,
      onWorkerError: (error) => errors.push(error),
    });
    const outcome = starting.then(() => "started", (error: Error) => error.message);
    const conn = await withDeadline(
      run(function* (): Coroutine<Connection> {
        for (;;) {
          try {
            return yield* connect("127.0.0.1", port);
          } catch (error) {
            if (!(error instanceof ConnectionRefusedError)) throw error;
            yield* until(new Promise((ok) => setTimeout(ok, 10)));
          }
        }
      }()),
      "reaching worker 1",
    );
    try {
      await run(conn.sendall("throw, then hang\n"));
      equal(text(await run(conn.readline())).trim(), "bluelet-worker-1");
      equal(
        await withDeadline(outcome, "the start"),
        "Cannot serve in a worker: thrown from a timer",
      );
    } finally {
      conn.close();
    }
    // The failed start's own shutdown gave it up, and said so; the other stopped cleanly.
    deepEqual(errors.map((error) => error.message), [
      `Worker 1 failed while shutting down: it did not stop within ${stopTimeout} ms, so it was terminated`,
    ]);
  });
}

/**
 * Serves DIES in two Workers with `onWorkerError`, makes one die, and gives what was
 * logged with `console.error` once something was.
 */
async function loggedWhenReporting(onWorkerError: (error: Error) => void): Promise<string[]> {
  const logged: string[] = [];
  const consoleError = console.error;
  console.error = (...args: unknown[]) => {
    // What the real console.error would do with each argument, a revoked proxy throws.
    logged.push(args.map((arg) => typeof arg === "string" ? arg : Deno.inspect(arg)).join(" "));
  };
  try {
    const workers = await withDeadline(
      serveWorkers(DIES, { workers: 2, stopTimeout: 100, onWorkerError }),
      "starting",
    );
    try {
      await withDeadline(run(whoServes(workers.port, "throw, then hang")), "asking");
      while (logged.length === 0) await new Promise((ok) => setTimeout(ok, 10));
    } finally {
      await withDeadline(workers.shutdown(), "the shutdown");
    }
  } finally {
    console.error = consoleError;
  }
  return logged;
}

Deno.test("serveWorkers() survives an async onWorkerError that fails: it is logged", async () => {
  // Its type says void, which an async function passes for; its failure, with nobody to
  // catch it, would end the process.
  // deno-lint-ignore require-await
  const logged = await loggedWhenReporting(async () => {
    throw new Error("the log sink is down");
  });
  equal(logged.length, 1, logged.join("\n"));
  ok(
    logged[0].startsWith("serveWorkers: onWorkerError threw Error: the log sink is down"),
    logged[0],
  );
});

Deno.test("serveWorkers() survives an onWorkerError that throws what cannot even be logged", async () => {
  const logged = await loggedWhenReporting(() => {
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    throw proxy;
  });
  equal(logged.length, 1, logged.join("\n"));
  ok(logged[0].startsWith("serveWorkers: onWorkerError threw while reporting"), logged[0]);
  ok(logged[0].includes("stopped serving: thrown from a timer"), logged[0]);
});

/**
 * How a handler's cleanup goes wrong during a requested shutdown (see
 * _worker_fails_on_stop.ts), and what the report's message then says after the Worker's
 * name. "stuck" ends the Worker's run with a deadlock, chained to the stop's own reason.
 */
const STOP_FAILURES = [
  { how: "throw", says: /^thrown from a timer while stopping$/ },
  { how: "reject", says: /^rejected while stopping$/ },
  { how: "exit", says: /^Deno\.exit\(3\) was called$/ },
  // "Cannot", or "cannot" after the colon of the message that names the Worker.
  {
    how: "stuck",
    says: /^[Cc]annot continue run: every thread is blocked forever \(.*wait\(Event\)/,
  },
];

/** Starts `workers` Workers of the handler that fails at shutdown; reports go to `errors`. */
function startFailing(
  workers: number,
  stopTimeout: number | undefined,
  errors: Error[],
): Promise<WorkerServer> {
  return withDeadline(
    serveWorkers(FAILS_ON_STOP, {
      workers,
      stopTimeout,
      onWorkerError: (error) => errors.push(error),
    }),
    "starting",
  );
}

/**
 * Has a handler on one of two Workers fail as `ways` say once it is killed, shuts down,
 * and gives the name of that Worker and what was reported before `shutdown()` resolved.
 */
async function failAtShutdown(
  ways: string,
  stopTimeout?: number,
): Promise<{ victim: string; errors: Error[] }> {
  const errors: Error[] = [];
  const workers = await startFailing(2, stopTimeout, errors);
  const result = await withDeadline(
    run(function* (): Coroutine<{ victim: string; errors: Error[] }> {
      using conn = yield* connect("127.0.0.1", workers.port);
      yield* conn.sendall(`${ways}\n`);
      const victim = text(yield* conn.readline()).trim();
      yield* until(workers.shutdown());
      return { victim, errors: [...errors] };
    }()),
    "the shutdown",
  );
  equal(workers.serving, 0);
  deepEqual(errors, result.errors); // nothing more after it resolved
  return result;
}

for (const { how, says } of STOP_FAILURES) {
  Deno.test(`serveWorkers() shutdown reports a worker that fails while shutting down (${how}), before it resolves`, async () => {
    const { victim, errors } = await failAtShutdown(how);
    // Once, and only for that Worker: the other stopped cleanly.
    equal(errors.length, 1, `reported ${errors.length}: ${errors.join("; ")}`);
    const [error] = errors;
    const prefix = `Worker ${victim.at(-1)} failed while shutting down: `;
    ok(error.message.startsWith(prefix), error.message);
    ok(says.test(error.message.slice(prefix.length)), error.message);
    ok(error.cause instanceof Error, String(error.cause));
    ok(says.test(error.cause.message), error.cause.message);
  });
}

Deno.test("serveWorkers() shutdown terminates a worker still stopping after stopTimeout, and reports it", async () => {
  // Its handler's cleanup waits on a promise that never settles: no deadlock the kernel
  // could see, so only the timeout ends it.
  const { victim, errors } = await failAtShutdown("hang", 200);
  deepEqual(errors.map((error) => error.message), [
    `Worker ${
      victim.at(-1)
    } failed while shutting down: it did not stop within 200 ms, so it was terminated`,
  ]);
});

Deno.test("serveWorkers() shutdown that gives up on a worker reports what went wrong in it before", async () => {
  const { victim, errors } = await failAtShutdown("throw hang", 300);
  equal(errors.length, 1, errors.join("; "));
  const [error] = errors;
  equal(
    error.message,
    `Worker ${victim.at(-1)} failed while shutting down: thrown from a timer while stopping`,
  );
  ok(error.cause instanceof SuppressedError, String(error.cause));
  equal(error.cause.error.message, "it did not stop within 300 ms, so it was terminated");
  equal(error.cause.suppressed.message, "thrown from a timer while stopping");
});

Deno.test("serveWorkers() shutdown on a busy main thread does not give up on workers that stopped in time", async () => {
  const errors: Error[] = [];
  const workers = await startFailing(2, 100, errors);
  const stopped = workers.shutdown();
  // The Workers stop at once, while the main thread is busy past the timeout: their
  // reports wait behind the timeout's timer in the event loop.
  const end = performance.now() + 400;
  while (performance.now() < end) { /* busy */ }
  await withDeadline(stopped, "the shutdown");
  deepEqual(errors, []);
});

Deno.test("serveWorkers() with a stopTimeout past what a timer holds waits, rather than give up at once", async () => {
  const errors: Error[] = [];
  const workers = await startFailing(1, 1e10, errors);
  await withDeadline(workers.shutdown(), "the shutdown");
  deepEqual(errors, []);
});

Deno.test("serveWorkers() rejects a stopTimeout that is not a positive number", async () => {
  for (const stopTimeout of [0, -1, NaN]) {
    await rejects(serveWorkers(FAILS_ON_STOP, { workers: 1, stopTimeout }), {
      name: "RangeError",
      message:
        `Cannot serve in workers: stopTimeout must be a positive number of milliseconds, got ${stopTimeout}`,
    });
  }
});

Deno.test("serveWorkers() shutdown reports every error of a worker that fails while shutting down, chained newest outermost", async () => {
  const { victim, errors } = await failAtShutdown("throw reject");
  equal(errors.length, 1, `reported ${errors.length}: ${errors.join("; ")}`);
  const [error] = errors;
  equal(
    error.message,
    `Worker ${victim.at(-1)} failed while shutting down: thrown from a timer while stopping`,
  );
  ok(error.cause instanceof SuppressedError, String(error.cause));
  equal(error.cause.message, "Another error occurred while the Worker was stopping");
  equal((error.cause.error as Error).message, "rejected while stopping");
  equal((error.cause.suppressed as Error).message, "thrown from a timer while stopping");
});

Deno.test("serveWorkers() reports an error reported while a listener handles another, whatever route the module gives dispatchEvent", async () => {
  const { workers, errors, reported } = await serveReporting(
    new URL(`${DIES.href}#buses-reports`),
    1,
  );
  try {
    await withDeadline(run(whoServes(workers.port, "reject")), "the reply");
    await withDeadline(reported, "the report");
  } finally {
    await withDeadline(workers.shutdown(), "the shutdown");
  }
  deepEqual(errors.map((error) => error.message), [
    "Worker 1 stopped serving: reported while handling",
  ]);
});

Deno.test("serveWorkers() reports an error thrown while the module dispatches again an error event it handled", async () => {
  const { workers, errors, reported } = await serveReporting(new URL(`${DIES.href}#replays`), 1);
  try {
    await withDeadline(run(whoServes(workers.port, "reject")), "the rejection");
    // Handled: the Worker serves on; then the event it kept is dispatched again.
    await withDeadline(run(whoServes(workers.port, "replay")), "the replay");
    await withDeadline(reported, "the report");
  } finally {
    await withDeadline(workers.shutdown(), "the shutdown");
  }
  deepEqual(errors.map((error) => error.message), ["Worker 1 stopped serving: B"]);
});

/** Sends `line` on a new connection and gives the reply's line. */
function* ask(port: number, line: string): Coroutine<string> {
  using conn = yield* connect("127.0.0.1", port);
  yield* conn.sendall(`${line}\n`);
  return text(yield* conn.readline()).trim();
}

/** How the module handles its stray errors (see _worker_handles_own_errors.ts). */
const HANDLING = [
  { style: "", says: "listeners that call preventDefault()" },
  { style: "checks", says: "listeners that first check defaultPrevented" },
  { style: "lazy", says: "listeners that make a global Deno makes on first use first" },
  { style: "process", says: "process.on()" },
  { style: "uncaught", says: "process.on('uncaughtException') alone" },
  { style: "adds", says: "process.on() added during the dispatch" },
  { style: "capture", says: "process.setUncaughtExceptionCaptureCallback()" },
  {
    style: "uncaught-lazy",
    says: "process.on('uncaughtException') that makes a global Deno makes on first use",
  },
];

for (const { style, says } of HANDLING) {
  for (const how of ["throw", "reject"]) {
    Deno.test(`serveWorkers() leaves serving a worker whose module handles its own stray error (${how}, ${says})`, async () => {
      const errors: string[] = [];
      const module = new URL(`./_worker_handles_own_errors.ts#${style}`, import.meta.url);
      const workers = await withDeadline(
        serveWorkers(module, {
          workers: 1,
          onWorkerError: (error) => errors.push(error.message),
        }),
        "starting",
      );
      try {
        equal(await withDeadline(run(ask(workers.port, how)), "the first request"), "handled 0");
        // The Worker goes on serving: it answers until its module has handled the error.
        let answer = "";
        for (let i = 0; i < 100 && answer !== "handled 1"; i++) {
          answer = await withDeadline(run(ask(workers.port, "again")), "a later request");
        }
        equal(answer, "handled 1");
        deepEqual(errors, []);
        equal(workers.serving, 1);
      } finally {
        await withDeadline(workers.shutdown(), "the shutdown");
      }
    });
  }
}

for (const quirk of ["", "wraps", "binds", "emits", "freezes", "limits"]) {
  const withQuirk = quirk === "" ? "" : ` (#${quirk})`;
  Deno.test(`serveWorkers() leaves serving a worker whose module dispatches error events of its own${withQuirk}`, async () => {
    const module = quirk === "" ? DIES : new URL(`${DIES.href}#${quirk}`);
    const { workers, errors } = await serveReporting(module, 1);
    try {
      const replies = await withDeadline(
        run(function* () {
          using conn = yield* connect("127.0.0.1", workers.port);
          // The second line is answered once the events have been dispatched.
          yield* conn.sendall("dispatch\nwho?\n");
          return [text(yield* conn.readline()), text(yield* conn.readline())];
        }()),
        "the replies",
      );
      // Nobody handled them, but they were not Deno's: the Worker serves on.
      deepEqual(replies, ["bluelet-worker-1\n", "bluelet-worker-1\n"]);
      equal(workers.serving, 1);
    } finally {
      await withDeadline(workers.shutdown(), "the shutdown");
    }
    deepEqual(errors, []);
  });
}

Deno.test("serveWorkers() logs a dead worker with console.error by default; the process goes on and exits by itself", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--unstable-net", "--allow-net=127.0.0.1", "--allow-read", DIES_SCRIPT],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // A guard against hanging, not a timing assertion.
  const guard = setTimeout(() => child.kill("SIGKILL"), 30_000);
  const output = await child.output();
  clearTimeout(guard);
  const stderr = new TextDecoder().decode(output.stderr);
  ok(/^Error: Worker [12] stopped serving: thrown from a timer\n/.test(stderr), stderr);
  ok(stderr.includes("[cause]: Error: thrown from a timer"), stderr);
  ok(!stderr.includes("Uncaught"), stderr); // reported once, not by Deno as well
  equal(output.signal, null);
  equal(output.code, 0, stderr);
  equal(
    new TextDecoder().decode(output.stdout),
    "one died, 1 serving, served by the other, shut down\n",
  );
});

Deno.test("serveWorkers() chains what went wrong in one turn in the order it happened", async () => {
  // A rejection nobody handles; its listener calls close(), then throws (an error event
  // dispatched inside the rejection's).
  const module = new URL(
    "data:text/javascript,addEventListener('unhandledrejection', () => { close(); throw new Error('C: the listener threw'); }); setTimeout(() => { Promise.reject(new Error('R: rejected')); }, 100); export function* handler() {}",
  );
  const { workers, errors, reported } = await serveReporting(module, 1);
  try {
    await withDeadline(reported, "the report");
  } finally {
    await withDeadline(workers.shutdown(), "the shutdown");
  }
  equal(errors.length, 1);
  const messages: string[] = [];
  for (let link = errors[0].cause; link instanceof SuppressedError; link = link.suppressed) {
    messages.unshift((link.error as Error).message);
    if (!(link.suppressed instanceof SuppressedError)) {
      messages.unshift((link.suppressed as Error).message);
    }
  }
  deepEqual(messages, ["R: rejected", "close() was called", "C: the listener threw"]);
});

Deno.test("serveWorkers() ignores what a module posts to the main thread itself, whatever its shape", async () => {
  const chatty = new URL(
    "data:text/javascript,postMessage('hello'); postMessage({ listening: 1 }); postMessage({ trouble: 1 }); postMessage({ stopped: true }); export function* handler(conn) { yield conn.sendall('hi'); }",
  );
  const { workers, errors } = await serveReporting(chatty, 1);
  try {
    const greeting = await withDeadline(
      run(function* () {
        using conn = yield* connect("127.0.0.1", workers.port);
        return text(yield* conn.recvExactly(2));
      }()),
      "the greeting",
    );
    equal(greeting, "hi");
    equal(workers.serving, 1);
    ok(workers.port !== 1, "the port is the one it listens on");
  } finally {
    await withDeadline(workers.shutdown(), "the shutdown");
  }
  deepEqual(errors, []);
});

Deno.test("a Worker of the user's own that imports bluelet is left alone", async () => {
  const worker = new Worker(new URL("./_user_worker.ts", import.meta.url), { type: "module" });
  try {
    const replies: unknown[] = [];
    const next = () =>
      withDeadline(
        new Promise((resolve) => {
          worker.onmessage = ({ data }) => resolve(data);
        }),
        "the Worker's reply",
      );
    replies.push(await next());
    worker.postMessage("one");
    replies.push(await next());
    worker.postMessage("two");
    replies.push(await next());
    deepEqual(replies, [{ patched: false }, { echo: "one" }, { echo: "two" }]);
  } finally {
    worker.terminate();
  }
});

Deno.test("serveWorkers() rejects a module that is not an absolute URL", async () => {
  await rejects(serveWorkers("./_worker_handler.ts", { workers: 1 }), {
    name: "TypeError",
    message:
      'Cannot serve in workers: the module must be an absolute URL, got "./_worker_handler.ts"',
  });
});

Deno.test({
  name:
    "serveWorkers() under ulimit -n 128: more Workers than the descriptors left can start are refused, not started into a panic",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const output = await new Deno.Command("bash", {
      args: [
        "-c",
        `ulimit -n 128 && exec "$0" run --quiet -A --unstable-net "$@"`,
        Deno.execPath(),
        TOO_MANY_SCRIPT,
        "16",
      ],
      stdin: "null",
    }).output();
    const stdout = new TextDecoder().decode(output.stdout).trim();
    const stderr = new TextDecoder().decode(output.stderr);
    deepEqual({ code: output.code, panicked: stderr.includes("panicked") }, {
      code: 0,
      panicked: false,
    });
    match(
      stdout,
      /^refused RangeError: Cannot serve in workers: 16 Workers need about 128 file descriptors of their own, and the process has room for \d+ \(ulimit -n less those open and a reserve\); start fewer Workers, or raise the limit$/,
    );
  },
});

Deno.test("serveWorkers() checks the server's options before any Worker starts, with the errors server() gives", async () => {
  const cases: [ServeWorkersOptions, string, string][] = [
    [{ maxConnections: 0 }, "RangeError", "maxConnections must be a positive integer, got 0"],
    [
      { maxConnections: "8" as never },
      "TypeError",
      'maxConnections must be a number, got the string "8"',
    ],
    [
      { idleTimeout: -1 },
      "RangeError",
      "idleTimeout must be a positive number of milliseconds, got -1",
    ],
    [{ port: 70000 }, "RangeError", "port must be an integer from 0 to 65535, got 70000"],
    [{ port: -1 }, "RangeError", "port must be an integer from 0 to 65535, got -1"],
    [{ port: "80" as never }, "TypeError", 'port must be a number, got the string "80"'],
    [{ exportName: 42 as never }, "TypeError", "exportName must be a string, got number 42"],
    [{ host: 42 as never }, "TypeError", "host must be a string, got number 42"],
  ];
  for (const [options, name, message] of cases) {
    await rejects(serveWorkers(HANDLER, { workers: 2, ...options }), {
      name,
      message: `Cannot serve in workers: ${message}`,
    });
  }
  // `gracePeriod` is no option of serveWorkers (its Workers do not use one), and `null` is
  // no option at all: these start.
  const loose = { gracePeriod: -1, maxConnections: null, idleTimeout: null } as never;
  await using workers = await serveWorkers(HANDLER, { workers: 1, ...(loose as object) });
  equal(workers.workers, 1);
});

Deno.test({
  name:
    "serveWorkers() without --allow-all under ulimit -n 100: four workers learn their budget from a failed accept, and the process stays up",
  ignore: Deno.build.os !== "linux",
  async fn() {
    // The limit cannot be read, so the Workers start with no budget. At the limit, each
    // holds about a quarter of the connections: too few, alone, to tell a budget from
    // descriptors something else holds. Deno 2.9.6 then aborted the process.
    const server = await underUlimit(100, FD_SERVER, {
      permissions: ["--allow-net", "--allow-read"],
      flags: ["--unstable-net"],
      args: ["4"],
    });
    equal(server.budget, Infinity);
    const record: string[] = [];
    await run(function* () {
      const clients: Connection[] = [];
      try {
        for (let i = 0; i < 300; i++) clients.push(yield* connect("127.0.0.1", server.port));
        for (const conn of clients) yield* conn.sendall("who?\n");
        const answers = yield* all(clients.map((conn) =>
          function* (): Coroutine<string> {
            const got = yield* moveOnAfter(3000, conn.readline());
            if (got.timedOut) return "waiting";
            return text(got.value).startsWith("bluelet-worker-") ? "served" : "closed";
          }()
        ));
        const count = (what: string) => answers.filter((answer) => answer === what).length;
        const served = count("served");
        ok(served > 0 && served < 100, `${served} served`);
        // Each Worker that met the limit closed its share of a reserve of descriptors.
        ok(count("closed") >= 4, `${count("closed")} closed`);
        record.push("some served, the rest closed or waiting");
        for (const conn of clients) conn.close();
        using late = yield* connect("127.0.0.1", server.port);
        yield* late.sendall("who?\n");
        ok(text(yield* withTimeout(10_000, late.readline())).startsWith("bluelet-worker-"));
        record.push("a new client served");
      } finally {
        for (const conn of clients) conn.close();
      }
    }());
    const { rest, code, stderr } = await server.stop();
    deepEqual(record, ["some served, the rest closed or waiting", "a new client served"]);
    equal(rest, "stopped", stderr);
    equal(code, 0, stderr);
  },
});

Deno.test("serveWorkers() on a port in use rejects with the AddressInUseError as its cause, in one message", async () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (taken.addr as Deno.NetAddr).port;
  const error = await serveWorkers(HANDLER, { workers: 1, port }).then(
    () => null,
    (error: Error) => error,
  );
  ok(error instanceof Error, `${error}`);
  equal(
    error.message,
    `Cannot serve in a worker: cannot listen on 127.0.0.1:${port}: address already in use`,
  );
  // Made again on this side of the Worker, as structured clone makes it a plain Error.
  ok(error.cause instanceof AddressInUseError, `${error.cause}`);
});

/**
 * Serves a module in one Worker whose handler throws `thrown` (JavaScript that makes an
 * error, after `prelude`) from a timer once a client connects; gives the cause of the one
 * error reported.
 */
async function causeOfThrown(prelude: string, thrown: string): Promise<Error> {
  const module = new URL(
    "data:text/javascript," + encodeURIComponent(
      `${prelude}
      export function* handler(conn) {
        setTimeout(() => { throw ${thrown}; });
        yield conn.recv(1);
      }`,
    ),
  );
  const { workers, errors, reported } = await serveReporting(module, 1);
  try {
    using _conn = await withDeadline(run(connect("127.0.0.1", workers.port)), "connecting");
    await withDeadline(reported, "the report");
  } finally {
    await workers.shutdown();
  }
  equal(errors.length, 1);
  return errors[0].cause as Error;
}

Deno.test("serveWorkers() makes again only the library's own errors, not a module's error of the same name", async () => {
  const cause = await causeOfThrown(
    `const error = new Error("the module's own"); error.name = "ConnectError";`,
    "error",
  );
  equal(cause.message, "the module's own");
  ok(!(cause instanceof ConnectError), `${cause}`);
});

Deno.test("serveWorkers() makes again the library's errors from another copy of it too", async () => {
  // A module that imports the library by another URL or version has its own NetError
  // class: what it throws is the library's all the same.
  const cause = await causeOfThrown(
    `class NetError extends Error {}
    class ConnectionRefusedError extends NetError {
      constructor(message) { super(message); this.name = "ConnectionRefusedError"; }
    }`,
    `new ConnectionRefusedError("from another copy")`,
  );
  ok(cause instanceof ConnectionRefusedError, `${cause}`);
  equal(cause.message, "from another copy");
});

Deno.test("serveWorkers() rejects a worker count that is not a positive integer", async () => {
  await rejects(serveWorkers(HANDLER, { workers: 0 }), {
    name: "RangeError",
    message: "Cannot serve in workers: the worker count must be a positive integer, got 0",
  });
  ok(true);
});

Deno.test({
  name: "serveWorkers() under ulimit -n 64: two workers together stay within the process's budget",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const server = await underUlimit(64, FD_SERVER, { flags: ["--unstable-net"] });
    const { port, budget } = server;
    ok(budget > 0 && budget < 64, `budget ${budget}`);
    const record: string[] = [];
    await run(function* () {
      const clients: Connection[] = [];
      try {
        // Twice the budget: each Worker alone would accept up to the whole of it.
        for (let i = 0; i < 2 * budget; i++) {
          const conn = yield* connect("127.0.0.1", port);
          clients.push(conn);
          yield* conn.sendall("who?\n");
        }
        // Those served answer at once; the rest wait in the backlog while all are held.
        const answers = yield* all(clients.map((conn) =>
          function* (): Coroutine<boolean> {
            try {
              return (yield* withTimeout(1000, conn.readline())).length > 0;
            } catch {
              return false; // not served within the time, or the server is gone
            }
          }()
        ));
        const served = answers.filter((answer) => answer).length;
        ok(
          served > 0 && served <= budget,
          `served ${served} of ${clients.length}, budget ${budget}`,
        );
        record.push("at most the budget served");
        for (const conn of clients) conn.close();
        using late = yield* connect("127.0.0.1", port);
        yield* late.sendall("who?\n");
        ok(text(yield* withTimeout(10_000, late.readline())).startsWith("bluelet-worker-"));
        record.push("a new client served");
      } finally {
        for (const conn of clients) conn.close();
      }
    }());
    const { rest, code, stderr } = await server.stop();
    deepEqual(record, ["at most the budget served", "a new client served"]);
    equal(rest, "stopped", stderr);
    equal(code, 0, stderr);
  },
});
