// `server` on a MemoryListener: a whole multi-client conversation, with per-line timeouts,
// a connect timeout, latency and a graceful shutdown, in virtual time. It takes
// seconds of virtual time and milliseconds of real time; the order of every event and the
// virtual time it happened at are asserted.
import { deepEqual, equal } from "node:assert/strict";
import {
  connect,
  type Connection,
  type Coroutine,
  DeadlockError,
  join,
  kill,
  Listener,
  run,
  server,
  shield,
  sleep,
  spawn,
  type Task,
  TimeoutError,
  VirtualClock,
  withTimeout,
} from "../../mod.ts";
import { MemoryListener, memoryPair } from "../../testing/mod.ts";
import { text, thrown } from "./_helpers.ts";

Deno.test("server() on a MemoryListener serves a multi-client conversation with timeouts in virtual time", async () => {
  const clock = new VirtualClock();
  const record: string[] = [];
  const log = (what: string) => record.push(`${clock.now()} ${what}`);
  const shutdown = new AbortController();
  const listener = new MemoryListener({ hostname: "chat.test", port: 7, latency: 5 });

  // The code under test: greets, answers each line, says goodbye on "quit", and drops a
  // client that stays silent for a second.
  function* handler(conn: Connection): Coroutine<void> {
    yield* conn.sendall("hello\n");
    for (;;) {
      let line: string;
      try {
        line = text(yield* withTimeout(1_000, conn.readline())).trim();
      } catch (error) {
        if (!(error instanceof TimeoutError)) throw error;
        yield* conn.sendall("bye: idle\n");
        return;
      }
      if (line === "" || line === "quit") {
        yield* conn.sendall("bye\n");
        return;
      }
      yield* conn.sendall(`echo ${line}\n`);
    }
  }

  /** A client: connects at `start`, then sends each line after its pause. */
  function* client(
    name: string,
    start: number,
    script: [pause: number, line: string][],
  ): Coroutine<void> {
    yield* sleep(start);
    using conn = yield* listener.connect({ timeout: 5_000 });
    log(`${name} connected`);
    log(`${name} <- ${text(yield* conn.readline()).trim()}`);
    for (const [pause, line] of script) {
      yield* sleep(pause);
      yield* conn.sendall(`${line}\n`);
      log(`${name} -> ${line}`);
      log(`${name} <- ${text(yield* conn.readline()).trim()}`);
    }
    // Silent from here: reads what the server says until it hangs up.
    for (;;) {
      const line = yield* conn.readline();
      if (line.length === 0) break;
      log(`${name} <- ${text(line).trim()}`);
    }
    log(`${name} sees the end`);
  }

  await run(
    function* () {
      const serving = yield* spawn(server(listener, handler, {
        signal: shutdown.signal,
        gracePeriod: 500,
        onListen: (addr) => log(`listening on ${(addr as Deno.NetAddr).hostname}`),
      }));
      const ann = yield* spawn(client("ann", 0, [[100, "hi"], [200, "quit"]]));
      const bob = yield* spawn(client("bob", 50, [[10, "hey"]])); // then silent
      const cat = yield* spawn(
        client("cat", 60, [[0, "me too"], [900, "still here"], [0, "quit"]]),
      );
      yield* join(ann);
      yield* join(cat);
      log("shutting down");
      shutdown.abort(); // no more accepts; bob's handler gets the grace period to end
      const late = yield* thrown(listener.connect());
      log(`a late client: ${(late as Error).name}`);
      yield* join(bob);
      yield* join(serving);
      log("server returned");
    }(),
    { clock },
  );

  deepEqual(record, [
    "0 listening on chat.test",
    "0 ann connected",
    "5 ann <- hello", // each write takes 5 ms
    "50 bob connected",
    "55 bob <- hello",
    "60 cat connected",
    "65 cat <- hello",
    "70 bob -> hey",
    "70 cat -> me too",
    "75 bob <- echo hey",
    "75 cat <- echo me too",
    "110 ann -> hi",
    "115 ann <- echo hi",
    "320 ann -> quit",
    "325 ann <- bye",
    "325 ann sees the end",
    "980 cat -> still here",
    "985 cat <- echo still here",
    "990 cat -> quit",
    "995 cat <- bye",
    "995 cat sees the end",
    "995 shutting down",
    "995 a late client: ConnectionRefusedError",
    "1080 bob <- bye: idle", // a second after the server's last read began, at 75
    "1080 bob sees the end",
    "1080 server returned", // bob's handler ended within the grace period
  ]);
  equal(listener.closed, true);
  // A second of conversation ran in real milliseconds; no real time is asserted.
});

Deno.test("server() on a MemoryListener closes an idle connection on the virtual clock", async () => {
  const clock = new VirtualClock();
  const record: string[] = [];
  const listener = new MemoryListener();
  function* handler(conn: Connection): Coroutine<void> {
    try {
      for (;;) {
        const data = yield* conn.recv(100);
        if (data.length === 0) return;
        yield* conn.sendall(data);
      }
    } finally {
      record.push(`${clock.now()} handler ends`);
    }
  }
  await run(
    function* () {
      const serving = yield* spawn(server(listener, handler, { idleTimeout: 1_000 }));
      using conn = yield* listener.connect();
      yield* sleep(600);
      yield* conn.sendall("still here");
      record.push(`${clock.now()} echo ${text(yield* conn.recv(100))}`);
      // Silent from now on: the server looks every 250 ms, and closes it once a whole
      // second passed with no byte moving.
      equal((yield* conn.recv(100)).length, 0);
      record.push(`${clock.now()} the server hung up`);
      yield* kill(serving);
    }(),
    { clock },
  );
  deepEqual(record, [
    "600 echo still here",
    "1750 handler ends",
    "1750 the server hung up",
  ]);
});

Deno.test("server() on memory connections: the idle limit's kill runs the handler's finally whole, and reports what it throws", async () => {
  // A memory connection's close wakes a waiting recv at once; the kill must still come
  // first, or it lands in the finally the closed connection began, and ends it at its
  // first yield (as on a real socket, where the close wakes the recv only later).
  const clock = new VirtualClock();
  const listener = new MemoryListener();
  const record: string[] = [];
  await run(
    function* () {
      const serving = yield* spawn(server(listener, function* (conn: Connection) {
        try {
          yield* conn.recv(1);
        } catch (error) {
          record.push(`handler caught ${(error as Error).name}`);
          throw error;
        } finally {
          record.push(`${clock.now()} finally starts`);
          yield* sleep(5);
          record.push(`${clock.now()} finally ends`);
          // deno-lint-ignore no-unsafe-finally -- the point: a cleanup that fails
          throw new Error("cleanup failed");
        }
      }, {
        idleTimeout: 10,
        onError: (error) => record.push(`${clock.now()} onError: ${(error as Error).message}`),
      }));
      using conn = yield* listener.connect();
      yield* sleep(100);
      yield* kill(serving);
      conn.close();
    }(),
    { clock },
  );
  deepEqual(record, [
    "12.5 finally starts",
    "17.5 finally ends",
    "17.5 onError: cleanup failed",
  ]);
});

Deno.test("server() serves on a Listener made beforehand, and closes it when it ends", async () => {
  const listener = new Listener("127.0.0.1", 0);
  const record: string[] = [];
  await run(function* () {
    const serving = yield* spawn(server(listener, function* (conn) {
      yield* conn.sendall("hello\n");
    }, { onListen: (addr) => record.push(`listening on ${addr.transport}`) }));
    using conn = yield* connect("127.0.0.1", (listener.addr as Deno.NetAddr).port);
    record.push(text(yield* conn.readline()).trim());
    yield* kill(serving);
  }());
  deepEqual(record, ["listening on tcp", "hello"]);
  equal(listener.closed, true);
});

Deno.test("server() at maxConnections on a MemoryListener waits in virtual time, and serves the next client once one leaves", async () => {
  const clock = new VirtualClock();
  const record: string[] = [];
  await run(
    function* () {
      const listener = new MemoryListener();
      const stop = new AbortController();
      const serving = yield* spawn(server(listener, function* (conn) {
        const line = new TextDecoder().decode(yield* conn.readline());
        record.push(`served ${line.trim()} at ${clock.now()}`);
        yield* conn.sendall(line);
      }, { maxConnections: 1, signal: stop.signal }));
      const first = yield* listener.connect();
      const second = yield* listener.connect(); // waits in the backlog: the one slot is taken
      yield* sleep(1000); // the clock jumps even though the server waits for room
      yield* second.sendall("second\n");
      yield* first.sendall("first\n");
      record.push(`first got ${new TextDecoder().decode(yield* first.readline()).trim()}`);
      first.close();
      record.push(`second got ${new TextDecoder().decode(yield* second.readline()).trim()}`);
      second.close();
      stop.abort();
      yield* join(serving);
    }(),
    { clock },
  );
  deepEqual(record, [
    "served first at 1000",
    "first got first",
    "served second at 1000",
    "second got second",
  ]);
});

Deno.test("server() shutting down kills every handler at once: their goodbyes run side by side", async () => {
  // Three clients; each handler says goodbye for 100 ms when killed. The shutdown takes
  // one goodbye, not three.
  const clock = new VirtualClock();
  const record: string[] = [];
  const listener = new MemoryListener();
  function* handler(conn: Connection): Coroutine<void> {
    try {
      yield* conn.sendall("hello\n");
      yield* conn.recv(100); // the clients never write
    } finally {
      record.push(`${clock.now()} goodbye begins`);
      yield* sleep(100);
      yield* conn.sendall("bye\n");
    }
  }
  await run(
    function* () {
      const serving = yield* spawn(server(listener, handler));
      const clients: Connection[] = [];
      for (let i = 0; i < 3; i++) {
        const conn = yield* listener.connect();
        clients.push(conn);
        equal(text(yield* conn.readline()), "hello\n");
      }
      yield* sleep(10);
      yield* kill(serving);
      record.push(`${clock.now()} server stopped`);
      for (const conn of clients) {
        record.push(`${clock.now()} client got ${JSON.stringify(text(yield* conn.readline()))}`);
        conn.close();
      }
    }(),
    { clock },
  );
  deepEqual(record, [
    "10 goodbye begins",
    "10 goodbye begins",
    "10 goodbye begins",
    "110 server stopped",
    '110 client got "bye\\n"',
    '110 client got "bye\\n"',
    '110 client got "bye\\n"',
  ]);
});

Deno.test("server(): a handler's error whose cleanup ends as the server is killed reaches onError, not the killer", async () => {
  // The handler fails; its shielded goodbye ends at 4, the very instant the server is
  // killed, before its connection's thread could take the error in.
  const clock = new VirtualClock();
  const record: string[] = [];
  const log = (what: string) => record.push(`${clock.now()} ${what}`);
  const listener = new MemoryListener();
  function* handler(_conn: Connection): Coroutine<void> {
    try {
      throw new Error("handler failed");
    } finally {
      yield* shield(sleep(4));
    }
  }
  await run(
    function* () {
      const serving = yield* spawn(server(listener, handler, {
        onError: (error) => log(`onError: ${(error as Error).message}`),
      }));
      using _conn = yield* listener.connect();
      yield* sleep(4);
      try {
        yield* kill(serving);
        log("kill returned");
      } catch (error) {
        log(`kill threw ${(error as Error).message}`);
      }
    }(),
    { clock },
  );
  deepEqual(record, ["4 onError: handler failed", "4 kill returned"]);
});

Deno.test("server(): a handler that fails as the idle limit marks it and the server is killed, all in one instant, reaches onError", async () => {
  // At 125 the server is killed, the sweeper marks the quiet connection idle (its reaper
  // has not run yet), and the handler throws: whoever ends up killing it reports it.
  const clock = new VirtualClock();
  const record: string[] = [];
  const listener = new MemoryListener();
  function* handler(_conn: Connection): Coroutine<void> {
    yield* sleep(125);
    record.push(`${clock.now()} handler throws`);
    throw new Error("handler failed");
  }
  await run(
    function* () {
      const tasks: Task<void>[] = [];
      // Spawned first: its timer fires first at 125.
      const killer = yield* spawn(function* () {
        yield* sleep(125);
        yield* kill(tasks[0]);
        record.push(`${clock.now()} server killed`);
      }());
      tasks.push(
        yield* spawn(server(listener, handler, {
          idleTimeout: 100,
          onError: (error) => record.push(`${clock.now()} onError: ${(error as Error).message}`),
        })),
      );
      using _client = yield* listener.connect();
      yield* join(killer);
    }(),
    { clock },
  );
  deepEqual(record, ["125 handler throws", "125 onError: handler failed", "125 server killed"]);
});

Deno.test("server() reports a reset of a handler's own upstream connection; its client's reset stays quiet", async () => {
  // A reset is the network's weather only on the connection the server accepted: one on a
  // connection the handler made itself (a backend, a database) is the handler's failure.
  const record: string[] = [];
  const listener = new MemoryListener({ hostname: "proxy.test", port: 1 });
  function* handler(conn: Connection): Coroutine<void> {
    const [upstream, backend] = memoryPair();
    using _ = upstream;
    backend.reset(); // the backend goes away hard
    if (text(yield* conn.readline()) === "ask upstream\n") yield* upstream.recv(100);
    else yield* conn.recv(100); // the client resets
  }
  await run(
    function* () {
      const serving = yield* spawn(server(listener, handler, {
        onError: (error) => record.push(`onError: ${(error as Error).name}`),
      }));
      using asks = yield* listener.connect();
      yield* asks.sendall("ask upstream\n");
      equal((yield* asks.recv(100)).length, 0); // the server closed it
      using resets = yield* listener.connect();
      yield* resets.sendall("hello\n");
      resets.reset();
      yield* sleep(10);
      yield* kill(serving);
    }(),
    { clock: new VirtualClock() },
  );
  deepEqual(record, ["onError: ConnectionResetError"]);
});

Deno.test("server() reports a handler's revoked proxy, and survives one with the default onError", async () => {
  const { proxy, revoke } = Proxy.revocable(new Error("boom"), {});
  revoke();
  const reported: unknown[] = [];
  for (const onError of [(error: unknown) => reported.push(error), undefined]) {
    const listener = new MemoryListener();
    const errors: string[] = [];
    const log = console.error;
    console.error = (...args: unknown[]) => {
      // As Deno's console does: a revoked proxy cannot be shown.
      if (args.includes(proxy)) throw new TypeError("Cannot inspect a proxy that has been revoked");
      errors.push(String(args[0]));
    };
    try {
      await run(
        function* () {
          const serving = yield* spawn(server(listener, function* () {
            throw proxy;
          }, { onError }));
          for (let i = 0; i < 2; i++) {
            using _ = yield* listener.connect();
            yield* sleep(5);
          }
          yield* kill(serving);
        }(),
        { clock: new VirtualClock() },
      );
    } finally {
      console.error = log;
    }
    if (onError === undefined) {
      deepEqual(errors, [
        "server: onError threw while reporting a handler's error",
        "server: onError threw while reporting a handler's error",
      ]);
    }
  }
  deepEqual(reported, [proxy, proxy]);
});

Deno.test("server() with an idle limit, left serving a MemoryListener under VirtualClock: the stuck run is a DeadlockError, not endless virtual time", async () => {
  // The test's slip: it never stops its server. Nothing else can happen, and the idle
  // limit has no connection to watch.
  const clock = new VirtualClock();
  using listener = new MemoryListener();
  const record: string[] = [];
  const outcome = run(
    function* () {
      yield* spawn(server(listener, function* (conn) {
        yield* conn.sendall(yield* conn.recv(100));
      }, { idleTimeout: 1000 }));
      using client = yield* listener.connect();
      yield* client.sendall("hi");
      record.push(`echo ${text(yield* client.recv(10))} at ${clock.now()}`);
    }(),
    { clock },
  ).then(
    () => "ended (wrong)",
    (error) => error instanceof DeadlockError ? "DeadlockError" : String(error),
  );
  // A real-time bound, so that the fault fails the test rather than hanging it.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`still running at virtual ${clock.now()} ms`), 5_000);
  });
  record.push(await Promise.race([outcome, hung]));
  clearTimeout(timer);
  deepEqual(record, ["echo hi at 0", "DeadlockError"]);
});
