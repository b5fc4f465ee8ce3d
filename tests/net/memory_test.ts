// The in-memory connections: each guarantee of `Connection` and each knob, under a
// VirtualClock, with the order of events recorded and asserted.
import { deepEqual, equal, ok, throws } from "node:assert/strict";
import {
  BrokenPipeError,
  type Connection,
  ConnectionRefusedError,
  ConnectionResetError,
  ConnectTimeoutError,
  type Coroutine,
  DeadlockError,
  join,
  kill,
  moveOnAfter,
  run,
  sleep,
  SocketClosedError,
  spawn,
  TimeoutError,
  VirtualClock,
  withTimeout,
  yieldNow,
} from "../../mod.ts";
import { MemoryListener, memoryPair } from "../../testing/mod.ts";
import { text, thrown } from "./_helpers.ts";

/** Reads until the end of the stream; gives the chunks each `recv` got. */
function* chunksOf(conn: Connection, bufsize = 1024): Coroutine<string[]> {
  const chunks: string[] = [];
  for (;;) {
    const data = yield* conn.recv(bufsize);
    if (data.length === 0) return chunks;
    chunks.push(text(data));
  }
}

Deno.test("memoryPair() wakes a waiting reader with the peer's write, in the same run, at virtual time 0", async () => {
  const clock = new VirtualClock();
  const record: string[] = [];
  const [a, b] = memoryPair();
  await run(
    function* () {
      const reader = yield* spawn(function* () {
        record.push("b waits");
        record.push(`b got ${text(yield* b.recv(10))}`);
      }());
      yield* yieldNow();
      record.push("a sends");
      yield* a.sendall("ping");
      record.push("a sent");
      yield* join(reader);
    }(),
    { clock },
  );
  deepEqual(record, ["b waits", "a sends", "a sent", "b got ping"]);
  equal(clock.now(), 0);
});

Deno.test("memoryPair() reports a conversation that cannot go on as a DeadlockError naming the reads", async () => {
  const [a, b] = memoryPair();
  const error = await run(
    function* () {
      const other = yield* spawn(b.recv(1));
      try {
        yield* a.recv(1);
      } finally {
        yield* kill(other);
      }
    }(),
    { clock: new VirtualClock() },
  ).catch((error) => error);
  ok(error instanceof DeadlockError, String(error));
  ok(/waits on recv\(1\).*waits on recv\(1\)/.test(error.message), error.message);
});

Deno.test("memoryPair({ bufferSize }): sendall waits until the peer reads; send gives what fits", async () => {
  const record: string[] = [];
  const [a, b] = memoryPair({ bufferSize: 4 });
  await run(
    function* () {
      const writer = yield* spawn(function* () {
        yield* a.sendall("0123456789");
        record.push("sendall done");
      }());
      yield* yieldNow();
      record.push("writer waits");
      record.push(`read ${text(yield* b.recv(100))}`); // 4 came, and 4 more were let in
      record.push(`read ${text(yield* b.recv(100))}`);
      record.push(`read ${text(yield* b.recv(100))}`);
      yield* join(writer);
      equal(yield* a.send("abcdef"), 4, "send gives the count that fit");
      const full = yield* thrown(withTimeout(5, a.send("x")));
      ok(full instanceof TimeoutError, "send waits while nothing fits");
      record.push(`read ${text(yield* b.recv(100))}`);
      equal(yield* a.send("xy"), 2);
    }(),
    { clock: new VirtualClock() },
  );
  deepEqual(record, [
    "writer waits",
    "read 0123",
    "read 4567",
    "read 89", // the writer was woken, and runs once this thread waits
    "sendall done",
    "read abcd",
  ]);
});

Deno.test("memoryPair({ bufferSize }): recvExactly() of more than the buffer holds pulls the rest through", async () => {
  const [a, b] = memoryPair({ bufferSize: 3 });
  await run(
    function* () {
      const writer = yield* spawn(a.sendall("0123456789"));
      equal(text(yield* b.recvExactly(10)), "0123456789");
      yield* join(writer);
    }(),
    { clock: new VirtualClock() },
  );
});

Deno.test("memoryPair({ latency }): each write reaches the peer that many virtual ms later", async () => {
  const clock = new VirtualClock();
  const record: string[] = [];
  const [client, server] = memoryPair({ latency: 25 });
  await run(
    function* () {
      yield* spawn(function* () {
        const line = yield* server.readline();
        record.push(`server got ${text(line).trim()} at ${clock.now()}`);
        yield* server.sendall(line);
      }());
      yield* client.sendall("hi\n");
      record.push(`client sent at ${clock.now()}`);
      const reply = yield* client.readline();
      record.push(`client got ${text(reply).trim()} at ${clock.now()}`);
    }(),
    { clock },
  );
  deepEqual(record, [
    "client sent at 25",
    "server got hi at 25",
    "client got hi at 50",
  ]);
});

Deno.test("memoryPair({ latency }): a write is in progress while it waits out its latency: closeWrite() and another write throw TypeError", async () => {
  const clock = new VirtualClock();
  const record: string[] = [];
  const [a, b] = memoryPair({ latency: 5 });
  const peer = `${a.addr.hostname}:${a.addr.port}`;
  await run(
    function* () {
      const writer = yield* spawn(function* () {
        yield* a.sendall("data");
        record.push(`write done at ${clock.now()}`);
      }());
      yield* yieldNow(); // the write has begun
      for (const op of [a.closeWrite(), a.send("x"), a.sendall("x")]) {
        const error = yield* thrown(op);
        record.push(`${(error as Error).name}: ${(error as Error).message}`);
      }
      record.push(`b got ${text(yield* b.recv(10))} at ${clock.now()}`);
      yield* join(writer);
      yield* a.closeWrite(); // no write in progress now
      deepEqual(yield* chunksOf(b), []);
    }(),
    { clock },
  );
  const busy =
    `another thread is already writing to this connection (sendall to ${peer}); writes on one connection must not overlap`;
  deepEqual(record, [
    `TypeError: Cannot shut down writing to ${peer}: ${busy}`,
    `TypeError: Cannot send to ${peer}: ${busy}`,
    `TypeError: Cannot send to ${peer}: ${busy}`,
    "write done at 5",
    "b got data at 5",
  ]);
});

Deno.test("memoryPair({ latency }): a write killed while it waits out its latency hands nothing over and frees the write side", async () => {
  const clock = new VirtualClock();
  const [a, b] = memoryPair({ latency: 5 });
  await run(
    function* () {
      ok((yield* thrown(withTimeout(2, a.sendall("lost")))) instanceof TimeoutError);
      equal(clock.now(), 2);
      yield* a.sendall("kept");
      yield* a.closeWrite();
      deepEqual(yield* chunksOf(b), ["kept"]);
    }(),
    { clock },
  );
  equal(clock.now(), 7);
});

Deno.test("memoryPair({ chunkSizes }): reads get the stream in chunks of those sizes, in turn", async () => {
  const [a, b] = memoryPair({ chunkSizes: [1, 3] });
  const chunks = await run(function* () {
    yield* a.sendall("abcdefghij");
    yield* a.closeWrite();
    return yield* chunksOf(b);
  }());
  deepEqual(chunks, ["a", "bcd", "e", "fgh", "i", "j"]);
});

Deno.test("memoryPair({ chunkSeed }): the same seed cuts the stream the same way, another seed otherwise", async () => {
  const cutWith = (seed: number) => {
    const [a, b] = memoryPair({ chunkSeed: seed, maxChunk: 5 });
    return run(function* () {
      yield* a.sendall("the quick brown fox jumps over the lazy dog");
      a.close();
      return yield* chunksOf(b);
    }());
  };
  const first = await cutWith(1);
  deepEqual(await cutWith(1), first);
  notEqualChunks(await cutWith(2), first);
  equal(first.join(""), "the quick brown fox jumps over the lazy dog");
  ok(first.every((chunk) => chunk.length >= 1 && chunk.length <= 5), String(first));
});

function notEqualChunks(a: string[], b: string[]): void {
  ok(JSON.stringify(a) !== JSON.stringify(b), `expected different chunks, both ${a}`);
}

Deno.test("memoryPair({ chunkSizes: [1] }): readline finds a delimiter split across chunks", async () => {
  const [a, b] = memoryPair({ chunkSizes: [1] });
  await run(function* () {
    yield* a.sendall("one\r\ntwo\r\n");
    equal(text(yield* b.readline("\r\n")), "one\r\n");
    equal(text(yield* b.readline("\r\n")), "two\r\n");
  }());
});

Deno.test("MemoryConnection.reset(): as on Linux, the peer reads what came before, then ConnectionResetError once, then the end; writes throw BrokenPipeError", async () => {
  const record: string[] = [];
  const [client, server] = memoryPair();
  await run(
    function* () {
      yield* client.sendall("read before");
      record.push(`server got ${text(yield* server.recv(100))}`);
      const reader = yield* spawn(server.recv(100));
      yield* yieldNow();
      yield* client.sendall("landed"); // wakes the waiting read...
      yield* client.sendall("kept"); // ...and this comes before it runs
      client.reset();
      record.push(`waiting reader got ${text(yield* join(reader))}`);
      const error = yield* thrown(server.recv(100));
      record.push(`next read: ${(error as Error).name}: ${(error as Error).message}`);
      for (let i = 0; i < 2; i++) {
        record.push(`then: ${(yield* server.recv(100)).length} bytes`);
      }
      const write = yield* thrown(server.sendall("anyone?"));
      record.push(`write: ${(write as Error).name}`);
      record.push(`client closed: ${client.closed}`);
    }(),
    { clock: new VirtualClock() },
  );
  const peer = `${client.localAddr.hostname}:${client.localAddr.port}`;
  deepEqual(record, [
    "server got read before",
    "waiting reader got landedkept", // both came before the reset
    `next read: ConnectionResetError: Cannot recv from ${peer}: connection reset by peer`,
    "then: 0 bytes",
    "then: 0 bytes",
    "write: BrokenPipeError",
    "client closed: true",
  ]);
});

Deno.test("memoryPair(): a waiting recv takes all that came before it ran, as a TCP read does, not one write", async () => {
  const [client, server] = memoryPair();
  const record: string[] = [];
  await run(
    function* () {
      for (const size of [100, 8]) {
        const reader = yield* spawn(function* () {
          record.push(`recv(${size}) got ${JSON.stringify(text(yield* server.recv(size)))}`);
        }());
        yield* yieldNow(); // it waits
        yield* client.sendall("HEADER\n");
        yield* client.sendall("BODY\n");
        yield* join(reader);
      }
      record.push(`then ${JSON.stringify(text(yield* server.recv(100)))}`);
    }(),
    { clock: new VirtualClock() },
  );
  deepEqual(record, [
    'recv(100) got "HEADER\\nBODY\\n"',
    'recv(8) got "HEADER\\nB"',
    'then "ODY\\n"',
  ]);
});

Deno.test("MemoryConnection.reset() as on Linux: after the end of the stream no reset is read; a send takes the reset first", async () => {
  const record: string[] = [];
  await run(
    function* () {
      // The peer ended its side, then reset: the end came first, and reads keep to it.
      const [a, b] = memoryPair();
      yield* a.sendall("hello");
      yield* a.closeWrite();
      a.reset();
      for (let i = 0; i < 3; i++) record.push(`read ${JSON.stringify(text(yield* b.recv(100)))}`);
      // A send is the first to meet the reset: it throws it, the next a broken pipe, and
      // reads find the end of the stream.
      const [c, d] = memoryPair();
      c.reset();
      for (let i = 0; i < 2; i++) {
        record.push(
          `send: ${((yield* thrown(d.sendall("x"))) as Error).name}`,
        );
      }
      record.push(`read ${JSON.stringify(text(yield* d.recv(100)))}`);
    }(),
    { clock: new VirtualClock() },
  );
  deepEqual(record, [
    'read "hello"',
    'read ""',
    'read ""',
    "send: ConnectionResetError",
    "send: BrokenPipeError",
    'read ""',
  ]);
});

Deno.test("MemoryConnection.reset() while the peer waits for a line that never ended: the line so far stays, the read throws the reset", async () => {
  const [client, server] = memoryPair();
  const record: string[] = [];
  await run(
    function* () {
      const reader = yield* spawn(function* () {
        try {
          yield* server.readline();
          record.push("a line (wrong)");
        } catch (error) {
          record.push(`readline: ${(error as Error).name}`);
        }
        record.push(`left: ${text(yield* server.recv(100))}`);
        record.push(`then: ${(yield* server.recv(100)).length} bytes`);
      }());
      yield* yieldNow();
      yield* client.sendall("no newline");
      client.reset();
      yield* join(reader);
    }(),
    { clock: new VirtualClock() },
  );
  deepEqual(record, ["readline: ConnectionResetError", "left: no newline", "then: 0 bytes"]);
});

Deno.test("MemoryConnection.reset() wakes a waiting reader with ConnectionResetError and a waiting writer with BrokenPipeError", async () => {
  // One error for the reset, as Linux keeps one: the first to meet it takes it.
  const [a, b] = memoryPair({ bufferSize: 2 });
  await run(
    function* () {
      const reader = yield* spawn(thrown(b.recv(10)));
      const writer = yield* spawn(thrown(b.sendall("more than two bytes")));
      yield* yieldNow();
      a.reset();
      ok((yield* join(reader)) instanceof ConnectionResetError);
      ok((yield* join(writer)) instanceof BrokenPipeError);
    }(),
    { clock: new VirtualClock() },
  );
});

Deno.test("MemoryConnection.closeAfter(): the peer gets exactly that many bytes, then the end of the stream", async () => {
  const [client, server] = memoryPair({ bufferSize: 4 });
  client.closeAfter(6);
  const record: string[] = [];
  await run(
    function* () {
      const writer = yield* spawn(function* () {
        const error = yield* thrown(client.sendall("GET /index.html\r\n"));
        record.push(`client: ${(error as Error).name}`);
      }());
      const got = yield* chunksOf(server, 100);
      record.push(`server got ${JSON.stringify(got.join(""))} then the end`);
      yield* join(writer);
    }(),
    { clock: new VirtualClock() },
  );
  deepEqual(record, ["client: SocketClosedError", 'server got "GET /i" then the end']);
});

Deno.test("MemoryConnection.closeAfter(n): a write that ends at exactly n bytes succeeds; the next one fails", async () => {
  // Every byte of the write went out: it did not break in the middle, so it does not
  // throw (a caller that retried would send the bytes twice).
  const [client, server] = memoryPair();
  client.closeAfter(4);
  const record: string[] = [];
  await run(function* () {
    yield* client.sendall("ping");
    record.push("client sent ping");
    const error = yield* thrown(client.sendall("more"));
    record.push(`client: ${(error as Error).name}`);
    record.push(
      `server got ${JSON.stringify(new TextDecoder().decode(yield* server.recvExactly(4)))}`,
    );
    record.push(`then the end: ${(yield* server.recv(1)).length === 0}`);
  }());
  deepEqual(record, [
    "client sent ping",
    "client: SocketClosedError",
    'server got "ping"',
    "then the end: true",
  ]);
});

Deno.test("MemoryConnection.closeAfter(0) closes at once: the peer reads the end of the stream, or a reset", async () => {
  const record: string[] = [];
  await run(
    function* () {
      const [client, server] = memoryPair();
      client.closeAfter(0);
      record.push(`client closed: ${client.closed}`);
      record.push(`server read ${(yield* server.recv(10)).length} bytes`);
      const [resetter, peer] = memoryPair();
      resetter.closeAfter(0, { reset: true });
      record.push(`server read: ${((yield* thrown(peer.recv(10))) as Error).name}`);
      server.close();
      peer.close();
    }(),
    { clock: new VirtualClock() },
  );
  deepEqual(record, [
    "client closed: true",
    "server read 0 bytes",
    "server read: ConnectionResetError",
  ]);
});

Deno.test("MemoryConnection.closeAfter(0) fails a write that waits for room with SocketClosedError", async () => {
  const [client, server] = memoryPair({ bufferSize: 2 });
  const record: string[] = [];
  await run(
    function* () {
      const writer = yield* spawn(function* () {
        const error = yield* thrown(client.sendall("abcd")); // "ab" goes out, "cd" waits
        record.push(`writer: ${(error as Error).name}`);
      }());
      yield* yieldNow();
      client.closeAfter(0);
      yield* join(writer);
      record.push(`server got ${JSON.stringify((yield* chunksOf(server)).join(""))} then the end`);
    }(),
    { clock: new VirtualClock() },
  );
  deepEqual(record, ["writer: SocketClosedError", 'server got "ab" then the end']);
});

Deno.test("MemoryConnection.closeAfter({ reset: true }): the peer gets a reset mid-message", async () => {
  const [client, server] = memoryPair();
  client.closeAfter(3, { reset: true });
  await run(function* () {
    const reader = yield* spawn(server.recv(10));
    yield* yieldNow();
    ok((yield* thrown(client.sendall("hello"))) instanceof SocketClosedError);
    equal(text(yield* join(reader)), "hel"); // landed in the waiting read before the reset
    ok((yield* thrown(server.recv(10))) instanceof ConnectionResetError);
  }());
  throws(() => client.closeAfter(-1), RangeError);
});

Deno.test("memoryPair(): closing an end fails its waiting read and write; the peer reads what went out", async () => {
  const [a, b] = memoryPair({ bufferSize: 1 });
  await run(
    function* () {
      const reader = yield* spawn(thrown(a.recv(10)));
      const writer = yield* spawn(thrown(a.sendall("ab"))); // "a" goes out, "b" waits
      yield* yieldNow();
      a.close();
      ok((yield* join(reader)) instanceof SocketClosedError);
      ok((yield* join(writer)) instanceof SocketClosedError);
      deepEqual(yield* chunksOf(b), ["a"]); // then the end of the stream
    }(),
    { clock: new VirtualClock() },
  );
});

Deno.test("memoryPair(): a write waiting for room in a peer that closes throws BrokenPipeError", async () => {
  const [a, b] = memoryPair({ bufferSize: 1 });
  await run(
    function* () {
      const writer = yield* spawn(thrown(b.sendall("cd")));
      yield* yieldNow();
      a.close();
      const error = yield* join(writer);
      ok(error instanceof BrokenPipeError, String(error));
      equal(
        error.message,
        `Cannot send to ${a.localAddr.hostname}:${a.localAddr.port}: broken pipe`,
      );
    }(),
    { clock: new VirtualClock() },
  );
});

Deno.test("memoryPair(): a reader killed after the peer's write woke it, before it resumed, loses no bytes", async () => {
  // The write lands the bytes and wakes the reader in the writer's step; the kill comes in
  // the same step, so the reader is queued, not resumed, when it is killed.
  const [a, b] = memoryPair();
  const record: string[] = [];
  await run(
    function* () {
      const reader = yield* spawn(function* () {
        try {
          record.push("reader waits");
          yield b.recv(10);
          record.push("reader resumed (wrong)");
        } finally {
          record.push("reader killed");
        }
      }());
      yield* yieldNow();
      yield* a.sendall("hello");
      yield* kill(reader);
      yield* a.closeWrite();
      record.push(`next reader got ${(yield* chunksOf(b)).join("")}`);
    }(),
    { clock: new VirtualClock() },
  );
  deepEqual(record, ["reader waits", "reader killed", "next reader got hello"]);
});

Deno.test("memoryPair(): a writer killed while it waits for room keeps what it handed over and cuts the write side", async () => {
  const [a, b] = memoryPair({ bufferSize: 3 });
  await run(
    function* () {
      const writer = yield* spawn(a.sendall("abcdef")); // "abc" goes out, the rest waits
      yield* yieldNow();
      yield* kill(writer);
      equal(text(yield* b.recv(10)), "abc"); // room again, but "def" is not sent
      ok((yield* thrown(a.sendall("!"))) instanceof SocketClosedError); // nothing may follow "abc"
      a.close();
      deepEqual(yield* chunksOf(b), []);
    }(),
    { clock: new VirtualClock() },
  );
});

Deno.test("memoryPair(): a sendall() that times out part way cuts the write side, as on TCP", async () => {
  const clock = new VirtualClock();
  const [a, b] = memoryPair({ bufferSize: 1000 });
  const peer = `${a.addr.hostname}:${a.addr.port}`;
  await run(
    function* () {
      const timedOut = yield* thrown(withTimeout(50, a.sendall(new Uint8Array(5000).fill(65))));
      ok(timedOut instanceof TimeoutError, String(timedOut));
      equal(clock.now(), 50);
      equal((yield* b.recv(10_000)).length, 1000); // the part handed over stays sent
      // The peer got part of a message: another one after it would be garbage.
      for (const send of [a.sendall("next"), a.send("next")]) {
        const error = yield* thrown(send);
        ok(error instanceof SocketClosedError, String(error));
        equal(
          error.message,
          `Cannot send to ${peer}: an earlier send was interrupted part way, so the stream is cut`,
        );
      }
      const shutdown = yield* thrown(a.closeWrite());
      ok(shutdown instanceof SocketClosedError, String(shutdown));
      equal(
        shutdown.message,
        `Cannot shut down writing to ${peer}: an earlier send was interrupted part way`,
      );
      yield* b.sendall("still"); // reading still works
      equal(text(yield* a.recv(10)), "still");
      a.close();
      deepEqual(yield* chunksOf(b), []); // nothing came after the cut
    }(),
    { clock },
  );
});

Deno.test("memoryPair(): a send() or sendall() that times out before handing over a byte leaves the write side open", async () => {
  const [a, b] = memoryPair({ bufferSize: 4 });
  await run(
    function* () {
      yield* a.sendall("abcd"); // the peer's buffer is full
      ok((yield* thrown(withTimeout(5, a.sendall("xyz")))) instanceof TimeoutError);
      ok((yield* thrown(withTimeout(5, a.send("xyz")))) instanceof TimeoutError);
      equal(text(yield* b.recv(10)), "abcd");
      yield* a.sendall("ok");
      yield* a.closeWrite();
      deepEqual(yield* chunksOf(b), ["ok"]);
    }(),
    { clock: new VirtualClock() },
  );
});

Deno.test("memoryPair(): a send() killed after it handed over its bytes, before it resumed, leaves the write side open", async () => {
  // The peer's read makes room, which hands the waiting send's bytes over and wakes it;
  // the kill comes in the same step, so the send is done but has not resumed.
  const [a, b] = memoryPair({ bufferSize: 2 });
  await run(
    function* () {
      yield* a.sendall("ab");
      const writer = yield* spawn(a.send("cdef"));
      yield* yieldNow();
      equal(text(yield* b.recv(10)), "ab");
      yield* kill(writer);
      equal(text(yield* b.recv(10)), "cd"); // one write: what fitted
      yield* a.sendall("!");
      yield* a.closeWrite();
      deepEqual(yield* chunksOf(b), ["!"]);
    }(),
    { clock: new VirtualClock() },
  );
});

Deno.test("memoryPair() checks its options", () => {
  throws(() => memoryPair({ bufferSize: 0 }), RangeError);
  throws(() => memoryPair({ latency: -1 }), RangeError);
  throws(() => memoryPair({ chunkSizes: [] }), RangeError);
  throws(() => memoryPair({ chunkSizes: [2, 0] }), RangeError);
  throws(() => memoryPair({ chunkSeed: 1.5 }), RangeError);
  throws(() => memoryPair({ chunkSeed: 1, maxChunk: 0 }), /maxChunk must be a positive integer/);
  // Checked when given, with no seed too: a typo must not pass for a setting.
  throws(() => memoryPair({ maxChunk: 0 }), {
    name: "RangeError",
    message: "Cannot make a memory pair: maxChunk must be a positive integer, got 0",
  });
});

Deno.test("memoryPair(), MemoryListener and closeAfter() name a wrong option as it is, and take null for none", () => {
  type Options = Parameters<typeof memoryPair>[0];
  const pair = (options: unknown) => memoryPair(options as Options);
  const listen = (options: unknown) =>
    new MemoryListener(options as ConstructorParameters<typeof MemoryListener>[0]);
  const refusals: [() => unknown, ErrorConstructor, string][] = [
    [() => pair({ bufferSize: "4" }), TypeError, 'bufferSize must be a number, got the string "4"'],
    [() => pair({ latency: "5" }), TypeError, 'latency must be a number, got the string "5"'],
    [
      () => pair({ chunkSizes: "12" }),
      TypeError,
      'chunkSizes must be an array, got the string "12"',
    ],
    [
      () => pair({ chunkSizes: [1n] }),
      TypeError,
      "chunkSizes must be numbers, got bigint 1 at index 0",
    ],
    [
      () => pair({ chunkSizes: [3, ...Array(1e6).fill(0)] }),
      RangeError,
      "chunkSizes must be positive integers, got number 0 at index 1",
    ],
    [() => pair(7), TypeError, "options must be an object, got number 7"],
    [() => listen({ backlog: "3" }), TypeError, 'backlog must be a number, got the string "3"'],
    [() => listen({ hostname: 5 }), TypeError, "hostname must be a string, got number 5"],
    [() => listen({ port: "80" }), TypeError, 'port must be a number, got the string "80"'],
    [
      () => pair({ chunkSizes: [1, "2"] }),
      TypeError,
      'chunkSizes must be numbers, got the string "2" at index 1',
    ],
    [
      () => listen({ hostname: "h".repeat(300) }),
      RangeError,
      "hostname must be at most 253 characters, got 300",
    ],
    [
      () => memoryPair()[0].closeAfter("5" as unknown as number),
      TypeError,
      'byteCount must be a number, got the string "5"',
    ],
    [
      () => memoryPair()[0].closeAfter(1, { reset: "no" as unknown as boolean }),
      TypeError,
      'reset must be a boolean, got the string "no"',
    ],
  ];
  for (const [attempt, type, message] of refusals) {
    let error: unknown;
    try {
      attempt();
    } catch (caught) {
      error = caught;
    }
    ok(error instanceof type && error.message.endsWith(message), String(error));
    ok(error.message.length < 200, "no value dumped");
  }
  const [a, b] = pair(null);
  a.closeAfter(1, null as unknown as undefined);
  a.close();
  b.close();
  listen(null).close();
});

Deno.test("MemoryListener: connect() waits in the backlog until accept() takes it, in order", async () => {
  using listener = new MemoryListener({ hostname: "app.test", port: 80 });
  const record: string[] = [];
  await run(
    function* () {
      const acceptor = yield* spawn(function* () {
        for (let i = 0; i < 2; i++) {
          using conn = yield* listener.accept();
          record.push(`accepted ${i}`);
          yield* conn.sendall(`you are ${i}\n`);
        }
      }());
      using first = yield* listener.connect();
      using second = yield* listener.connect();
      record.push("both connected");
      equal(first.addr.hostname, "app.test");
      equal((first.addr as Deno.NetAddr).port, 80);
      record.push(text(yield* second.readline()).trim());
      record.push(text(yield* first.readline()).trim());
      yield* join(acceptor);
    }(),
    { clock: new VirtualClock() },
  );
  deepEqual(record, [
    "both connected",
    "accepted 0",
    "accepted 1",
    "you are 1",
    "you are 0",
  ]);
});

Deno.test("MemoryListener: a connect to a full backlog waits for an accept, or times out in virtual time", async () => {
  const clock = new VirtualClock();
  using listener = new MemoryListener({ backlog: 1 });
  const record: string[] = [];
  await run(
    function* () {
      using _first = yield* listener.connect();
      const error = yield* thrown(listener.connect({ timeout: 30_000 }));
      ok(error instanceof ConnectTimeoutError, String(error));
      record.push(`${error.message} at ${clock.now()}`);
      const waiting = yield* spawn(listener.connect());
      yield* sleep(1_000);
      record.push("accepting");
      using _accepted = yield* listener.accept();
      using second = yield* join(waiting);
      record.push(`second connected at ${clock.now()}: ${second.closed ? "closed" : "open"}`);
    }(),
    { clock },
  );
  const where = `memory:${listener.addr.port}`;
  deepEqual(record, [
    `Cannot connect to ${where}: timed out after 30000 ms at 30000`,
    "accepting",
    "second connected at 31000: open",
  ]);
});

Deno.test("MemoryListener.close(): a waiting accept throws SocketClosedError, backlog clients are reset, later connects refused", async () => {
  const listener = new MemoryListener();
  await run(function* () {
    using queued = yield* listener.connect();
    listener.close(); // the queued connection was never accepted: reset
    ok((yield* thrown(queued.recv(1))) instanceof ConnectionResetError);
    const error = yield* thrown(listener.connect());
    ok(error instanceof ConnectionRefusedError, String(error));
    equal(error.message, `Cannot connect to memory:${listener.addr.port}: connection refused`);
    ok((yield* thrown(listener.accept())) instanceof SocketClosedError);
  }());
  const other = new MemoryListener();
  await run(function* () {
    const acceptor = yield* spawn(thrown(other.accept()));
    yield* yieldNow();
    const second = yield* thrown(other.accept());
    ok(second instanceof TypeError, String(second));
    other.close();
    ok((yield* join(acceptor)) instanceof SocketClosedError);
  }());
});

Deno.test("MemoryListener: an accept killed while it waits frees the listener and loses no connection", async () => {
  using listener = new MemoryListener();
  await run(function* () {
    const killed = yield* spawn(listener.accept());
    yield* yieldNow();
    yield* kill(killed);
    const acceptor = yield* spawn(listener.accept()); // another thread may accept now
    yield* yieldNow();
    using client = yield* listener.connect();
    using conn = yield* join(acceptor);
    yield* client.sendall("hi");
    equal(text(yield* conn.recv(2)), "hi");
  }());
});

Deno.test("MemoryListener: an accept a connect woke gets that connection; another accept before it resumes throws TypeError", async () => {
  using listener = new MemoryListener();
  const where = `memory:${listener.addr.port}`;
  const record: string[] = [];
  await run(
    function* () {
      const acceptor = yield* spawn(function* () {
        record.push("first accept waits");
        const conn = yield* listener.accept();
        record.push("first accept resumed");
        return conn;
      }());
      yield* yieldNow();
      using client = yield* listener.connect(); // wakes the first accept; it has not run yet
      record.push("connected");
      const error = yield* thrown(listener.accept());
      record.push(`second accept: ${(error as Error).name}: ${(error as Error).message}`);
      using conn = yield* join(acceptor);
      deepEqual(conn.addr, client.localAddr);
      yield* client.sendall("hi");
      record.push(`first accept's connection got ${text(yield* conn.recv(10))}`);
    }(),
    { clock: new VirtualClock() },
  );
  deepEqual(record, [
    "first accept waits",
    "connected",
    `second accept: TypeError: Cannot accept on ${where}: another thread is already accepting on this listener`,
    "first accept resumed",
    "first accept's connection got hi",
  ]);
});

Deno.test("MemoryListener: an accept killed after a connect woke it, before it resumed, passes the connection on", async () => {
  using listener = new MemoryListener();
  const record: string[] = [];
  await run(
    function* () {
      const killed = yield* spawn(function* () {
        try {
          record.push("accept waits");
          yield* listener.accept();
          record.push("accept resumed (wrong)");
        } finally {
          record.push("accept killed");
        }
      }());
      yield* yieldNow();
      using client = yield* listener.connect(); // wakes the accept, which is queued
      yield* kill(killed);
      using conn = yield* listener.accept(); // takes the connection the killed one left
      deepEqual(conn.addr, client.localAddr);
      yield* client.sendall("hi");
      record.push(`next accept's connection got ${text(yield* conn.recv(10))}`);
    }(),
    { clock: new VirtualClock() },
  );
  deepEqual(record, ["accept waits", "accept killed", "next accept's connection got hi"]);
});

Deno.test("MemoryListener checks its options", () => {
  throws(() => new MemoryListener({ port: 70000 }), RangeError);
  throws(() => new MemoryListener({ backlog: 0 }), RangeError);
  throws(() => new MemoryListener({ bufferSize: -1 }), RangeError);
});

Deno.test("memoryPair({ latency }): closing the connection ends a write that waits out its latency at once", async () => {
  const clock = new VirtualClock();
  const [a] = memoryPair({ latency: 1000 });
  const outcome = await run(
    function* () {
      const writer = yield* spawn(function* () {
        try {
          yield* a.sendall("abc");
          return "sent (wrong)";
        } catch (error) {
          return `${(error as Error).name} at ${clock.now()}`;
        }
      }());
      yield* sleep(1);
      a.close();
      return yield* join(writer);
    }(),
    { clock },
  );
  equal(outcome, "SocketClosedError at 1");
});

Deno.test("memoryPair({ latency }): bytes that arrive at the very instant a limited read's time runs out count, however the threads sit", async () => {
  // A write's latency is a delay, not a time limit: it ends before the deadlines of its
  // instant, so the read gets the bytes, whichever thread is deeper in the spawn tree.
  const record: string[] = [];
  for (const readerDeeper of [true, false]) {
    for (const form of ["withTimeout", "moveOnAfter"] as const) {
      const clock = new VirtualClock();
      const [a, b] = memoryPair({ latency: 10 });
      const reader = function* (): Coroutine<void> {
        const result = form === "withTimeout"
          ? yield* withTimeout(10, b.recv(10))
          : (yield* moveOnAfter(10, b.recv(10))).value;
        record.push(
          `${form}, reader ${readerDeeper ? "deeper" : "shallower"}: ${
            text(result!)
          } at ${clock.now()}`,
        );
      };
      const writer = function* (): Coroutine<void> {
        yield* a.sendall("hi");
      };
      await run(
        function* () {
          const [deep, shallow] = readerDeeper ? [reader, writer] : [writer, reader];
          yield* spawn(function* () {
            yield* spawn(deep());
          }());
          yield* shallow();
        }(),
        { clock },
      );
      a.close();
      b.close();
    }
  }
  deepEqual(record, [
    "withTimeout, reader deeper: hi at 10",
    "moveOnAfter, reader deeper: hi at 10",
    "withTimeout, reader shallower: hi at 10",
    "moveOnAfter, reader shallower: hi at 10",
  ]);
});
