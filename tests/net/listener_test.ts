import { deepEqual, equal, ok, throws } from "node:assert/strict";
import {
  AddressInUseError,
  connect,
  join,
  kill,
  Listener,
  NetError,
  run,
  SocketClosedError,
  spawn,
  withTimeout,
  yieldNow,
} from "../../mod.ts";
import { makeCertificate, portOf, tempDir, text, thrown } from "./_helpers.ts";

Deno.test("new Listener() listens at once and reports the real port for port 0", async () => {
  using listener = new Listener("127.0.0.1", 0);
  const addr = listener.addr;
  ok(addr.transport === "tcp");
  equal(addr.hostname, "127.0.0.1");
  ok(addr.port > 0);
  // Listening already: a plain Deno client connects before anyone accepts.
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: addr.port });
  conn.close();
});

Deno.test("new Listener() throws AddressInUseError naming the address when the port is taken", () => {
  using first = new Listener("127.0.0.1", 0);
  const port = portOf(first.addr);
  throws(
    () => new Listener("127.0.0.1", port),
    (error: unknown) => {
      ok(error instanceof AddressInUseError, String(error));
      ok(error instanceof NetError);
      ok(error.cause instanceof Deno.errors.AddrInUse);
      equal(
        error.message,
        `Cannot listen on 127.0.0.1:${port}: address already in use`,
      );
      return true;
    },
  );
});

Deno.test("new Listener() checks its arguments", () => {
  throws(() => new Listener("127.0.0.1", 70000), RangeError);
  throws(() => new Listener("127.0.0.1", -1), RangeError);
  throws(() => new Listener("", 0, { transport: "unix" }), TypeError);
  throws(
    () =>
      new Listener("", 0, {
        transport: "unix",
        path: "/tmp/x.sock",
        tls: { cert: "", key: "" },
      }),
    TypeError,
  );
});

Deno.test("new Listener() shares a port with reusePort over TLS too, and refuses it on a Unix socket", async () => {
  const { cert, key } = await makeCertificate();
  using first = new Listener("127.0.0.1", 0, { tls: { cert, key }, reusePort: true });
  const port = portOf(first.addr);
  using second = new Listener("127.0.0.1", port, { tls: { cert, key }, reusePort: true });
  equal(portOf(second.addr), port);
  await using dir = await tempDir();
  const path = `${dir.path}/reuse.sock`;
  throws(() => new Listener("", 0, { transport: "unix", path, reusePort: true }), {
    name: "TypeError",
    message: `Cannot listen on ${path}: reusePort is only supported over TCP`,
  });
});

Deno.test("Listener.accept() gives connections from the peer's address", async () => {
  await run(function* () {
    using listener = new Listener("127.0.0.1", 0);
    using client = yield* connect("127.0.0.1", portOf(listener.addr));
    using conn = yield* listener.accept();
    deepEqual(conn.addr, client.localAddr);
    yield* client.sendall("hi");
    equal(text(yield* conn.recvExactly(2)), "hi");
  }());
});

Deno.test("Listener operations after close() throw SocketClosedError", async () => {
  await run(function* () {
    const listener = new Listener("127.0.0.1", 0);
    listener.close();
    listener.close(); // idempotent
    ok(listener.closed);
    const error = yield* thrown(listener.accept());
    ok(error instanceof SocketClosedError, String(error));
  }());
});

Deno.test("Listener.close() makes a waiting accept() throw SocketClosedError", async () => {
  const record: string[] = [];
  await run(function* () {
    const listener = new Listener("127.0.0.1", 0);
    const acceptor = yield* spawn(function* () {
      record.push("accepting");
      const error = yield* thrown(listener.accept());
      record.push(
        error instanceof SocketClosedError ? "closed" : String(error),
      );
    }());
    yield* yieldNow();
    record.push("closing");
    listener.close();
    yield* join(acceptor);
  }());
  deepEqual(record, ["accepting", "closing", "closed"]);
});

Deno.test("Listener rejects a second concurrent accept() with TypeError", async () => {
  await run(function* () {
    using listener = new Listener("127.0.0.1", 0);
    const first = yield* spawn(listener.accept());
    yield* yieldNow();
    const error = yield* thrown(listener.accept());
    ok(error instanceof TypeError, String(error));
    ok((error as Error).message.includes("already accepting"));
    using client = yield* connect("127.0.0.1", portOf(listener.addr));
    using conn = yield* join(first);
    deepEqual(conn.addr, client.localAddr);
  }());
});

Deno.test("Listener.accept() killed while waiting loses no connection", async () => {
  const record: string[] = [];
  await run(function* () {
    using listener = new Listener("127.0.0.1", 0);
    const acceptor = yield* spawn(function* () {
      try {
        record.push("accepting");
        yield* listener.accept();
        record.push("accepted (wrong)");
      } finally {
        record.push("acceptor killed");
      }
    }());
    yield* yieldNow();
    yield* kill(acceptor);
    // The killed thread's OS accept is still pending and takes this connection. (The
    // time limit only turns a lost connection into a failure instead of a hang.)
    using client = yield* connect("127.0.0.1", portOf(listener.addr));
    using conn = yield* withTimeout(10_000, listener.accept());
    deepEqual(conn.addr, client.localAddr);
    record.push("next accept got it");
  }());
  deepEqual(record, ["accepting", "acceptor killed", "next accept got it"]);
});

Deno.test("Listener.close() closes a connection accepted for a killed acceptor", async () => {
  await run(function* () {
    const listener = new Listener("127.0.0.1", 0);
    const acceptor = yield* spawn(listener.accept());
    yield* yieldNow();
    yield* kill(acceptor);
    using client = yield* connect("127.0.0.1", portOf(listener.addr));
    yield* client.sendall("x"); // a round trip through the event loop
    listener.close();
    // The connection the orphaned accept took was closed: the client reads the end.
    equal((yield* client.recv(1)).length, 0);
  }());
});

Deno.test("Listener works over a Unix socket", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/listener.sock`;
  await run(function* () {
    using listener = new Listener("", 0, { transport: "unix", path });
    deepEqual(listener.addr, { transport: "unix", path });
    using client = yield* connect("", 0, { transport: "unix", path });
    using conn = yield* listener.accept();
    yield* client.sendall("unix");
    equal(text(yield* conn.recvExactly(4)), "unix");
  }());
});

Deno.test("Unix sockets: errors name the path, an accepted client's by its listener's", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/named.sock`;
  await run(function* () {
    using listener = new Listener("", 0, { transport: "unix", path });
    using client = yield* connect("", 0, { transport: "unix", path });
    using conn = yield* listener.accept();
    conn.close();
    const error = yield* thrown(conn.recv(1));
    ok(error instanceof SocketClosedError, String(error));
    equal(error.message, `Cannot recv from a client of ${path}: the socket is closed`);
    client.close();
    equal(
      ((yield* thrown(client.recv(1))) as Error).message,
      `Cannot recv from ${path}: the socket is closed`,
    );
  }());
  // Longer than a Unix socket's address holds (108 bytes on Linux).
  const long = `${dir.path}/${"x".repeat(120)}.sock`;
  for (
    const [attempt, action] of [
      [() => new Listener("", 0, { transport: "unix", path: long }), "listen on"],
      [() => run(connect("", 0, { transport: "unix", path: long })), "connect to"],
    ] as const
  ) {
    let error: unknown;
    try {
      await attempt();
    } catch (thrown) {
      error = thrown;
    }
    ok(error instanceof TypeError, String(error));
    equal(error.message, `Cannot ${action} ${long}: path must be shorter than SUN_LEN`);
  }
});

Deno.test("Listener is closed by using", () => {
  let port = 0;
  {
    using listener = new Listener("127.0.0.1", 0);
    port = portOf(listener.addr);
  }
  // The port is free again.
  using again = new Listener("127.0.0.1", port);
  equal(portOf(again.addr), port);
});

/**
 * Runs `body` with `Deno.listen` giving listeners whose OS accepts fail first with each of
 * `failures`, in order, then accept for real; `record` gets one line per failure given.
 */
async function withFailingAccepts(
  failures: Error[],
  record: string[],
  body: () => Promise<void>,
): Promise<void> {
  const realListen = Deno.listen;
  Deno.listen = ((options: Deno.TcpListenOptions) => {
    const listener = realListen(options);
    const accept = listener.accept.bind(listener);
    const left = [...failures];
    listener.accept = () => {
      const failure = left.shift();
      if (failure === undefined) return accept();
      record.push(`OS accept failed: ${failure.name}`);
      return Promise.reject(failure);
    };
    return listener;
  }) as typeof Deno.listen;
  try {
    await body();
  } finally {
    Deno.listen = realListen;
  }
}

/** An OS error as Deno gives one it has no class for: an `Error` with the errno's code. */
function osError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

Deno.test("Listener.accept() skips a client that failed while it waited in the backlog", async () => {
  // Linux's accept(2) gives a pending connection's network error as its own: the page asks
  // to treat those as a retry. The listener is fine, and the next client must be served.
  const record: string[] = [];
  const failures = [
    new Deno.errors.ConnectionAborted("Software caused connection abort (os error 103)"),
    new Deno.errors.ConnectionReset("Connection reset by peer (os error 104)"),
    new Deno.errors.NotConnected("Transport endpoint is not connected (os error 107)"),
    osError("EPROTO", "Protocol error (os error 71)"),
    osError("ENETUNREACH", "Network is unreachable (os error 101)"),
    osError("EHOSTUNREACH", "No route to host (os error 113)"),
  ];
  await withFailingAccepts(failures, record, async () => {
    await run(function* () {
      using listener = new Listener("127.0.0.1", 0);
      using client = yield* connect("127.0.0.1", portOf(listener.addr));
      using conn = yield* withTimeout(10_000, listener.accept());
      deepEqual(conn.addr, client.localAddr);
      record.push("accepted the client");
    }());
  });
  deepEqual(record, [
    "OS accept failed: ConnectionAborted",
    "OS accept failed: ConnectionReset",
    "OS accept failed: NotConnected",
    "OS accept failed: Error",
    "OS accept failed: Error",
    "OS accept failed: Error",
    "accepted the client",
  ]);
});

Deno.test("Listener.accept() throws a failure that is about the listener, not one client", async () => {
  const record: string[] = [];
  const failures = [osError("EMFILE", "Too many open files (os error 24)")];
  await withFailingAccepts(failures, record, async () => {
    await run(function* () {
      using listener = new Listener("127.0.0.1", 0);
      const error = yield* thrown(listener.accept());
      ok(error instanceof NetError, String(error));
      equal(
        (error as Error).message,
        `Cannot accept on 127.0.0.1:${portOf(listener.addr)}: too many open files`,
      );
      record.push("accept threw");
    }());
  });
  deepEqual(record, ["OS accept failed: Error", "accept threw"]);
});
