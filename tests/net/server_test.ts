import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import net from "node:net";
import {
  AddressInUseError,
  all,
  call,
  connect,
  ConnectError,
  type Connection,
  ConnectionRefusedError,
  type Coroutine,
  join,
  kill,
  Listener,
  moveOnAfter,
  NetError,
  type Operation,
  recvInto,
  run,
  server,
  shield,
  sleep,
  SocketClosedError,
  spawn,
  UnexpectedEofError,
  until,
  VirtualClock,
  withTimeout,
  yieldNow,
} from "../../mod.ts";
import { descriptorGuard } from "../../net/_fd_guard.ts";
import { type AcceptSource, logError, serveOn } from "../../net/_serve.ts";
import { MemoryListener } from "../../testing/mod.ts";
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

Deno.test("server() refuses, at its start, options of the wrong type and handlers that are async functions", async () => {
  await run(function* () {
    const cases: [Operation<void>, string, string][] = [
      [
        server("127.0.0.1", 0, echoer, { gracePeriod: "100" as never }),
        "TypeError",
        'Cannot start server: gracePeriod must be a number, got the string "100"',
      ],
      [
        server("127.0.0.1", 0, echoer, { idleTimeout: true as never }),
        "TypeError",
        "Cannot start server: idleTimeout must be a number, got boolean true",
      ],
      [
        server("127.0.0.1", 0, echoer, { maxConnections: "8" as never }),
        "TypeError",
        'Cannot start server: maxConnections must be a number, got the string "8"',
      ],
      [
        server("127.0.0.1", 0, (async () => {}) as never),
        "TypeError",
        "Cannot start server: the handler must be a generator function (function*), got an async function",
      ],
      [
        server("127.0.0.1", 0, (async function* () {}) as never),
        "TypeError",
        "Cannot start server: the handler must be a generator function (function*), got an async generator function",
      ],
    ];
    // `null` is no option, as in fetch's options: these start (and are stopped here).
    for (const name of ["maxConnections", "idleTimeout", "gracePeriod"]) {
      const started = yield* thrown(
        withTimeout(50, server("127.0.0.1", 0, echoer, { [name]: null as never })),
      );
      equal((started as Error).name, "TimeoutError", name);
    }
    for (const [operation, name, message] of cases) {
      // Bounded: a server that started instead serves until the time limit.
      const error = yield* thrown(withTimeout(1_000, operation));
      deepEqual({ name: (error as Error).name, message: (error as Error).message }, {
        name,
        message,
      });
    }
  }());
});

Deno.test("server(): a handler function that returns a promise is reported with its own failure, and the process goes on", async () => {
  const record: string[] = [];
  await run(withServer(
    ((_conn: Connection) =>
      new Promise((_, reject) => setTimeout(() => reject(new Error("async failure")), 5))) as never,
    {
      onError: (error) => record.push(`onError: ${(error as Error).message}`),
    },
    function* (addr) {
      using client = yield* connect("127.0.0.1", portOf(addr));
      // The server closed the connection at once: the handler made no coroutine.
      equal((yield* client.recv(10)).length, 0);
      yield* sleep(50); // the promise fails meanwhile: reported, not left unhandled
    },
  ));
  deepEqual(record, [
    "onError: Cannot spawn coroutine: an object (Promise) is not a generator",
    "onError: async failure",
  ]);
});

Deno.test("server() survives an async onError or onListen that fails: each is logged, and it keeps serving", async () => {
  // Their types say void, which an async function passes for; a failure with nobody to
  // catch it would end the process.
  const logged: string[] = [];
  const consoleError = console.error;
  console.error = (...args: unknown[]) => {
    logged.push(args.map((arg) => typeof arg === "string" ? arg : Deno.inspect(arg)).join(" "));
  };
  const record: string[] = [];
  try {
    await run(function* () {
      let port = 0;
      const serving = yield* spawn(server("127.0.0.1", 0, function* (conn) {
        const line = text(yield* conn.readline());
        if (line === "boom\n") throw new Error("handler failed");
        yield* conn.sendall(line);
      }, {
        // deno-lint-ignore require-await
        async onListen(addr) {
          port = (addr as Deno.NetAddr).port;
          throw new Error("the listen log is down");
        },
        // deno-lint-ignore require-await
        async onError(error) {
          record.push(`onError: ${(error as Error).message}`);
          throw new Error("the error log is down");
        },
      }));
      yield* yieldNow();
      using failing = yield* connect("127.0.0.1", port);
      yield* failing.sendall("boom\n");
      equal((yield* failing.recv(10)).length, 0);
      yield* sleep(20); // the failed promises are looked at meanwhile
      using other = yield* connect("127.0.0.1", port);
      yield* other.sendall("still there\n");
      record.push(text(yield* other.readline()));
      yield* kill(serving);
    }());
  } finally {
    console.error = consoleError;
  }
  deepEqual(record, ["onError: handler failed", "still there\n"]);
  equal(logged.length, 2, logged.join("\n"));
  ok(logged[0].startsWith("server: onListen threw Error: the listen log is down"), logged[0]);
  ok(logged[1].startsWith("server: onError threw Error: the error log is down"), logged[1]);
});

Deno.test("server() with a signal aborted already does not listen, nor call onListen, and closes a listener made beforehand", async () => {
  const record: string[] = [];
  const aborted = AbortSignal.abort();
  const memory = new MemoryListener();
  await run(function* () {
    yield* server("127.0.0.1", 0, echoer, {
      signal: aborted,
      onListen: () => record.push("listening (wrong)"),
    });
    record.push("returned");
    yield* server(memory, echoer, { signal: aborted });
    record.push(`returned, the listener closed: ${memory.closed}`);
  }());
  deepEqual(record, ["returned", "returned, the listener closed: true"]);
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

/** Connects with node:net and resets (RST) the connection, before the server accepts it. */
async function connectAndReset(port: number): Promise<void> {
  const socket = net.connect(port, "127.0.0.1");
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const closed = new Promise((resolve) => socket.once("close", resolve));
  socket.resetAndDestroy();
  await closed;
}

Deno.test("server() skips a client that reset before it was accepted, at once and without a log", async () => {
  await capturingStderr(async (logged) => {
    const record: string[] = [];
    await run(withServer(
      function* (conn) {
        const line = text(yield* conn.readline()).trim();
        record.push(`served ${line}`);
        if (line === "holder") yield* conn.readline(); // holds the only slot until it closes
        else yield* conn.sendall("ok\n");
      },
      {
        maxConnections: 1,
        onError: (error) => record.push(`onError: ${error}`),
      },
      function* (addr) {
        const port = portOf(addr);
        const holder = yield* connect("127.0.0.1", port);
        yield* holder.sendall("holder\n");
        while (record.length === 0) yield* sleep(1);
        // Ten clients that reset while they wait in the backlog, then a good one.
        for (let i = 0; i < 10; i++) yield* until(connectAndReset(port));
        using good = yield* connect("127.0.0.1", port);
        yield* good.sendall("good\n");
        holder.close(); // frees the slot: the server meets the ten resets, then the good one
        // With a pause per reset (5 + 10 + ... ms, up to 3.3 s) this would time out.
        equal(text(yield* withTimeout(1000, good.readline())), "ok\n");
        record.push("good answered");
      },
    ));
    deepEqual(record, ["served holder", "served good", "good answered"]);
    deepEqual(logged, []);
  });
});

/** A listener whose accepts fail as `failures` says, then end the serving loop. */
function failingListener(
  failures: unknown[],
  clock: VirtualClock,
  shutdown: AbortController,
  record: string[],
): AcceptSource {
  let closed = false;
  return {
    addr: { transport: "tcp", hostname: "127.0.0.1", port: 1 },
    get closed() {
      return closed;
    },
    *accept(): Coroutine<Connection> {
      record.push(`accept at ${clock.now()}`);
      const failure = failures.shift();
      if (failure === undefined) {
        shutdown.abort();
        throw new SocketClosedError("Cannot accept: closed");
      }
      yield* yieldNow();
      throw failure;
    },
    close() {
      closed = true;
    },
  };
}

Deno.test("server(): out of descriptors with the limit unread, each shedding report says the limit cannot be read", async () => {
  // No permissions: the limit cannot be read, and the first failed accept sets the budget.
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", new URL("./_shed_unread_limit.ts", import.meta.url).pathname],
    stdin: "null",
  }).output();
  const lines = new TextDecoder().decode(output.stdout).trim().split("\n");
  equal(output.code, 0, new TextDecoder().decode(output.stderr));
  deepEqual(lines.map((line) => line.replace(/\d+/g, "N")), [
    "Too many open files (os error N); servers hold N connections, and will hold at most N from now on (the limit cannot be read without --allow-all); closing this server's newest N",
    "Too many open files (os error N); servers hold N connections, and will hold at most N from now on (the limit cannot be read without --allow-all); closing this server's newest N",
  ]);
});

Deno.test("server(): two servers out of descriptors in one moment close the connections past the budget once, not once each", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", new URL("./_shed_two_servers.ts", import.meta.url).pathname],
    stdin: "null",
  }).output();
  equal(output.code, 0, new TextDecoder().decode(output.stderr));
  deepEqual(new TextDecoder().decode(output.stdout).trim().split("\n"), [
    "Too many open files (os error 24); servers hold 100 connections, and will hold at most 84 from now on (the limit cannot be read without --allow-all); closing this server's newest 16",
    // The other server's failure is of the same moment: it backs off, and closes nothing.
    "Too many open files (os error 24)",
  ]);
});

Deno.test("server() backs off on resource errors (5 ms doubling to 1 s) and skips aborted connections at once", async () => {
  const clock = new VirtualClock();
  const shutdown = new AbortController();
  const record: string[] = [];
  const tooMany = () =>
    new NetError("Cannot accept on 127.0.0.1:1: too many open files", {
      cause: new Error("Too many open files (os error 24)"),
    });
  const aborted = () =>
    new NetError("Cannot accept on 127.0.0.1:1: transport endpoint is not connected", {
      cause: new Deno.errors.NotConnected("Transport endpoint is not connected"),
    });
  const failures = [
    ...Array.from({ length: 11 }, tooMany),
    aborted(),
    aborted(),
    tooMany(),
  ];
  await run(
    serveOn(failingListener(failures, clock, shutdown, record), {
      handler: echoer,
      onError: (error, conn) => record.push(`onError ${conn}: ${(error as Error).message}`),
      maxConnections: Infinity,
      idleTimeout: Infinity,
      gracePeriod: 0,
      signal: shutdown.signal,
      descriptors: true,
    }),
    { clock },
  );
  const accepts = record.filter((line) => line.startsWith("accept"));
  deepEqual(accepts, [
    ...[0, 5, 15, 35, 75, 155, 315, 635, 1275, 2275, 3275].map((t) => `accept at ${t}`),
    // After the eleventh failure: a pause of 1 s, then two aborted connections, skipped
    // at once, then another resource error, whose pause is still the longest.
    "accept at 4275",
    "accept at 4275",
    "accept at 4275",
    "accept at 5275",
  ]);
  equal(record.filter((line) => line.startsWith("onError undefined: ")).length, 12);
  // The default onError logs such an error in one line, not a stack trace.
  await capturingStderr(async (logged) => {
    await Promise.resolve(logError(tooMany()));
    deepEqual(logged, [[
      "server: accept failed: Cannot accept on 127.0.0.1:1: too many open files",
    ]]);
  });
});

Deno.test("server() killed: a handler's finally can bound its goodbye with withTimeout()", async () => {
  const record: string[] = [];
  await run(function* () {
    let port = 0;
    const task = yield* spawn(server("127.0.0.1", 0, function* (conn) {
      try {
        yield* conn.sendall("ready\n");
        yield* conn.readline(); // until killed
      } finally {
        yield* withTimeout(5000, conn.sendall("goodbye\n"));
        record.push("finally done");
      }
    }, { onListen: (addr) => port = portOf(addr) }));
    yield* yieldNow();
    using conn = yield* connect("127.0.0.1", port);
    equal(text(yield* conn.readline()), "ready\n");
    yield* kill(task);
    record.push("server killed");
    equal(text(yield* conn.readline()), "goodbye\n");
  }());
  deepEqual(record, ["finally done", "server killed"]);
});

Deno.test("server() closes a connection accepted just before the run was torn down", async () => {
  // Learn when the server has made its Connection (Connection calls setNoDelay) without
  // letting its handler run: the test thread runs between the two.
  let made = false;
  const realListen = Deno.listen;
  Deno.listen = ((options: Deno.TcpListenOptions) => {
    const listener = realListen(options);
    const accept = listener.accept.bind(listener);
    listener.accept = async () => {
      const conn = await accept();
      const setNoDelay = conn.setNoDelay.bind(conn);
      conn.setNoDelay = (noDelay?: boolean) => {
        made = true;
        setNoDelay(noDelay);
      };
      return conn;
    };
    return listener;
  }) as typeof Deno.listen;
  const record: string[] = [];
  let client: Deno.Conn | null = null;
  try {
    const error = await run(function* () {
      let port = 0;
      yield* spawn(server("127.0.0.1", 0, function* (conn) {
        record.push("handler ran (wrong)");
        yield* conn.recv(1);
      }, { onListen: (addr) => port = portOf(addr) }));
      yield* yieldNow();
      client = yield* until(Deno.connect({ hostname: "127.0.0.1", port }));
      // Spin (so that the handler, queued behind this thread, never gets a first step)
      // until the accept lands; bounded in real time, since when Deno polls the socket
      // depends on the machine.
      const giveUp = performance.now() + 10_000;
      while (!made && performance.now() < giveUp) yield* yieldNow();
      record.push(made ? "connection made" : "never made");
      throw new Error("teardown");
    }()).catch((error: Error) => error.message);
    equal(error, "teardown");
  } finally {
    Deno.listen = realListen;
  }
  const conn: Deno.Conn = client!;
  try {
    // Before the fix the client waited forever: nobody closed the accepted connection.
    const read = conn.read(new Uint8Array(1));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve("no end of stream"), 5000);
    });
    equal(await Promise.race([read, late]), null);
    clearTimeout(timer);
  } finally {
    conn.close();
  }
  deepEqual(record, ["connection made"]);
});

Deno.test("server() reports a send after the handler's own closeWrite() through onError", async () => {
  const record: string[] = [];
  await run(withServer(
    function* (conn) {
      yield* conn.closeWrite();
      yield* conn.sendall("too late");
    },
    { onError: (error) => record.push(`${(error as Error).name}: ${(error as Error).message}`) },
    function* (addr) {
      using conn = yield* connect("127.0.0.1", portOf(addr));
      equal((yield* conn.recv(10)).length, 0);
      for (let i = 0; record.length === 0 && i < 1000; i++) yield* sleep(1);
      deepEqual(record, [
        `SocketClosedError: Cannot send to 127.0.0.1:${
          portOf(conn.localAddr)
        }: the write side was shut down here by closeWrite()`,
      ]);
    },
  ));
});

Deno.test("server() with idleTimeout closes a silent connection, runs its handler's finally, and keeps a busy one", async () => {
  const record: string[] = [];
  await run(withServer(
    function* (conn) {
      const name = text(yield* conn.readline()).trim();
      try {
        for (;;) {
          const line = yield* conn.readline();
          if (line.length === 0) return;
          yield* conn.sendall(line);
        }
      } finally {
        record.push(`${name} handler finally`);
      }
    },
    { idleTimeout: 200 },
    function* (addr) {
      const port = portOf(addr);
      using silent = yield* connect("127.0.0.1", port);
      using busy = yield* connect("127.0.0.1", port);
      yield* silent.sendall("silent\n");
      yield* busy.sendall("busy\n");
      const watcher = yield* spawn(function* () {
        equal((yield* silent.recv(1)).length, 0);
        record.push("silent closed by the server");
      }());
      // 25 round trips 20 ms apart: twice the limit, never 200 ms without a byte.
      for (let i = 0; i < 25; i++) {
        yield* sleep(20);
        yield* busy.sendall("ping\n");
        equal(text(yield* busy.readline()), "ping\n");
      }
      record.push("busy still served");
      yield* join(watcher);
    },
  ));
  deepEqual(record, [
    "silent handler finally",
    "silent closed by the server",
    "busy still served",
    "busy handler finally",
  ]);
});

Deno.test("server() shuts down gracefully on its signal: stops accepting, waits, then kills what is left", async () => {
  const record: string[] = [];
  const shutdown = new AbortController();
  await run(function* () {
    let port = 0;
    const task = yield* spawn(function* () {
      yield* server("127.0.0.1", 0, function* (conn) {
        const name = text(yield* conn.readline()).trim();
        try {
          yield* conn.sendall("ready\n");
          yield* conn.readline(); // "quick" ends when its client closes; "stuck" never does
          record.push(`${name} finished`);
        } finally {
          record.push(`${name} finally`);
        }
      }, { onListen: (addr) => port = portOf(addr), signal: shutdown.signal, gracePeriod: 300 });
      record.push("server returned");
    }());
    yield* yieldNow();
    using quick = yield* connect("127.0.0.1", port);
    using stuck = yield* connect("127.0.0.1", port);
    for (const [name, conn] of [["quick", quick], ["stuck", stuck]] as const) {
      yield* conn.sendall(`${name}\n`);
      equal(text(yield* conn.readline()), "ready\n");
    }
    shutdown.abort();
    record.push("shutdown");
    yield* yieldNow();
    // Refused, or reset if it raced the listener's close: never served.
    const refused = yield* thrown(connect("127.0.0.1", port));
    ok(refused instanceof ConnectError, String(refused));
    record.push("new client refused");
    quick.close();
    yield* join(task);
    equal((yield* stuck.recv(1)).length, 0);
  }());
  deepEqual(record, [
    "shutdown",
    "new client refused",
    "quick finished",
    "quick finally",
    "stuck finally",
    "server returned",
  ]);
});

Deno.test("server() idleTimeout runs on the run's clock: in memory, a silent client goes 1 to 1.25 limits after its last byte", async () => {
  const clock = new VirtualClock();
  const listener = new MemoryListener();
  const record: string[] = [];
  await run(
    function* () {
      const serving = yield* spawn(server(listener, function* (conn) {
        try {
          for (;;) {
            const line = yield* conn.readline();
            if (line.length === 0) return;
            yield* conn.sendall(line);
          }
        } finally {
          record.push(`handler finally at ${clock.now()}`);
        }
      }, { idleTimeout: 1000 }));
      using conn = yield* listener.connect();
      yield* sleep(700);
      yield* conn.sendall("x\n");
      equal(text(yield* conn.readline()), "x\n");
      record.push(`last byte at ${clock.now()}`);
      equal((yield* conn.recv(1)).length, 0);
      record.push(`client sees the end at ${clock.now()}`);
      yield* kill(serving);
    }(),
    { clock },
  );
  // Checked every 250 ms: quiet from 700, found idle at 1750.
  deepEqual(record, [
    "last byte at 700",
    "handler finally at 1750",
    "client sees the end at 1750",
  ]);
});

Deno.test("server() that stops as the idle limit ends a handler whose cleanup fails reports the failure before it ends", async (t) => {
  // At 125 the sweeper finds the silent client idle, closes its connection and kills the
  // handler, whose cleanup fails, and its reaper reports that. A server draining then (shut
  // down at 50) waits for the report: it never comes after the server ended, nor is it
  // lost with the run. Killed in that instant, the server reports it as it ends.
  for (const { how, at } of [{ how: "killed", at: 125 }, { how: "shut down", at: 50 }]) {
    await t.step(how, async () => {
      const clock = new VirtualClock();
      const listener = new MemoryListener();
      const shutdown = new AbortController();
      const record: string[] = [];
      function* handler(conn: Connection): Coroutine<void> {
        try {
          yield* conn.recv(10); // a silent client
        } finally {
          record.push(`${clock.now()} handler's cleanup fails`);
          // deno-lint-ignore no-unsafe-finally -- the point: a cleanup that fails
          throw new Error("cleanup failed");
        }
      }
      await run(
        function* () {
          const serving = yield* spawn(function* () {
            try {
              yield* server(listener, handler, {
                idleTimeout: 100,
                signal: shutdown.signal,
                onError: (error) =>
                  record.push(`${clock.now()} onError: ${(error as Error).message}`),
              });
            } finally {
              record.push(`${clock.now()} server ended`);
            }
          }());
          // Its timer is set at 0, the sweeper's for 125 at 100: at 125 it fires first.
          const stopper = yield* spawn(function* () {
            yield* sleep(at);
            record.push(`${clock.now()} ${how}`);
            if (how === "killed") yield* kill(serving);
            else shutdown.abort();
          }());
          using _client = yield* listener.connect();
          yield* join(stopper); // a kill returns once the server has ended
          if (how === "shut down") yield* join(serving);
        }(),
        { clock },
      );
      deepEqual(record, [
        `${at} ${how}`,
        "125 handler's cleanup fails",
        "125 onError: cleanup failed",
        "125 server ended",
      ]);
    });
  }
});

Deno.test("server() over TLS ends quietly a handler whose client does not speak TLS", async () => {
  const { cert, key } = await makeCertificate();
  const record: string[] = [];
  await run(withServer(
    function* (conn) {
      try {
        yield* conn.recv(10);
      } finally {
        record.push("handler ended");
      }
    },
    { tls: { cert, key }, onError: (error) => record.push(`onError: ${error}`) },
    function* (addr) {
      using plain = yield* connect("127.0.0.1", portOf(addr));
      yield* plain.sendall("GET / HTTP/1.1\r\n\r\n");
      for (let i = 0; i < 1000 && record.length === 0; i++) yield* sleep(1);
    },
  ));
  deepEqual(record, ["handler ended"]);
});

Deno.test("server() over TLS ends quietly a handler whose client closes before or during the handshake", async () => {
  const { cert, key } = await makeCertificate();
  const record: string[] = [];
  await run(withServer(
    function* (conn) {
      try {
        yield* conn.recv(10);
      } finally {
        record.push("handler ended");
      }
    },
    { tls: { cert, key }, onError: (error) => record.push(`onError: ${error}`) },
    function* (addr) {
      // A health check: connect and close. Then half a ClientHello, and close.
      for (
        const bytes of [new Uint8Array(0), new Uint8Array([0x16, 0x03, 0x01, 0x00, 0xc8, 0x01])]
      ) {
        using plain = yield* connect("127.0.0.1", portOf(addr));
        if (bytes.length > 0) yield* plain.sendall(bytes);
        plain.close();
        const before = record.length;
        for (let i = 0; i < 1000 && record.length === before; i++) yield* sleep(1);
      }
    },
  ));
  deepEqual(record, ["handler ended", "handler ended"]);
});

Deno.test("server() over TLS counts a socket mid-handshake until its client leaves, not until it closes it", async () => {
  // Deno 2.9.6 keeps the socket of a TLS connection closed mid-handshake open until the
  // handshake ends: the descriptor guard must count it until then.
  const { cert, key } = await makeCertificate();
  const guard = descriptorGuard();
  const before = guard.held;
  const record: string[] = [];
  await run(withServer(
    function* (conn) {
      try {
        yield* conn.recv(10);
      } finally {
        record.push("handler ended");
      }
    },
    { tls: { cert, key }, idleTimeout: 50, onError: (error) => record.push(`onError: ${error}`) },
    function* (addr) {
      const silent: Deno.Conn[] = [];
      try {
        for (let i = 0; i < 3; i++) {
          silent.push(yield* until(Deno.connect({ hostname: "127.0.0.1", port: portOf(addr) })));
        }
        for (let i = 0; i < 1000 && record.length < 3; i++) yield* sleep(1);
        yield* sleep(20);
        record.push(`idle ones closed, still counted: ${guard.held - before}`);
      } finally {
        for (const conn of silent) conn.close();
      }
      for (let i = 0; i < 1000 && guard.held > before; i++) yield* sleep(1);
      record.push(`clients gone, counted: ${guard.held - before}`);
    },
  ));
  deepEqual(record, [
    "handler ended",
    "handler ended",
    "handler ended",
    "idle ones closed, still counted: 3",
    "clients gone, counted: 0",
  ]);
});

Deno.test("server() over TLS takes a new client as soon as the idle limit frees a slot of maxConnections, with the closed ones still mid-handshake", async () => {
  // A socket closed mid-handshake still holds its descriptor (see the test above), but not
  // its slot among maxConnections: two silent clients must not lock out a third.
  const { cert, key } = await makeCertificate();
  const record: string[] = [];
  await run(withServer(
    function* (conn) {
      try {
        yield* conn.sendall(yield* conn.recv(10));
        yield* conn.recv(10); // until the client leaves
      } finally {
        record.push("handler ended");
      }
    },
    { tls: { cert, key }, maxConnections: 2, idleTimeout: 50 },
    function* (addr) {
      const silent: Deno.Conn[] = [];
      try {
        for (let i = 0; i < 2; i++) {
          silent.push(yield* until(Deno.connect({ hostname: "127.0.0.1", port: portOf(addr) })));
        }
        using client = yield* withTimeout(
          3000,
          connect("localhost", portOf(addr), { tls: { caCerts: [cert] } }),
        );
        yield* client.sendall("ping");
        record.push(`echoed ${text(yield* withTimeout(3000, client.recvExactly(4)))}`);
      } finally {
        for (const conn of silent) conn.close();
      }
    },
  ));
  deepEqual(record, ["handler ended", "handler ended", "echoed ping", "handler ended"]);
});

Deno.test("server() graceful shutdown in virtual time: handlers get gracePeriod, then are killed", async () => {
  const clock = new VirtualClock();
  const listener = new MemoryListener();
  const shutdown = new AbortController();
  const record: string[] = [];
  await run(
    function* () {
      const serving = yield* spawn(function* () {
        yield* server(listener, function* (conn) {
          const name = text(yield* conn.readline()).trim();
          try {
            yield* sleep(name === "quick" ? 300 : 5000); // work that takes a while
            yield* conn.sendall(`${name} done\n`);
          } finally {
            record.push(`${name} ended at ${clock.now()}`);
          }
        }, { signal: shutdown.signal, gracePeriod: 1000 });
        record.push(`server returned at ${clock.now()}`);
      }());
      using quick = yield* listener.connect();
      using slow = yield* listener.connect();
      yield* quick.sendall("quick\n");
      yield* slow.sendall("slow\n");
      yield* sleep(100);
      shutdown.abort();
      record.push(`shutdown at ${clock.now()}`);
      equal(text(yield* quick.readline()), "quick done\n");
      equal((yield* slow.recv(1)).length, 0); // killed at the end of the grace period
      yield* join(serving);
    }(),
    { clock },
  );
  deepEqual(record, [
    "shutdown at 100",
    "quick ended at 300",
    "slow ended at 1100",
    "server returned at 1100",
  ]);
});

Deno.test("server() with gracePeriod Infinity waits for every handler to end, however long", async () => {
  const clock = new VirtualClock();
  const listener = new MemoryListener();
  const shutdown = new AbortController();
  const record: string[] = [];
  await run(
    function* () {
      const serving = yield* spawn(function* () {
        yield* server(listener, function* (conn) {
          yield* conn.readline();
          try {
            yield* sleep(3_600_000); // an hour: longer than any finite default
            yield* conn.sendall("done\n");
            record.push(`handler finished at ${clock.now()}`);
          } finally {
            record.push(`handler ended at ${clock.now()}`);
          }
        }, { signal: shutdown.signal, gracePeriod: Infinity });
        record.push(`server returned at ${clock.now()}`);
      }());
      using client = yield* listener.connect();
      yield* client.sendall("go\n");
      yield* sleep(100);
      shutdown.abort();
      equal(text(yield* client.readline()), "done\n");
      yield* join(serving);
    }(),
    { clock },
  );
  deepEqual(record, [
    "handler finished at 3600000",
    "handler ended at 3600000",
    "server returned at 3600000",
  ]);
});

Deno.test("server() in a run that fails: a handler's finally still says goodbye within withTimeout()", async () => {
  const record: string[] = [];
  let client: Deno.Conn | null = null;
  const error = await run(function* () {
    let port = 0;
    yield* spawn(server("127.0.0.1", 0, function* (conn) {
      try {
        yield* conn.sendall("ready\n");
        yield* conn.readline(); // until the run is torn down
      } finally {
        yield* withTimeout(5000, conn.sendall("goodbye\n"));
        record.push("finally done");
      }
    }, { onListen: (addr) => port = portOf(addr) }));
    yield* yieldNow();
    client = yield* until(Deno.connect({ hostname: "127.0.0.1", port }));
    const buffer = new Uint8Array(6);
    equal(yield* until(client.read(buffer)), 6);
    throw new Error("teardown");
  }()).catch((error: Error) => error.message);
  equal(error, "teardown");
  const conn: Deno.Conn = client!;
  try {
    const buffer = new Uint8Array(100);
    const n = await conn.read(buffer);
    equal(text(buffer.subarray(0, n ?? 0)), "goodbye\n");
  } finally {
    conn.close();
  }
  deepEqual(record, ["finally done"]);
});

Deno.test("server(): killed during its graceful shutdown, it still waits for every handler's cleanup", async () => {
  // The grace period is over and the server kills its handlers one after the other, in
  // its `finally`, when a second kill comes: that kill waits for the handlers' and their
  // helpers' `finally` blocks, as any kill of the server does.
  const clock = new VirtualClock();
  const listener = new MemoryListener();
  const record: string[] = [];
  const shutdown = new AbortController();
  const note = (what: string) => record.push(`${clock.now()} ${what}`);
  function* handler(conn: Connection): Coroutine<void> {
    try {
      yield* conn.recv(1);
      yield* spawn(function* () {
        try {
          yield* sleep(2);
        } finally {
          note("helper finally");
        }
      }());
      while ((yield* conn.recv(64)).length > 0);
    } finally {
      yield* shield(function* () {
        yield* sleep(2);
        note("handler finally");
      }());
    }
  }
  await run(
    function* () {
      const serving = yield* spawn(server(listener, handler, {
        signal: shutdown.signal,
        gracePeriod: 0,
      }));
      yield* spawn(function* () {
        yield* sleep(40);
        yield* kill(serving);
        note("kill(server) returned");
      }());
      yield* sleep(30);
      const conn = yield* listener.connect();
      yield* moveOnAfter(6, conn.recv(1));
      yield* moveOnAfter(3, conn.recv(1));
      conn.close();
      shutdown.abort(); // at 39: the grace period ends at once, and the handlers are killed
    }(),
    { clock },
  );
  deepEqual(record, ["41 handler finally", "41 helper finally", "41 kill(server) returned"]);
});

Deno.test("server(): a run aborted through its signal still hands a handler helper's cleanup error to onError", async () => {
  // The run's teardown kills every thread, oldest first: the server's connection thread
  // kills its handler and waits, so what the handler's helper throws in its `finally`
  // reaches onError, as when the server itself is killed, and the run rejects with the
  // abort's reason alone.
  const listener = new MemoryListener();
  const controller = new AbortController();
  const reported: string[] = [];
  function* handler(_conn: Connection): Coroutine<void> {
    yield* spawn(function* () {
      try {
        yield* sleep(1000);
      } finally {
        // deno-lint-ignore no-unsafe-finally -- the point: a cleanup that fails
        throw new Error("the helper's cleanup failed");
      }
    }());
    yield* sleep(1000);
  }
  await rejects(
    run(
      function* () {
        yield* spawn(server(listener, handler, {
          onError: (error) => reported.push((error as Error).message),
        }));
        using _client = yield* listener.connect();
        yield* sleep(5); // the handler and its helper wait now
        controller.abort(new Error("shutdown"));
        yield* sleep(1);
      }(),
      { clock: new VirtualClock(), signal: controller.signal },
    ),
    (error) => error instanceof Error && error.message === "shutdown",
  );
  deepEqual(reported, ["the helper's cleanup failed"]);
});

Deno.test("server() killed as its sweeper is about to start a reaper shuts down cleanly", async () => {
  // A spawn is an event the thread may give way before: the sweeper, out of steps at the
  // reaper's spawn, is killed with the server before the spawn takes effect. Each count of
  // filler steps moves where the step budget runs out; one lands it there.
  function* empty(): Coroutine<void> {}
  const failures: string[] = [];
  for (let steps = 0; steps < 1100; steps++) {
    const clock = new VirtualClock();
    const listener = new MemoryListener();
    const reported: unknown[] = [];
    try {
      await run(
        function* () {
          const serving = yield* spawn(server(listener, function* (conn) {
            yield* conn.recv(1);
          }, { idleTimeout: 1000, onError: (error) => reported.push(error) }));
          using _conn = yield* listener.connect();
          // The sweeper looks every 250 ms and finds the connection idle at 1250: both
          // timers below are set before its look at 1250, so they run ahead of it.
          const filler = yield* spawn(function* () {
            yield* sleep(1250 - clock.now());
            for (let i = 0; i < steps; i++) yield call(empty()); // uses up the step budget
          }());
          yield* sleep(1250 - clock.now());
          yield* kill(serving);
          yield* kill(filler);
        }(),
        { clock },
      );
    } catch (error) {
      failures.push(`steps=${steps}: ${(error as Error).name}: ${(error as Error).message}`);
    }
    if (reported.length > 0) failures.push(`steps=${steps}: reported ${reported}`);
  }
  deepEqual(failures, []);
});

Deno.test("server() over TLS: closing a connection mid-handshake wakes its waiting reads, sends and closeWrite at once", async () => {
  // Deno leaves such a socket open until the client finishes the handshake or leaves (see
  // above); a read, a big send or a shutdown waiting on it must not wait that long for the
  // close. One read and one write at a time per connection: two rounds.
  const { cert, key } = await makeCertificate();
  const record: string[] = [];
  const rounds: [string, (conn: Connection) => Operation<unknown>][][] = [
    [
      ["recv(10)", (conn) => conn.recv(10)],
      ["sendall", (conn) => conn.sendall(new Uint8Array(64 * 1024))],
    ],
    [
      ["recvInto", (conn) => recvInto(conn, new Uint8Array(10))],
      ["closeWrite after a small send", function* (conn) {
        yield* conn.sendall("hi"); // queued, to go out with what follows
        yield* conn.closeWrite();
      }],
    ],
  ];
  for (const ops of rounds) {
    await run(withServer(
      function* (conn) {
        const waiters = [];
        for (const [name, op] of ops) {
          waiters.push(
            yield* spawn(function* () {
              try {
                yield* op(conn);
              } catch (error) {
                record.push(`${name} threw ${(error as Error).name}`);
              }
            }()),
          );
        }
        yield* sleep(20);
        conn.close();
        for (const waiter of waiters) yield* join(waiter);
        record.push("handler joined both");
      },
      { tls: { cert, key }, onError: (error) => record.push(`onError: ${error}`) },
      function* (addr) {
        // A client that never starts the handshake, and stays until the handler is done.
        const silent = yield* until(Deno.connect({ hostname: "127.0.0.1", port: portOf(addr) }));
        const enough = record.length + 3;
        try {
          for (let i = 0; i < 2000 && record.length < enough; i++) yield* sleep(1);
        } finally {
          silent.close();
        }
      },
    ));
  }
  deepEqual(record.toSorted(), [
    "closeWrite after a small send threw SocketClosedError",
    "handler joined both",
    "handler joined both",
    "recv(10) threw SocketClosedError",
    "recvInto threw SocketClosedError",
    "sendall threw SocketClosedError",
  ]);
});

Deno.test("a server killed frees its port before the kill completes: listening again at once works", async () => {
  const record: string[] = [];
  await run(function* () {
    for (let round = 0; round < 3; round++) {
      let port = 0;
      const serving = yield* spawn(server("127.0.0.1", 0, function* (conn) {
        yield* conn.recv(10);
      }, { onListen: (addr) => port = portOf(addr) }));
      yield* sleep(5);
      yield* kill(serving);
      // Deno frees a listening socket once its accept in flight has settled.
      using again = new Listener("127.0.0.1", port);
      record.push(`round ${round}: listening again on the same port`);
      again.close();
    }
  }());
  deepEqual(record, [0, 1, 2].map((round) => `round ${round}: listening again on the same port`));
});

Deno.test("server() over TLS: closing a connection mid-handshake wakes a read that waits on an earlier, timed-out one", async () => {
  const { cert, key } = await makeCertificate();
  const record: string[] = [];
  await run(withServer(
    function* (conn) {
      // Its OS read goes on without it: the next read waits on that one.
      const first = yield* moveOnAfter(5, conn.recv(10));
      record.push(`first read timed out: ${first.timedOut}`);
      const reader = yield* spawn(function* () {
        try {
          yield* conn.recv(10);
        } catch (error) {
          record.push(`second read threw ${(error as Error).name}`);
        }
      }());
      yield* sleep(20);
      conn.close();
      yield* join(reader);
    },
    { tls: { cert, key }, onError: (error) => record.push(`onError: ${error}`) },
    function* (addr) {
      // A client that never starts the handshake, and stays until the handler is done.
      const silent = yield* until(Deno.connect({ hostname: "127.0.0.1", port: portOf(addr) }));
      try {
        for (let i = 0; i < 2000 && record.length < 2; i++) yield* sleep(1);
      } finally {
        silent.close();
      }
    },
  ));
  deepEqual(record, ["first read timed out: true", "second read threw SocketClosedError"]);
});
