import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import {
  all,
  connect,
  type Connection,
  ConnectionRefusedError,
  type Coroutine,
  run,
  serveWorkers,
  until,
  withTimeout,
} from "../../mod.ts";
import { text, underUlimit } from "./_helpers.ts";

const HANDLER = new URL("./_worker_handler.ts", import.meta.url);
const EXIT_SCRIPT = new URL("./_workers_exit.ts", import.meta.url).pathname;
const NO_FLAG_SCRIPT = new URL("./_workers_no_flag.ts", import.meta.url).pathname;
const FD_SERVER = new URL("./_workers_fd_server.ts", import.meta.url).pathname;

/** Connects, and gives the name of the Worker that answered. */
function* whoServes(port: number): Coroutine<string> {
  using conn = yield* connect("127.0.0.1", port);
  yield* conn.sendall("who?\n");
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
  const workers = await serveWorkers(HANDLER, { workers: 2 });
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

Deno.test("serveWorkers() rejects a module that is not an absolute URL", async () => {
  await rejects(serveWorkers("./_worker_handler.ts", { workers: 1 }), {
    name: "TypeError",
    message:
      'Cannot serve in workers: the module must be an absolute URL, got "./_worker_handler.ts"',
  });
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
