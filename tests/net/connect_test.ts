import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import {
  connect,
  ConnectError,
  Connection,
  ConnectionRefusedError,
  ConnectionResetError,
  ConnectTimeoutError,
  type Coroutine,
  join,
  kill,
  Listener,
  NetError,
  run,
  SocketClosedError,
  spawn,
  until,
  VirtualClock,
  yieldNow,
} from "../../mod.ts";
import { echoer, makeCertificate, portOf, text, thrown, withServer } from "./_helpers.ts";

/** A port nothing listens on (it was free a moment ago). */
function closedPort(): number {
  using listener = new Listener("127.0.0.1", 0);
  return portOf(listener.addr);
}

/**
 * A listener whose accept queue is full, so that connecting to it hangs: with a backlog
 * of 0 the kernel queues one connection and drops the SYNs of any more.
 */
async function fullListener(): Promise<AsyncDisposable & { port: number }> {
  const listener = Deno.listen({
    hostname: "127.0.0.1",
    port: 0,
    tcpBacklog: 0,
  });
  const port = listener.addr.port;
  const filler = await Deno.connect({ hostname: "127.0.0.1", port });
  return {
    port,
    [Symbol.asyncDispose]: async () => {
      filler.close();
      listener.close();
      await Promise.resolve();
    },
  };
}

Deno.test("connect() to a closed port throws ConnectionRefusedError naming host and port", async () => {
  const port = closedPort();
  await run(function* () {
    const error = yield* thrown(connect("127.0.0.1", port));
    ok(error instanceof ConnectionRefusedError, String(error));
    ok(error instanceof ConnectError);
    ok(error instanceof NetError);
    ok(error.cause instanceof Deno.errors.ConnectionRefused);
    equal(
      error.message,
      `Cannot connect to 127.0.0.1:${port}: connection refused`,
    );
    const error6 = yield* thrown(connect("::1", port));
    ok(error6 instanceof ConnectionRefusedError, String(error6));
    equal(
      error6.message,
      `Cannot connect to [::1]:${port}: connection refused`,
    );
  }());
});

Deno.test("connect() times out on the run's clock: in virtual time under a VirtualClock", async () => {
  await using full = await fullListener();
  // The hanging connect is a pending promise, which holds the clock still; the autojump
  // threshold lets it jump after 5 real ms of nothing happening.
  const clock = new VirtualClock(0, { autojumpThreshold: 5 });
  await run(
    function* () {
      const error = yield* thrown(connect("127.0.0.1", full.port, { timeout: 60_000 }));
      ok(error instanceof ConnectTimeoutError, String(error));
      equal(error.message, `Cannot connect to 127.0.0.1:${full.port}: timed out after 60000 ms`);
    }(),
    { clock },
  );
  equal(clock.now(), 60_000);
});

Deno.test("connect() with a timeout throws ConnectTimeoutError naming host and port and leaves nothing open", async () => {
  await using full = await fullListener();
  await run(function* () {
    const error = yield* thrown(
      connect("127.0.0.1", full.port, { timeout: 50 }),
    );
    ok(error instanceof ConnectTimeoutError, String(error));
    ok(error instanceof ConnectError);
    equal(
      error.message,
      `Cannot connect to 127.0.0.1:${full.port}: timed out after 50 ms`,
    );
  }());
  // The op sanitizer checks that the cancelled Deno.connect finished.
});

Deno.test("Killing a thread in connect() cancels the attempt and runs its finally", async () => {
  const record: string[] = [];
  await using full = await fullListener();
  await run(function* () {
    const connector = yield* spawn(function* (): Coroutine<void> {
      try {
        record.push("connecting");
        yield* connect("127.0.0.1", full.port);
        record.push("connected (wrong)");
      } finally {
        record.push("connector finally");
      }
    }());
    yield* yieldNow();
    yield* kill(connector);
    record.push("killed");
  }());
  deepEqual(record, ["connecting", "connector finally", "killed"]);
});

Deno.test("connect() checks its arguments", async () => {
  await run(function* () {
    for (
      const [operation, type] of [
        [connect("127.0.0.1", 70000), RangeError],
        [connect("127.0.0.1", 80, { timeout: 0 }), RangeError],
        [connect("127.0.0.1", 80, { timeout: NaN }), RangeError],
        [connect("", 0, { transport: "unix" }), TypeError],
      ] as const
    ) {
      const error = yield* thrown(operation);
      ok(error instanceof type, String(error));
    }
  }());
});

Deno.test("connect() refuses port 0, which names no peer, in its own words", async () => {
  await run(function* () {
    const error = yield* thrown(connect("127.0.0.1", 0));
    ok(error instanceof RangeError, String(error));
    equal(
      error.message,
      "Cannot connect to 127.0.0.1:0: port must be an integer from 1 to 65535, got 0",
    );
    const far = yield* thrown(connect("::1", 70000));
    ok(far instanceof RangeError, String(far));
    equal(
      far.message,
      "Cannot connect to [::1]:70000: port must be an integer from 1 to 65535, got 70000",
    );
  }());
});

Deno.test("connect() with TLS timed out mid-handshake leaves its socket open until the server answers, as documented", async () => {
  // Deno 2.9.6 cannot free a TLS socket mid-handshake: the JSDoc must not promise more.
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const attempt = run(connect("localhost", listener.addr.port, { tls: {}, timeout: 100 }));
  using peer = await listener.accept();
  const hello = new Uint8Array(4096);
  ok((await peer.read(hello) ?? 0) > 0, "expected a ClientHello");
  await rejects(attempt, ConnectTimeoutError);
  const buffer = new Uint8Array(4096);
  const reading = peer.read(buffer);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const still = await Promise.race([
    reading.then(() => "ended"),
    new Promise<string>((resolve) => timer = setTimeout(() => resolve("open"), 200)),
  ]);
  clearTimeout(timer);
  equal(still, "open");
  // The server answers (here with no TLS at all): the handshake ends, and the socket goes.
  await peer.write(new TextEncoder().encode("HTTP/1.1 400 Bad Request\r\n\r\n"));
  const alert = await reading; // the client's alert
  ok(alert !== null && alert > 0);
  equal(await peer.read(buffer), null);
});

Deno.test("connect() to a name that does not resolve throws ConnectError naming it", async () => {
  await run(function* () {
    const error = yield* thrown(connect("nonexistent.invalid", 80));
    ok(error instanceof ConnectError, String(error));
    ok(
      error.message.startsWith("Cannot connect to nonexistent.invalid:80: "),
      error.message,
    );
  }());
});

Deno.test("connect() speaks TLS to a TLS listener and verifies its certificate", async (t) => {
  const { cert, key } = await makeCertificate();

  await t.step("with the certificate trusted, bytes go both ways", async () => {
    await run(withServer(echoer, { tls: { cert, key } }, function* (addr) {
      for (const host of ["localhost", "127.0.0.1"]) {
        using conn = yield* connect(host, portOf(addr), {
          tls: { caCerts: [cert] },
        });
        yield* conn.sendall("secret");
        equal(text(yield* conn.recvExactly(6)), "secret");
      }
    }));
  });

  await t.step("over IPv6, with the address bracketed or not", async () => {
    await run(withServer(echoer, { tls: { cert, key }, host: "::1" }, function* (addr) {
      for (const host of ["::1", "[::1]"]) {
        using conn = yield* connect(host, portOf(addr), { tls: { caCerts: [cert] } });
        yield* conn.sendall("secret");
        equal(text(yield* conn.recvExactly(6)), "secret");
      }
    }));
  });

  await t.step(
    "the connection's addr is a tcp NetAddr, and its errors name the peer",
    async () => {
      using listener = new Listener("127.0.0.1", 0, { tls: { cert, key } });
      const port = portOf(listener.addr);
      await run(function* () {
        const accepting = yield* spawn(listener.accept());
        using viaConnect = yield* connect("localhost", port, { tls: { caCerts: [cert] } });
        using accepted = yield* join(accepting);
        // A Deno TLS connection wrapped by hand too: Deno gives its addresses no transport.
        const tls = yield* until(Deno.connectTls({ hostname: "localhost", port, caCerts: [cert] }));
        using wrapped = new Connection(tls);
        using _ = yield* listener.accept();
        for (const conn of [viaConnect, wrapped]) {
          const { transport, hostname, port: peerPort } = conn.addr as Deno.NetAddr;
          deepEqual([transport, hostname, peerPort], ["tcp", "127.0.0.1", port]);
          equal(conn.localAddr.transport, "tcp");
          conn.close();
          const error = yield* thrown(conn.recv(1));
          ok(error instanceof SocketClosedError, String(error));
          equal(error.message, `Cannot recv from 127.0.0.1:${port}: the socket is closed`);
        }
        equal(accepted.addr.transport, "tcp");
        equal(accepted.localAddr.transport, "tcp");
      }());
    },
  );

  await t.step(
    "without it, connect throws ConnectError and the server serves on",
    async () => {
      await run(withServer(echoer, {
        tls: { cert, key },
        onError: () => {}, // the server side of the failed handshake
      }, function* (addr) {
        const error = yield* thrown(
          connect("localhost", portOf(addr), { tls: {} }),
        );
        ok(error instanceof ConnectError, String(error));
        ok(
          error.message.startsWith(
            `Cannot connect to localhost:${portOf(addr)}:`,
          ),
          error.message,
        );
        using conn = yield* connect("localhost", portOf(addr), {
          tls: { caCerts: [cert] },
        });
        yield* conn.sendall("still here");
        equal(text(yield* conn.recvExactly(10)), "still here");
      }));
    },
  );

  await t.step(
    "a TLS connect whose thread is killed mid-handshake leaves no Deno resource or op open",
    async () => {
      // A plain TCP listener that never answers the handshake.
      using listener = new Listener("127.0.0.1", 0);
      await run(function* () {
        const connector = yield* spawn(
          connect("127.0.0.1", portOf(listener.addr), {
            tls: { caCerts: [cert] },
          }),
        );
        using peer = yield* listener.accept(); // the TCP part is done
        yield* yieldNow();
        yield* kill(connector);
        equal((yield* peer.recv(4096)).length > 0, true); // the ClientHello came
      }());
    },
  );

  await t.step(
    "a TLS peer that closes without close_notify: what it sent comes, then ConnectionResetError",
    async () => {
      // A ragged end, which many HTTPS servers give: a relay passes the TLS server's
      // records on but the last, its close_notify, and then closes.
      using tlsListener = new Listener("127.0.0.1", 0, { tls: { cert, key } });
      using relayListener = new Listener("127.0.0.1", 0);
      const relayPort = portOf(relayListener.addr);
      await run(function* () {
        yield* spawn(function* () {
          using conn = yield* tlsListener.accept();
          yield* conn.sendall("hello");
        }());
        yield* spawn(function* () {
          using front = yield* relayListener.accept();
          using back = yield* connect("127.0.0.1", portOf(tlsListener.addr));
          const up = yield* spawn(function* () {
            for (let data; (data = yield* front.recv(4096)).length > 0;) yield* back.sendall(data);
          }());
          yield* forwardDroppingLastAlert(back, front);
          yield* kill(up); // then \`front\` closes, with no close_notify
        }());
        using client = yield* connect("localhost", relayPort, { tls: { caCerts: [cert] } });
        equal(text(yield* client.recvExactly(5)), "hello");
        const error = yield* thrown(client.recv(10));
        ok(error instanceof ConnectionResetError, String(error));
        equal(
          error.message,
          `Cannot recv from 127.0.0.1:${relayPort}: the peer closed the connection without TLS's close_notify`,
        );
      }());
    },
  );

  await t.step("a TLS connect times out when the handshake hangs", async () => {
    using listener = new Listener("127.0.0.1", 0);
    await run(function* () {
      const error = yield* thrown(
        connect("127.0.0.1", portOf(listener.addr), {
          tls: { caCerts: [cert] },
          timeout: 50,
        }),
      );
      ok(error instanceof ConnectTimeoutError, String(error));
      equal(
        error.message,
        `Cannot connect to 127.0.0.1:${portOf(listener.addr)}: timed out after 50 ms`,
      );
      // (Deno releases the socket of a handshake cancelled this way only once the peer
      // sends or closes, so the peer cannot wait here for the end of the stream.)
      using peer = yield* listener.accept();
      ok((yield* peer.recv(4096)).length > 0); // the ClientHello came
    }());
  });
});

Deno.test("Killing a thread in connect() with a timeout cancels the attempt", async () => {
  const record: string[] = [];
  await using full = await fullListener();
  await run(function* () {
    const connector = yield* spawn(function* (): Coroutine<void> {
      try {
        record.push("connecting");
        yield* connect("127.0.0.1", full.port, { timeout: 60_000 });
        record.push("connected (wrong)");
      } finally {
        record.push("connector finally");
      }
    }());
    yield* yieldNow();
    yield* kill(connector);
    record.push("killed");
  }());
  deepEqual(record, ["connecting", "connector finally", "killed"]);
});

/**
 * Passes TLS records from `from` to `to` until the end of `from`, but an alert: held until
 * the next record comes, and dropped at the end. Closed then, `to` is a peer that ends the
 * TLS connection without its close_notify. (In TLS 1.3 an alert is an encrypted record of
 * 19 bytes: 2 of alert, 1 of type, 16 of tag. No handshake record is that short, nor data
 * of other than 2 bytes.)
 */
function* forwardDroppingLastAlert(from: Connection, to: Connection): Coroutine<void> {
  let alert: Uint8Array | null = null;
  for (;;) {
    const head = yield* from.recv(5);
    if (head.length === 0) break;
    const header = new Uint8Array(5);
    header.set(head);
    if (head.length < 5) header.set(yield* from.recvExactly(5 - head.length), head.length);
    const length = (header[3] << 8) | header[4];
    const record = new Uint8Array(5 + length);
    record.set(header);
    record.set(yield* from.recvExactly(length), 5);
    if (alert !== null) yield* to.sendall(alert);
    alert = null;
    if (header[0] === 0x17 && length === 19) alert = record;
    else yield* to.sendall(record);
  }
}
