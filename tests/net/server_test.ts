import { deepEqual, equal, ok } from "node:assert/strict";
import {
  AddressInUseError,
  all,
  connect,
  type Connection,
  ConnectionRefusedError,
  type Coroutine,
  join,
  kill,
  Listener,
  run,
  server,
  spawn,
  UnexpectedEofError,
  withTimeout,
  yieldNow,
} from "../../mod.ts";
import { echoer, makeCertificate, portOf, tempDir, text, thrown, withServer } from "./_helpers.ts";

/** Replaces `console.error` while `body` runs, recording what it is given. */
async function capturingStderr(
  body: (logged: unknown[][]) => Promise<void>,
): Promise<void> {
  const original = console.error;
  const logged: unknown[][] = [];
  console.error = (...args: unknown[]) => logged.push(args);
  try {
    await body(logged);
  } finally {
    console.error = original;
  }
}

/** Sends `message` and reads the reply up to `message.length` bytes. */
function* roundTrip(conn: Connection, message: string): Coroutine<string> {
  yield* conn.sendall(message);
  return text(yield* conn.recvExactly(new TextEncoder().encode(message).length));
}

Deno.test("server() runs the README echoer on port 0 and calls onListen once", async () => {
  const listened: Deno.Addr[] = [];
  await run(function* () {
    let port = 0;
    const task = yield* spawn(server("127.0.0.1", 0, echoer, {
      onListen: (addr) => {
        listened.push(addr);
        port = portOf(addr);
      },
    }));
    yield* yieldNow();
    using conn = yield* connect("127.0.0.1", port);
    equal(yield* roundTrip(conn, "hello"), "hello");
    yield* kill(task);
  }());
  equal(listened.length, 1);
});

Deno.test("server() serves TCP over IPv6, Unix sockets and TLS", async (t) => {
  await t.step("IPv6", async () => {
    await run(withServer(echoer, { host: "::1" }, function* (addr) {
      using conn = yield* connect("::1", portOf(addr));
      equal(yield* roundTrip(conn, "six"), "six");
    }));
  });

  await t.step("Unix socket", async () => {
    await using dir = await tempDir();
    const path = `${dir.path}/server.sock`;
    await run(withServer(echoer, { transport: "unix", path }, function* (addr) {
      deepEqual(addr, { transport: "unix", path });
      using conn = yield* connect("", 0, { transport: "unix", path });
      equal(yield* roundTrip(conn, "unix"), "unix");
    }));
  });

  await t.step("TLS", async () => {
    const { cert, key } = await makeCertificate();
    await run(withServer(echoer, { tls: { cert, key } }, function* (addr) {
      using conn = yield* connect("localhost", portOf(addr), {
        tls: { caCerts: [cert] },
      });
      equal(yield* roundTrip(conn, "secret"), "secret");
    }));
  });
});

Deno.test("server() throws AddressInUseError when the port is taken", async () => {
  using taken = new Listener("127.0.0.1", 0);
  const port = portOf(taken.addr);
  await run(function* () {
    const error = yield* thrown(server("127.0.0.1", port, echoer));
    ok(error instanceof AddressInUseError, String(error));
    equal(
      (error as Error).message,
      `Cannot listen on 127.0.0.1:${port}: address already in use`,
    );
  }());
});

Deno.test("server() checks its arguments", async () => {
  await run(function* () {
    for (
      const [operation, type] of [
        [server("127.0.0.1", 0, echoer, { maxConnections: 0 }), RangeError],
        [server("127.0.0.1", 0, echoer, { maxConnections: 1.5 }), RangeError],
        [server("127.0.0.1", 0, "echoer" as never), TypeError],
      ] as const
    ) {
      const error = yield* thrown(operation);
      ok(error instanceof type, String(error));
    }
  }());
});

Deno.test("server() reports a handler error through onError and keeps serving", async () => {
  const record: string[] = [];
  await run(withServer(
    function* (conn) {
      const line = text(yield* conn.readline());
      if (line === "boom\n") throw new Error("handler failed");
      yield* conn.sendall(line);
    },
    {
      onError: (error, conn) => {
        ok(conn !== undefined);
        record.push(`onError: ${(error as Error).message}`);
      },
    },
    function* (addr) {
      using failing = yield* connect("127.0.0.1", portOf(addr));
      using other = yield* connect("127.0.0.1", portOf(addr));
      yield* failing.sendall("boom\n");
      // The server closed the failing connection after reporting the error.
      equal((yield* failing.recv(10)).length, 0);
      record.push("failing connection closed");
      equal(yield* roundTrip(other, "fine\n"), "fine\n");
      record.push("other connection served");
      using later = yield* connect("127.0.0.1", portOf(addr));
      equal(yield* roundTrip(later, "later\n"), "later\n");
      record.push("new connection served");
    },
  ));
  deepEqual(record, [
    "onError: handler failed",
    "failing connection closed",
    "other connection served",
    "new connection served",
  ]);
});

Deno.test("server() logs handler errors to stderr by default", async () => {
  await capturingStderr(async (logged) => {
    await run(withServer(
      function* () {
        yield* yieldNow();
        throw new Error("handler failed");
      },
      {},
      function* (addr) {
        using conn = yield* connect("127.0.0.1", portOf(addr));
        equal((yield* conn.recv(10)).length, 0);
      },
    ));
    equal(logged.length, 1);
    ok(String(logged[0][0]).startsWith("server: handler for 127.0.0.1:"));
    equal((logged[0][1] as Error).message, "handler failed");
  });
});

Deno.test("server() ends a handler quietly on a peer reset or broken pipe", async () => {
  await capturingStderr(async (logged) => {
    const record: string[] = [];
    await run(withServer(
      function* (conn) {
        yield* conn.sendall("unread"); // the client never reads it
        const line = yield* conn.readline(); // the reset reads as the end
        record.push(`handler read ${line.length} bytes`);
        try {
          yield* conn.sendall("after reset");
        } finally {
          record.push("handler ended");
        }
      },
      {},
      function* (addr) {
        const reset = yield* connect("127.0.0.1", portOf(addr));
        using other = yield* connect("127.0.0.1", portOf(addr));
        yield* yieldNow();
        reset.close(); // with unread bytes: a reset
        // The other connection is untouched.
        equal(text(yield* other.recvExactly(6)), "unread");
        yield* other.sendall("bye\n");
        const error = yield* thrown(other.recvExactly(100));
        ok(error instanceof UnexpectedEofError, String(error));
        equal(text(yield* other.recv(100)), "after reset");
      },
    ));
    deepEqual(record, [
      "handler read 0 bytes",
      "handler ended",
      "handler read 4 bytes",
      "handler ended",
    ]);
    deepEqual(logged, []); // no stack trace, nothing at all
  });
});

Deno.test("server() stops accepting at maxConnections and resumes when one ends", async () => {
  const record: string[] = [];
  await run(withServer(
    function* (conn) {
      const name = text(yield* conn.readline()).trim();
      record.push(`start ${name}`);
      while (true) {
        const line = yield* conn.readline();
        if (line.length === 0) break;
        yield* conn.sendall(line);
      }
      record.push(`end ${name}`);
    },
    { maxConnections: 2 },
    function* (addr) {
      const port = portOf(addr);
      using a = yield* connect("127.0.0.1", port);
      using b = yield* connect("127.0.0.1", port);
      yield* a.sendall("a\n");
      yield* b.sendall("b\n");
      equal(yield* roundTrip(a, "ping\n"), "ping\n");
      equal(yield* roundTrip(b, "ping\n"), "ping\n");
      // The third connects (the kernel's backlog takes it) but is not served...
      using c = yield* connect("127.0.0.1", port);
      yield* c.sendall("c\nping\n");
      // ... while the others make round trips, giving the server time to accept it.
      for (let i = 0; i < 20; i++) {
        equal(yield* roundTrip(a, "ping\n"), "ping\n");
      }
      record.push("a and b still served, c waiting");
      a.close();
      equal(text(yield* c.readline()), "ping\n");
      record.push("c served");
    },
  ));
  deepEqual(record.slice(0, 6), [
    "start a",
    "start b",
    "a and b still served, c waiting",
    "end a",
    "start c",
    "c served",
  ]);
});

Deno.test("Killing server() closes the listener and runs every handler's finally, even one that yields", async () => {
  const record: string[] = [];
  let port = 0;
  await run(function* () {
    const task = yield* spawn(server("127.0.0.1", 0, function* (conn) {
      const name = text(yield* conn.readline()).trim();
      try {
        record.push(`${name} serving`);
        yield* conn.sendall("ready\n");
        yield* conn.readline(); // waits until killed
      } finally {
        yield* conn.sendall(`goodbye ${name}\n`); // a finally that yields
        record.push(`${name} finally done`);
      }
    }, { onListen: (addr) => port = portOf(addr) }));
    yield* yieldNow();
    const clients: Connection[] = [];
    for (const name of ["a", "b", "c"]) {
      const conn = yield* connect("127.0.0.1", port);
      clients.push(conn);
      yield* conn.sendall(`${name}\n`);
      equal(text(yield* conn.readline()), "ready\n");
    }
    yield* kill(task);
    record.push("server killed");
    for (const [i, conn] of clients.entries()) {
      // (The time limit turns a handler left running into a failure, not a hang.)
      const line = yield* withTimeout(10_000, conn.readline());
      equal(text(line), `goodbye ${"abc"[i]}\n`);
      equal((yield* conn.recv(10)).length, 0); // and then closed
      conn.close();
    }
    const error = yield* thrown(connect("127.0.0.1", port));
    ok(error instanceof ConnectionRefusedError, String(error));
  }());
  deepEqual(record, [
    "a serving",
    "b serving",
    "c serving",
    "a finally done",
    "b finally done",
    "c finally done",
    "server killed",
  ]);
});

Deno.test("Killing a thread that runs server() through yield* stops it too", async () => {
  const record: string[] = [];
  await run(function* () {
    let port = 0;
    const task = yield* spawn(function* (): Coroutine<void> {
      yield* server("127.0.0.1", 0, function* (conn) {
        try {
          yield* conn.readline();
        } finally {
          yield* conn.sendall("bye\n");
        }
      }, { onListen: (addr) => port = portOf(addr) });
      record.push("after server (wrong)");
    }());
    yield* yieldNow();
    using conn = yield* connect("127.0.0.1", port);
    yield* conn.sendall("x");
    yield* yieldNow();
    yield* kill(task);
    record.push("killed");
    equal(text(yield* conn.readline()), "bye\n");
  }());
  deepEqual(record, ["killed"]);
});

Deno.test("server() serves 1,000 concurrent echo connections with every byte checked", async () => {
  const CONNECTIONS = 1000;
  let open = 0;
  let mostOpen = 0;
  function* countingEchoer(conn: Connection): Coroutine<void> {
    open++;
    mostOpen = Math.max(mostOpen, open);
    try {
      yield* echoer(conn);
    } finally {
      open--;
    }
  }
  /** A payload of 1 to 4,000 bytes that differs for every connection. */
  function payload(i: number): Uint8Array {
    return Uint8Array.from(
      { length: 1 + (i * 37) % 4000 },
      (_, j) => (i * 131 + j * 7) & 0xff,
    );
  }
  await run(withServer(countingEchoer, {}, function* (addr) {
    const port = portOf(addr);
    // Connect in waves that fit in the listen backlog, and keep every connection open.
    const conns: Connection[] = [];
    try {
      while (conns.length < CONNECTIONS) {
        conns.push(
          ...yield* all(
            Array.from({ length: 100 }, () => connect("127.0.0.1", port)),
          ),
        );
      }
      const checkers = [];
      for (const [i, conn] of conns.entries()) {
        checkers.push(
          yield* spawn(function* (): Coroutine<boolean> {
            const sent = payload(i);
            yield* conn.sendall(sent);
            const echoed = yield* conn.recvExactly(sent.length);
            return echoed.every((byte, j) => byte === sent[j]);
          }()),
        );
      }
      let matched = 0;
      for (const checker of checkers) if (yield* join(checker)) matched++;
      equal(matched, CONNECTIONS);
      equal(mostOpen, CONNECTIONS);
    } finally {
      for (const conn of conns) conn.close();
    }
  }));
});
