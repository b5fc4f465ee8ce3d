// A helper thread a handler spawns belongs to its connection: its error ends that handler
// and reaches onError, never the server, and it does not outlive the connection.
import assert from "node:assert/strict";
import { connect, type Connection, type Coroutine, run, sleep, spawn } from "../../mod.ts";
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
  assert.deepEqual(record.slice(0, 3), [
    "handler of fail ends",
    "onError: helper failed",
    "idle helper of fail killed",
  ]);
  assert.ok(record.includes("idle helper of hello killed"), record.join(" | "));
});
