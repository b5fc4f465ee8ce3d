import { deepEqual, equal, match, ok } from "node:assert/strict";
import {
  BrokenPipeError,
  type Connection,
  ConnectionResetError,
  type Coroutine,
  join,
  kill,
  LineTooLongError,
  NetError,
  type Operation,
  run,
  SocketClosedError,
  spawn,
  UnexpectedEofError,
  yieldNow,
} from "../../mod.ts";
import { memoryPair } from "../../testing/mod.ts";
import { socketPair, tempDir, text, thrown } from "./_helpers.ts";

const encoder = new TextEncoder();

/** Reads with `recv` until the end of the stream. */
function* readAll(conn: Connection): Coroutine<string> {
  let all = "";
  while (true) {
    const data = yield* conn.recv(7);
    if (data.length === 0) return all;
    all += text(data);
  }
}

Deno.test("Connection.recv() gives what the peer sent, then an empty array at end of stream", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    yield* pair.client.sendall("hello, ");
    yield* pair.client.sendall(encoder.encode("world"));
    yield* pair.client.closeWrite();
    equal(yield* readAll(pair.peer), "hello, world");
    // The end of the stream is sticky.
    equal((yield* pair.peer.recv(10)).length, 0);
  }());
});

Deno.test("Connection.recv() gives at most bufsize bytes and keeps the rest", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    yield* pair.client.sendall("abcdef");
    equal(text(yield* pair.peer.recvExactly(1)), "a");
    equal(text(yield* pair.peer.recv(2)), "bc");
    equal(text(yield* pair.peer.recv(100)), "def");
  }());
});

Deno.test("Connection.recv() works Bluelet-style with an untyped yield", async () => {
  await run(function* (): Coroutine<void> {
    using pair = yield* socketPair();
    const sent = yield pair.client.send("ping");
    equal(sent, 4);
    const data = yield pair.peer.recv(1024);
    equal(text(data), "ping");
  }());
});

Deno.test("Connection.send() writes once and gives the count written", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    equal(yield* pair.client.send("héllo"), 6); // UTF-8
    equal(text(yield* pair.peer.recvExactly(6)), "héllo");
  }());
});

Deno.test("Connection.sendall() sends every byte of a large buffer", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    const data = new Uint8Array(4 * 1024 * 1024).map((_, i) => i % 251);
    const reader = yield* spawn(pair.peer.recvExactly(data.length));
    yield* pair.client.sendall(data);
    deepEqual(yield* join(reader), data);
  }());
});

Deno.test("Connection.readline() gives each line with its delimiter and the rest at end of stream", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    yield* pair.client.sendall("one\ntwo\r\nthree||four");
    yield* pair.client.closeWrite();
    equal(text(yield* pair.peer.readline()), "one\n");
    equal(text(yield* pair.peer.readline("\r\n")), "two\r\n");
    equal(text(yield* pair.peer.readline(encoder.encode("||"))), "three||");
    equal(text(yield* pair.peer.readline()), "four");
    equal((yield* pair.peer.readline()).length, 0);
  }());
});

Deno.test("Connection.readline() keeps buffered bytes after LineTooLongError", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    const long = "x".repeat(100);
    yield* pair.client.sendall(`${long}\nshort\n`);
    yield* pair.client.closeWrite(); // so that lost bytes fail the test, not hang it
    const error = yield* thrown(pair.peer.readline("\n", { maxLength: 50 }));
    ok(error instanceof LineTooLongError, String(error));
    ok(error instanceof NetError);
    equal(
      (error as Error).message,
      `Cannot read line from ${formatPeer(pair.peer)}: no delimiter within 50 bytes`,
    );
    // Nothing was lost: recv reads on from the first byte of the long line.
    equal(text(yield* pair.peer.recvExactly(101)), `${long}\n`);
    equal(text(yield* pair.peer.readline("\n", { maxLength: 50 })), "short\n");
  }());
});

Deno.test("Connection.readline() accepts a line of exactly maxLength bytes", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    yield* pair.client.sendall("abcd\nabcde\n");
    equal(text(yield* pair.peer.readline("\n", { maxLength: 5 })), "abcd\n");
    const error = yield* thrown(pair.peer.readline("\n", { maxLength: 5 }));
    ok(error instanceof LineTooLongError);
  }());
});

Deno.test("Connection.recvExactly() throws UnexpectedEofError and keeps the bytes that came", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    yield* pair.client.sendall("abc");
    yield* pair.client.closeWrite();
    const error = yield* thrown(pair.peer.recvExactly(5));
    ok(error instanceof UnexpectedEofError, String(error));
    match(
      (error as Error).message,
      /^Cannot receive exactly 5 bytes from 127\.0\.0\.1:\d+: the stream ended after 3 bytes$/,
    );
    equal(text(yield* pair.peer.recv(10)), "abc");
  }());
});

Deno.test("Connection.closeWrite() ends the peer's stream and still receives", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    yield* pair.client.sendall("request");
    yield* pair.client.closeWrite();
    yield* pair.client.closeWrite(); // again: nothing happens
    equal(yield* readAll(pair.peer), "request");
    yield* pair.peer.sendall("response");
    pair.peer.close();
    equal(yield* readAll(pair.client), "response");
  }());
});

Deno.test("Connection operations on a closed connection throw SocketClosedError", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    pair.client.close();
    pair.client.close(); // idempotent
    ok(pair.client.closed);
    const operations: [string, Operation<unknown>][] = [
      ["recv", pair.client.recv(1)],
      ["recvExactly", pair.client.recvExactly(1)],
      ["readline", pair.client.readline()],
      ["send", pair.client.send("x")],
      ["sendall", pair.client.sendall("x")],
      ["closeWrite", pair.client.closeWrite()],
    ];
    for (const [name, operation] of operations) {
      const error = yield* thrown(operation);
      ok(error instanceof SocketClosedError, `${name}: ${error}`);
    }
  }());
});

Deno.test("Connection.close() from another thread makes a waiting recv() throw SocketClosedError", async () => {
  const record: string[] = [];
  await run(function* () {
    using pair = yield* socketPair();
    const reader = yield* spawn(function* () {
      record.push("reader waits");
      const error = yield* thrown(pair.peer.recv(10));
      record.push(
        error instanceof SocketClosedError ? `reader: ${error.message}` : String(error),
      );
    }());
    yield* yieldNow();
    record.push("closing");
    pair.peer.close();
    yield* join(reader);
    const peer = `127.0.0.1:${(pair.peer.addr as Deno.NetAddr).port}`;
    deepEqual(record, [
      "reader waits",
      "closing",
      `reader: Cannot recv from ${peer}: the socket is closed`,
    ]);
  }());
});

Deno.test("Connection rejects a second concurrent read with TypeError and the first goes on", async () => {
  const record: string[] = [];
  await run(function* () {
    using pair = yield* socketPair();
    const first = yield* spawn(function* () {
      record.push("first waits");
      const data = yield* pair.peer.recv(10);
      record.push(`first got ${text(data)}`);
    }());
    yield* yieldNow();
    for (
      const second of [
        pair.peer.recv(10),
        pair.peer.readline(),
        pair.peer.recvExactly(1),
      ]
    ) {
      const error = yield* thrown(second);
      ok(error instanceof TypeError, String(error));
      // It names the read in the way, not only what reading is.
      ok(
        (error as Error).message.includes(
          `another thread is already reading from this connection (recv(10) from ${
            formatPeer(pair.peer)
          })`,
        ),
        (error as Error).message,
      );
      record.push("second rejected");
    }
    yield* pair.client.sendall("data");
    yield* join(first);
  }());
  deepEqual(record, [
    "first waits",
    "second rejected",
    "second rejected",
    "second rejected",
    "first got data",
  ]);
});

Deno.test("Connection rejects one event yielded by a second thread while in progress", async () => {
  const record: string[] = [];
  await run(function* () {
    using pair = yield* socketPair();
    const line = pair.peer.readline();
    const first = yield* spawn(function* () {
      record.push("first waits");
      record.push(`first got ${text(yield* line)}`);
    }());
    yield* yieldNow();
    // Part of the line, so the first reader has searched some bytes already.
    yield* pair.client.sendall("ab");
    yield* yieldNow();
    const error = yield* thrown(line);
    ok(error instanceof TypeError, String(error));
    record.push("second rejected");
    yield* pair.client.sendall("c\nrest");
    yield* join(first);
  }());
  deepEqual(record, ["first waits", "second rejected", "first got abc\n"]);
});

Deno.test("Connection lets one thread recv() while another sendall()s", async () => {
  const record: string[] = [];
  await run(function* () {
    using pair = yield* socketPair();
    const reader = yield* spawn(function* () {
      record.push("reader waits");
      record.push(`reader got ${text(yield* pair.client.recvExactly(4))}`);
    }());
    yield* yieldNow();
    yield* pair.client.sendall("ping");
    record.push("writer sent");
    equal(text(yield* pair.peer.recvExactly(4)), "ping");
    yield* pair.peer.sendall("pong");
    yield* join(reader);
  }());
  deepEqual(record, ["reader waits", "writer sent", "reader got pong"]);
});

Deno.test("Connection rejects a second concurrent write with TypeError and the first goes on", async () => {
  const record: string[] = [];
  await run(function* () {
    using pair = yield* socketPair();
    // Big enough to stay pending until the peer reads: the socket buffers fill up.
    const big = new Uint8Array(32 * 1024 * 1024);
    const writer = yield* spawn(function* () {
      record.push("first writes");
      yield* pair.client.sendall(big);
      record.push("first done");
    }());
    yield* yieldNow();
    for (const second of [pair.client.sendall("x"), pair.client.send("x")]) {
      const error = yield* thrown(second);
      ok(error instanceof TypeError, String(error));
      ok((error as Error).message.includes("already writing"));
      record.push("second rejected");
    }
    equal((yield* pair.peer.recvExactly(big.length)).length, big.length);
    yield* join(writer);
  }());
  deepEqual(record, [
    "first writes",
    "second rejected",
    "second rejected",
    "first done",
  ]);
});

Deno.test("Connection.recv() killed while waiting loses no bytes", async () => {
  const record: string[] = [];
  await run(function* () {
    using pair = yield* socketPair();
    const reader = yield* spawn(function* () {
      try {
        record.push("reader waits");
        yield* pair.peer.recv(10);
        record.push("reader got data (wrong)");
      } finally {
        record.push("reader killed");
      }
    }());
    yield* yieldNow();
    yield* kill(reader);
    // The killed reader's OS read is still in flight; what it brings must not be lost.
    yield* pair.client.sendall("hello");
    yield* pair.client.closeWrite();
    record.push(`next reader got ${yield* readAll(pair.peer)}`);
  }());
  deepEqual(record, ["reader waits", "reader killed", "next reader got hello"]);
});

Deno.test("Connection.recv() killed after its read landed, before it resumed, loses no bytes", async () => {
  // An in-memory pair lands the peer's write in the waiting read and wakes the reader in
  // the writer's own step: the kill comes in that step too, so the reader is queued, not
  // yet resumed, when it is killed.
  const [client, conn] = memoryPair();
  const record: string[] = [];
  await run(function* () {
    const reader = yield* spawn(function* () {
      try {
        record.push("reader waits");
        yield conn.recv(10);
        record.push("reader resumed (wrong)");
      } finally {
        record.push("reader killed");
      }
    }());
    yield* yieldNow();
    yield* client.sendall("hello");
    yield* kill(reader);
    yield* client.closeWrite();
    record.push(`next reader got ${yield* readAll(conn)}`);
    conn.close();
  }());
  deepEqual(record, ["reader waits", "reader killed", "next reader got hello"]);
});

Deno.test("Connection events can be yielded again, each time a new operation", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    const send = pair.client.sendall("ab\n");
    yield send;
    yield send;
    yield* pair.client.closeWrite();
    const line = pair.peer.readline();
    const lines = [text(yield* line), text(yield* line), text(yield* line)];
    deepEqual(lines, ["ab\n", "ab\n", ""]);
  }());
});

Deno.test("Connection maps a Unix socket reset by the peer to ConnectionResetError", async () => {
  await using dir = await tempDir();
  await run(function* () {
    using pair = yield* socketPair({
      transport: "unix",
      path: `${dir.path}/reset.sock`,
    });
    yield* pair.peer.sendall("unread"); // the client never reads it
    const reader = yield* spawn(thrown(pair.peer.recv(10)));
    yield* yieldNow();
    pair.client.close(); // with unread bytes: the peer sees a reset
    const error = yield* join(reader);
    ok(error instanceof ConnectionResetError, String(error));
    ok(error.cause instanceof Deno.errors.ConnectionReset);
    ok(error.message.startsWith(`Cannot recv from `));
  }());
});

Deno.test("Connection maps a write after a TCP reset to BrokenPipeError", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    yield* pair.peer.sendall("unread"); // the client never reads it
    pair.client.close(); // with unread bytes: a reset
    // A reset shows up as the end of the stream on a TCP read...
    equal((yield* pair.peer.recv(10)).length, 0);
    // ... and as a broken pipe on the next write.
    const error = yield* thrown(pair.peer.sendall("more"));
    ok(error instanceof BrokenPipeError, String(error));
    ok(error.cause instanceof Deno.errors.BrokenPipe);
    equal(
      error.message,
      `Cannot send to ${formatPeer(pair.peer)}: broken pipe`,
    );
  }());
});

Deno.test("Connection checks its arguments", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    for (
      const [operation, type] of [
        [pair.peer.recv(0), RangeError],
        [pair.peer.recv(1.5), RangeError],
        [pair.peer.recvExactly(-1), RangeError],
        [pair.peer.readline(""), TypeError],
        [pair.peer.readline("\n", { maxLength: 0 }), RangeError],
        [pair.peer.sendall(42 as unknown as string), TypeError],
      ] as const
    ) {
      const error = yield* thrown(operation);
      ok(error instanceof type, String(error));
    }
    // Misuse leaves the connection usable.
    yield* pair.client.sendall("ok");
    equal(text(yield* pair.peer.recvExactly(2)), "ok");
  }());
});

Deno.test("Connection works over IPv6 loopback", async () => {
  await run(function* () {
    using pair = yield* socketPair({ host: "::1" });
    ok(pair.peer.addr.transport === "tcp");
    equal(pair.peer.addr.hostname, "::1");
    yield* pair.client.sendall("six");
    equal(text(yield* pair.peer.recvExactly(3)), "six");
  }());
});

function formatPeer(conn: Connection): string {
  const addr = conn.addr;
  ok(addr.transport === "tcp");
  return `${addr.hostname}:${addr.port}`;
}

Deno.test("what the reads give is typed as bytes of an ArrayBuffer, which Web APIs take as they are", async () => {
  // Typed as `Uint8Array` (of any buffer), none of these calls would type-check without a
  // cast: `crypto.subtle.digest`, `Blob` and `Response` want memory that is not shared.
  const [digest, blob, response] = await run(function* () {
    const [a, b] = memoryPair();
    yield* a.sendall("one\ntwo\nthree");
    yield* a.closeWrite();
    const line: Uint8Array<ArrayBuffer> = yield* b.readline();
    const exactly: Uint8Array<ArrayBuffer> = yield* b.recvExactly(4);
    const rest: Uint8Array<ArrayBuffer> = yield* b.recv(100);
    a.close();
    b.close();
    return [crypto.subtle.digest("SHA-256", line), new Blob([exactly]), new Response(rest)];
  }());
  equal((await digest).byteLength, 32);
  equal(await blob.text(), "two\n");
  equal(await response.text(), "three");
});
