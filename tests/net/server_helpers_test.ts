// A helper thread a handler spawns belongs to its connection: its error ends that handler
// and reaches onError, never the server, and it does not outlive the connection.
import assert from "node:assert/strict";
import {
  connect,
  type Connection,
  type Coroutine,
  join,
  kill,
  run,
  server,
  sleep,
  spawn,
  VirtualClock,
  yieldNow,
} from "../../mod.ts";
import { MemoryListener } from "../../testing/mod.ts";
import { portOf, text, withServer } from "./_helpers.ts";

Deno.test("server(): a failing helper thread ends its handler, goes to onError, and the server serves on", async () => {
  const record: string[] = [];
  function* handler(conn: Connection): Coroutine<void> {
    const line = text(yield* conn.readline());
    yield* spawn(function* () {
      try {
        yield* sleep(60_000);
      } finally {
        record.push(`idle helper of ${line.trim()} killed`);
      }
    }());
    if (line === "fail\n") {
      yield* spawn(function* () {
        throw new Error("helper failed");
      }());
    }
    try {
      yield* conn.sendall(`ok ${line}`);
      yield* conn.readline(); // waits for the client, until the helper's error arrives
    } finally {
      record.push(`handler of ${line.trim()} ends`);
    }
  }
  await run(withServer(handler, {
    onError: (error) => record.push(`onError: ${(error as Error).message}`),
  }, function* (addr) {
    const port = portOf(addr);
    const first = yield* connect("127.0.0.1", port);
    yield* first.sendall("fail\n");
    assert.equal(text(yield* first.recv(1024)), "ok fail\n");
    assert.equal((yield* first.recv(1024)).length, 0, "the failed handler closed its connection");
    first.close();
    const second = yield* connect("127.0.0.1", port);
    yield* second.sendall("hello\n");
    assert.equal(text(yield* second.recv(1024)), "ok hello\n", "the server still serves");
    second.close(); // its handler, still waiting, is killed with the server: so is its helper
  }));
  // onError hears once the connection's threads have all ended, the idle helper too.
  assert.deepEqual(record.slice(0, 3), [
    "handler of fail ends",
    "idle helper of fail killed",
    "onError: helper failed",
  ]);
  assert.ok(record.includes("idle helper of hello killed"), record.join(" | "));
});

/** A handler that spawns a pinger helper, answers one line, and ends; the helper is left. */
function pingingHandler(
  cleanup: (conn: Connection) => Coroutine<void>,
  fail?: string,
): (conn: Connection) => Coroutine<void> {
  return function* (conn) {
    yield* spawn(function* () {
      try {
        for (;;) {
          yield* sleep(60_000);
          yield* conn.sendall("ping\n");
        }
      } finally {
        yield* cleanup(conn);
      }
    }());
    const line = text(yield* conn.readline());
    yield* conn.sendall(`ok ${line}`);
    if (fail !== undefined && line === `${fail}\n`) throw new Error("handler failed");
  };
}

Deno.test("server(): when a handler ends, its helpers' finally blocks run before the connection closes", async () => {
  const errors: unknown[] = [];
  await run(withServer(
    pingingHandler(function* (conn) {
      yield* conn.sendall("pinger stopped\n");
    }),
    { onError: (error) => errors.push(error) },
    function* (addr) {
      for (const name of ["first", "second"]) {
        using conn = yield* connect("127.0.0.1", portOf(addr));
        yield* conn.sendall(`${name}\n`);
        assert.equal(text(yield* conn.readline()), `ok ${name}\n`);
        assert.equal(text(yield* conn.readline()), "pinger stopped\n");
        assert.equal((yield* conn.recv(1)).length, 0, "then the server closed it");
      }
    },
  ));
  assert.deepEqual(errors, []);
});

Deno.test("server(): a helper whose finally throws reaches onError (chained with the handler's error) and the server serves on", async () => {
  const record: string[] = [];
  await run(withServer(
    pingingHandler(function* () {
      yield* yieldNow();
      throw new Error("helper cleanup failed");
    }, "fail"),
    {
      onError: (error, conn) => {
        assert.ok(conn !== undefined);
        if (error instanceof SuppressedError) {
          const { error: newer, suppressed: older } = error as SuppressedError;
          record.push(`onError: ${(newer as Error).message} after ${(older as Error).message}`);
        } else {
          record.push(`onError: ${(error as Error).message}`);
        }
      },
    },
    function* (addr) {
      for (const name of ["first", "fail", "third"]) {
        using conn = yield* connect("127.0.0.1", portOf(addr));
        yield* conn.sendall(`${name}\n`);
        assert.equal(text(yield* conn.readline()), `ok ${name}\n`);
        assert.equal((yield* conn.recv(1)).length, 0);
        record.push(`${name} closed`);
      }
    },
  ));
  assert.deepEqual(record, [
    "onError: helper cleanup failed",
    "first closed",
    "onError: helper cleanup failed after handler failed",
    "fail closed",
    "onError: helper cleanup failed",
    "third closed",
  ]);
});

Deno.test("server(): killed or shut down, a handler's helpers say goodbye before the connection closes", async (t) => {
  function* handler(conn: Connection): Coroutine<void> {
    yield* spawn(function* () {
      try {
        yield* sleep(60_000);
      } finally {
        yield* conn.sendall("helper stopped\n");
      }
    }());
    try {
      yield* conn.sendall("ready\n");
      yield* conn.readline(); // until the server is killed or shut down
    } finally {
      yield* conn.sendall("handler stopped\n");
    }
  }
  for (const how of ["killed", "shut down"]) {
    await t.step(how, async () => {
      const clock = new VirtualClock();
      const listener = new MemoryListener();
      const shutdown = new AbortController();
      const errors: unknown[] = [];
      await run(
        function* () {
          const serving = yield* spawn(server(listener, handler, {
            signal: shutdown.signal,
            gracePeriod: 1000,
            onError: (error) => errors.push(error),
          }));
          using conn = yield* listener.connect();
          assert.equal(text(yield* conn.readline()), "ready\n");
          if (how === "killed") yield* kill(serving);
          else shutdown.abort();
          assert.equal(text(yield* conn.readline()), "handler stopped\n");
          assert.equal(text(yield* conn.readline()), "helper stopped\n");
          assert.equal((yield* conn.recv(1)).length, 0);
          if (how === "shut down") yield* join(serving); // the server returns
        }(),
        { clock },
      );
      assert.deepEqual(errors, []);
      assert.equal(clock.now(), how === "killed" ? 0 : 1000);
    });
  }
});

Deno.test("server(): a graceful shutdown whose handler the idle limit ends returns, and reports nothing", async () => {
  const clock = new VirtualClock();
  const listener = new MemoryListener();
  const errors: string[] = [];
  const controller = new AbortController();
  function* handler(conn: Connection): Coroutine<void> {
    yield* conn.recv(10); // a silent client: the idle limit ends this
  }
  const outcome = await run(
    function* () {
      const serving = yield* spawn(server(listener, handler, {
        idleTimeout: 100,
        gracePeriod: 10_000,
        signal: controller.signal,
        onError: (error) => errors.push(String(error)),
      }));
      const client = yield* listener.connect();
      yield* sleep(50);
      controller.abort(); // waits for the handler, which the idle limit ends
      try {
        yield* join(serving);
        return `the server returned at ${clock.now()}`;
      } catch (error) {
        return `the server threw ${error} (wrong)`;
      } finally {
        client.close();
      }
    }(),
    { clock },
  );
  assert.equal(outcome, "the server returned at 125");
  assert.deepEqual(errors, []);
});
