// Faults found by trying the net layer as an attacker and a new user would (issue 10):
// each test here failed before its fix.
import { deepEqual, equal, ok, rejects, throws } from "node:assert/strict";
import {
  connect,
  ConnectError,
  Connection,
  ConnectionResetError,
  ConnectionTimedOutError,
  ConnectTimeoutError,
  join,
  Listener,
  NetError,
  run,
  sleep,
  SocketClosedError,
  spawn,
  TimeoutError,
  until,
  withTimeout,
  yieldNow,
} from "../../mod.ts";
import { mapConnectError, mapError } from "../../net/_map_error.ts";
import { makeCertificate, portOf, socketPair, tempDir, text, thrown } from "./_helpers.ts";

Deno.test("Connection.recv() throws the reset that hit a read left running by a timed-out recv()", async () => {
  await using dir = await tempDir();
  await run(function* () {
    using pair = yield* socketPair({ transport: "unix", path: `${dir.path}/orphan.sock` });
    // The timed-out recv leaves its OS read running, to keep whatever it brings.
    const timedOut = yield* thrown(withTimeout(1, pair.peer.recv(10)));
    ok(timedOut instanceof TimeoutError, String(timedOut));
    yield* pair.peer.sendall("unread"); // the client never reads it
    pair.client.close(); // with unread bytes: the orphaned read fails with a reset
    yield* sleep(50); // the orphaned read lands while nobody reads
    const error = yield* thrown(pair.peer.recv(10));
    ok(error instanceof ConnectionResetError, String(error));
    ok(error.cause instanceof Deno.errors.ConnectionReset);
  }());
});

Deno.test("Connection.sendall() after this side's closeWrite() throws SocketClosedError saying so", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    yield* pair.peer.closeWrite();
    const error = yield* thrown(pair.peer.sendall("late"));
    ok(error instanceof SocketClosedError, String(error));
    const where = `127.0.0.1:${portOf(pair.client.localAddr)}`;
    equal(
      (error as Error).message,
      `Cannot send to ${where}: the write side was shut down here by closeWrite()`,
    );
    // The read side still works, and the peer saw a clean end of stream.
    equal((yield* pair.client.recv(10)).length, 0);
    yield* pair.client.sendall("still");
    equal(text(yield* pair.peer.recvExactly(5)), "still");
  }());
});

Deno.test("mapError() maps ETIMEDOUT on a connection to ConnectionTimedOutError, not a connect error", () => {
  const cause = new Deno.errors.TimedOut("Connection timed out (os error 110)");
  const error = mapError(cause, "Cannot recv from 192.0.2.1:80");
  ok(error instanceof ConnectionTimedOutError, String(error));
  ok(!(error instanceof ConnectError));
  equal((error as Error).message, "Cannot recv from 192.0.2.1:80: connection timed out");
  equal((error as Error).cause, cause);
  // From connect() it still is a connect timeout.
  const connecting = mapConnectError(cause, "Cannot connect to 192.0.2.1:80");
  ok(connecting instanceof ConnectTimeoutError, String(connecting));
});

Deno.test("mapError() maps the OS's permission denied (EACCES) to a NetError naming the address; a missing --allow-net passes through", () => {
  // Deno 2 throws NotCapable for a permission of its own, PermissionDenied for EACCES (a
  // port below 1024, a Unix socket in a directory this user may not write).
  const cause = new Deno.errors.PermissionDenied("Permission denied (os error 13)");
  const listening = mapError(cause, "Cannot listen on 127.0.0.1:80");
  ok(listening instanceof NetError, String(listening));
  equal((listening as Error).message, "Cannot listen on 127.0.0.1:80: permission denied");
  equal((listening as Error).cause, cause);
  const connecting = mapConnectError(cause, "Cannot connect to /run/app.sock");
  ok(connecting instanceof ConnectError, String(connecting));
  equal((connecting as Error).message, "Cannot connect to /run/app.sock: permission denied");
  const notCapable = new Deno.errors.NotCapable('Requires net access to "127.0.0.1:80"');
  equal(mapError(notCapable, "Cannot listen on 127.0.0.1:80"), notCapable);
});

Deno.test("mapError() maps ConnectionAborted to ConnectionResetError", () => {
  const cause = new Deno.errors.ConnectionAborted("Software caused connection abort");
  const error = mapError(cause, "Cannot recv from 127.0.0.1:80");
  ok(error instanceof ConnectionResetError, String(error));
  equal((error as Error).message, "Cannot recv from 127.0.0.1:80: connection reset by peer");
  ok(error instanceof NetError);
});

Deno.test("A sendall() yielded again by a second thread while in progress leaves 8 MiB intact", async () => {
  const SIZE = 8 * 1024 * 1024;
  const data = Uint8Array.from({ length: SIZE }, (_, i) => (i * 31 + (i >> 13)) & 0xff);
  const record: string[] = [];
  await run(function* () {
    using pair = yield* socketPair();
    const sending = pair.peer.sendall(data);
    const writer = yield* spawn(function* () {
      yield* sending;
      record.push("first sendall done");
    }());
    let received = 0;
    let intact = true;
    for (let chunks = 0; received < SIZE && chunks < 100_000; chunks++) {
      if (received >= 1024 * 1024 && record.length === 0) {
        // The first sendall is part way through (the reader is slow): yield it again.
        const error = yield* thrown(sending);
        ok(error instanceof TypeError, String(error));
        record.push("second rejected");
      }
      const chunk = yield* pair.client.recv(65536);
      if (chunk.length === 0) break;
      for (let j = 0; j < chunk.length; j++) {
        const i = received + j;
        if (chunk[j] !== ((i * 31 + (i >> 13)) & 0xff)) intact = false;
      }
      received += chunk.length;
      if (chunks % 16 === 0) yield* yieldNow(); // a slow reader
    }
    ok(intact, "the bytes arrived changed");
    equal(received, SIZE);
    // (The time limit turns a writer that sends too much into a failure, not a hang.)
    yield* withTimeout(10_000, join(writer));
  }());
  deepEqual(record, ["second rejected", "first sendall done"]);
});

Deno.test("new Listener() with port 65536 throws a RangeError naming the address", () => {
  throws(() => new Listener("127.0.0.1", 65536), (error: unknown) => {
    ok(error instanceof RangeError, String(error));
    equal(
      error.message,
      "Cannot listen on 127.0.0.1:65536: port must be an integer from 0 to 65535, got 65536",
    );
    return true;
  });
  throws(() => new Listener("::1", 65536), /Cannot listen on \[::1\]:65536: /);
});

Deno.test("connect() to port 65536 throws a RangeError naming the address", async () => {
  await run(function* () {
    const error = yield* thrown(connect("127.0.0.1", 65536));
    ok(error instanceof RangeError, String(error));
    equal(
      error.message,
      "Cannot connect to 127.0.0.1:65536: port must be an integer from 1 to 65535, got 65536",
    );
  }());
});

Deno.test("A TLS reply sent in two sendall()s reaches the peer in one write, so Nagle never holds it", async () => {
  const { cert, key } = await makeCertificate();
  const record: string[] = [];
  await run(function* () {
    using listener = new Listener("127.0.0.1", 0, { tls: { cert, key } });
    // A raw Deno client counts the TLS records' reads: one read gives the whole reply.
    const client = yield* until(Deno.connectTls({
      hostname: "localhost",
      port: portOf(listener.addr),
      caCerts: [cert],
    }));
    try {
      using conn = yield* listener.accept();
      for (let round = 0; round < 3; round++) {
        yield* until(client.write(new TextEncoder().encode("get\n")));
        equal(text(yield* conn.readline()), "get\n");
        yield* conn.sendall("HEAD 4\n");
        yield* conn.sendall("body\n");
        const buffer = new Uint8Array(100);
        const n = yield* until(client.read(buffer));
        record.push(text(buffer.subarray(0, n ?? 0)));
      }
      // closeWrite() sends what is queued first.
      yield* conn.sendall("bye\n");
      yield* conn.closeWrite();
      const buffer = new Uint8Array(100);
      record.push(text(buffer.subarray(0, (yield* until(client.read(buffer))) ?? 0)));
      equal(yield* until(client.read(buffer)), null);
    } finally {
      client.close();
    }
  }());
  deepEqual(record, [
    "HEAD 4\nbody\n",
    "HEAD 4\nbody\n",
    "HEAD 4\nbody\n",
    "bye\n",
  ]);
});

Deno.test("A TLS connection's queued small sends go out before a big one, and before close()", async () => {
  const { cert, key } = await makeCertificate();
  const big = Uint8Array.from({ length: 300_000 }, (_, i) => i & 0xff);
  await run(function* () {
    using listener = new Listener("127.0.0.1", 0, { tls: { cert, key } });
    const accepting = yield* spawn(listener.accept());
    using client = yield* connect("localhost", portOf(listener.addr), { tls: { caCerts: [cert] } });
    const conn = yield* join(accepting);
    yield* conn.sendall("a");
    yield* conn.send("b");
    yield* conn.sendall(big);
    yield* conn.sendall("z");
    conn.close(); // right after a queued send: it still goes out
    equal(text(yield* client.recvExactly(2)), "ab");
    const back = yield* client.recvExactly(big.length);
    ok(back.every((byte, i) => byte === big[i]));
    equal(text(yield* client.recvExactly(1)), "z");
    equal((yield* client.recv(1)).length, 0);
  }());
});

Deno.test("A sendall() bounded by withTimeout() that times out part way leaves the write side refusing sends", async () => {
  const big = new Uint8Array(16 * 1024 * 1024).fill(120);
  await run(function* () {
    using pair = yield* socketPair();
    // The client reads nothing: the big send stalls once the socket buffers are full.
    const timedOut = yield* thrown(withTimeout(50, pair.peer.sendall(big)));
    ok(timedOut instanceof TimeoutError, String(timedOut));
    // The peer got an unknown prefix: another message after it would be garbage.
    const error = yield* thrown(pair.peer.sendall("next message\n"));
    ok(error instanceof SocketClosedError, String(error));
    equal(
      (error as Error).message,
      `Cannot send to 127.0.0.1:${
        portOf(pair.client.localAddr)
      }: an earlier send was interrupted part way, so the stream is cut`,
    );
    // closeWrite() too (it would wait behind the stalled write); reading still works.
    const shutdown = yield* thrown(pair.peer.closeWrite());
    ok(shutdown instanceof SocketClosedError, String(shutdown));
    yield* pair.client.sendall("still\n");
    equal(text(yield* pair.peer.readline()), "still\n");
  }());
});

Deno.test("a reader killed after its read failed, before it ran again, leaves the error to the next reader", async () => {
  // A stub connection whose reads the test settles by hand. Two threads wait outside the
  // run, so the failed read's thread is queued for a drive after its promise's reaction;
  // the run's abort lands in between and kills it.
  const reads: PromiseWithResolvers<number | null>[] = [];
  const addr = { transport: "tcp", hostname: "127.0.0.1", port: 1 } as const;
  const stub = {
    remoteAddr: addr,
    localAddr: addr,
    read(_buffer: Uint8Array) {
      const read = Promise.withResolvers<number | null>();
      reads.push(read);
      return read.promise;
    },
    write: (bytes: Uint8Array) => Promise.resolve(bytes.length),
    close() {},
  };
  const conn = new Connection(stub as unknown as Deno.Conn);
  const stop = new AbortController();
  const other = Promise.withResolvers<void>();
  const first = run(
    function* () {
      yield* spawn(conn.recv(10));
      yield* until(other.promise);
    }(),
    { signal: stop.signal },
  );
  await Promise.resolve(); // the reader's OS read is in flight
  equal(reads.length, 1);
  reads[0].reject(new Deno.errors.ConnectionReset("connection reset by peer"));
  queueMicrotask(() => stop.abort()); // after the read's reaction, before the drive
  await rejects(first);
  // The next read must not take the reset for a clean end of the stream.
  const next = run(conn.recv(10));
  reads[1]?.resolve(null);
  const error = await next.then(() => null, (error: unknown) => error);
  ok(error instanceof ConnectionResetError, String(error));
});
