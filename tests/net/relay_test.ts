import { deepEqual, equal, match, ok, rejects, throws } from "node:assert/strict";
import {
  type Connection,
  type Coroutine,
  join,
  kill,
  moveOnAfter,
  recvInto,
  relay,
  run,
  server,
  sleep,
  spawn,
  toStreams,
  VirtualClock,
  withTimeout,
  yieldNow,
} from "../../mod.ts";
import { MemoryListener, memoryPair } from "../../testing/mod.ts";
import { type Pair, socketPair, text, thrown } from "./_helpers.ts";

/** `n` bytes of a repeating pattern, so that a lost or repeated byte shows. */
function pattern(n: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(n);
  for (let i = 0; i < n; i++) bytes[i] = (i * 13 + seed + (i >> 10)) & 0xff;
  return bytes;
}

/** Two pairs, `left.peer` and `right.client` relayed: left.client <-> right.peer. */
function* twoPairs(): Coroutine<[Pair, Pair]> {
  return [yield* socketPair(), yield* socketPair()];
}

/** Sends `bytes`, then ends the stream. */
function* sendAll(conn: Connection, bytes: Uint8Array): Coroutine<void> {
  yield* conn.sendall(bytes);
  yield* conn.closeWrite();
}

function* readToEnd(conn: Pair["client"]): Coroutine<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const data = yield* conn.recv(65536);
    if (data.length === 0) break;
    chunks.push(data);
    size += data.length;
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) all.set(chunk, at), at += chunk.length;
  return all;
}

Deno.test("relay() copies megabytes both ways at once, intact, and counts them", async () => {
  await run(function* () {
    const [left, right] = yield* twoPairs();
    using _left = left, _right = right;
    const relaying = yield* spawn(relay(left.peer, right.client));
    const up = pattern(3 * 1024 * 1024 + 17, 1);
    const down = pattern(2 * 1024 * 1024 + 5, 2);
    // Both ends write and read at once: neither direction waits for the other.
    const sendUp = yield* spawn(function* () {
      yield* left.client.sendall(up);
      yield* left.client.closeWrite();
    }());
    const sendDown = yield* spawn(function* () {
      yield* right.peer.sendall(down);
      yield* right.peer.closeWrite();
    }());
    const gotUp = yield* spawn(readToEnd(right.peer));
    const gotDown = yield* spawn(readToEnd(left.client));
    deepEqual(yield* join(gotUp), up);
    deepEqual(yield* join(gotDown), down);
    yield* join(sendUp), yield* join(sendDown);
    deepEqual(yield* join(relaying), { aToB: up.length, bToA: down.length });
  }());
});

Deno.test("relay() and toStreams() refuse what is not a Connection, saying so", async () => {
  const [a, b] = memoryPair();
  using raw = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  await rejects(run(relay(a, raw as never)), {
    name: "TypeError",
    message: "Cannot relay between connections: b must be a Connection, got an object (Listener)",
  });
  await rejects(run(relay(null as never, b)), {
    name: "TypeError",
    message: "Cannot relay between connections: a must be a Connection, got null",
  });
  throws(() => toStreams({} as never), {
    name: "TypeError",
    message:
      "Cannot make streams for a connection: conn must be a Connection, got an object (Object)",
  });
  a.close();
  b.close();
});

Deno.test("relay() passes a half-close on, each way, and the other direction goes on", async () => {
  await run(function* () {
    const [left, right] = yield* twoPairs();
    using _left = left, _right = right;
    const record: string[] = [];
    const relaying = yield* spawn(relay(left.peer, right.client));

    yield* left.client.sendall("request");
    yield* left.client.closeWrite();
    record.push(`server got ${text(yield* right.peer.recvExactly(7))}`);
    // Bounded: without the half-close passed on, these reads would wait forever.
    record.push(`server then got ${(yield* withTimeout(5_000, right.peer.recv(1))).length} bytes`);
    yield* right.peer.sendall("response");
    record.push(`client got ${text(yield* left.client.recvExactly(8))}`);
    yield* yieldNow();
    record.push(`relay done: ${relaying.done}`);
    yield* right.peer.closeWrite();
    record.push(`client then got ${(yield* withTimeout(5_000, left.client.recv(1))).length} bytes`);
    deepEqual(yield* join(relaying), { aToB: 7, bToA: 8 });
    deepEqual(record, [
      "server got request",
      "server then got 0 bytes",
      "client got response",
      "relay done: false",
      "client then got 0 bytes",
    ]);
  }());
});

Deno.test("relay() passes a half-close from the second connection first too", async () => {
  await run(function* () {
    const [left, right] = yield* twoPairs();
    using _left = left, _right = right;
    const relaying = yield* spawn(relay(left.peer, right.client));
    yield* right.peer.sendall("banner");
    yield* right.peer.closeWrite();
    equal(text(yield* readToEnd(left.client)), "banner");
    yield* left.client.sendall("late");
    yield* left.client.closeWrite();
    equal(text(yield* readToEnd(right.peer)), "late");
    deepEqual(yield* join(relaying), { aToB: 4, bToA: 6 });
  }());
});

Deno.test("relay() throws when a side fails, and stops the other direction", async () => {
  await run(function* () {
    const [left, right] = yield* twoPairs();
    using _left = left, _right = right;
    const relaying = yield* spawn(relay(left.peer, right.client));
    yield* yieldNow();
    // The relay's upstream connection is closed under it: its read fails at once.
    right.client.close();
    const error = yield* thrown(join(relaying));
    ok(error instanceof Error, String(error));
    equal((error as Error).name, "SocketClosedError");
    // The other direction's read was killed: the left peer can still be read by others.
    yield* left.client.sendall("x");
    equal(text(yield* left.peer.recvExactly(1)), "x");
  }());
});

Deno.test("relay() killed stops both directions and leaves the connections open", async () => {
  await run(function* () {
    const [left, right] = yield* twoPairs();
    using _left = left, _right = right;
    const relaying = yield* spawn(relay(left.peer, right.client));
    yield* yieldNow();
    yield* kill(relaying);
    equal(left.peer.closed || right.client.closed, false);
    // No byte in flight was lost by the kill: it is there for the next reader.
    yield* left.client.sendall("after");
    equal(text(yield* left.peer.recvExactly(5)), "after");
  }());
});

Deno.test("relay() killed while a write waits for room gives the chunk it held back to its source", async () => {
  // In memory, a write killed before it handed over a byte leaves the stream whole; the
  // chunk the relay had taken must not vanish between the two connections.
  const [client, front] = memoryPair({ bufferSize: 1000 });
  const [back, upstream] = memoryPair({ bufferSize: 1000 });
  const sent = pattern(10_000, 7);
  const record: string[] = [];
  await run(
    function* () {
      yield* spawn(sendAll(client, sent));
      const first = yield* spawn(relay(front, back));
      yield* sleep(10); // the upstream does not read: the relay's write waits for room
      yield* kill(first);
      record.push("first relay killed");
      const second = yield* spawn(relay(front, back));
      const got = yield* readToEnd(upstream);
      yield* upstream.closeWrite();
      const counted = yield* join(second);
      record.push(`second relay copied ${counted.aToB} + ${counted.bToA}`);
      equal(got.length, sent.length);
      deepEqual(got, sent);
    }(),
    { clock: new VirtualClock() },
  );
  // The first relay handed over the first 1,000 bytes (the upstream's buffer) before it
  // was killed; the second copies the rest, the given-back chunk first.
  deepEqual(record, ["first relay killed", "second relay copied 9000 + 0"]);
  for (const conn of [client, front, back, upstream]) conn.close();
});

Deno.test("relay() that fails to write gives back what it had not handed over", async () => {
  // The upstream goes away while the relay waits to write a chunk: that write fails, and
  // the chunk's bytes, which no peer got, are still there to read from the source.
  const [client, front] = memoryPair({ bufferSize: 1000 });
  const [back, upstream] = memoryPair({ bufferSize: 1000 });
  const sent = pattern(10_000, 11);
  await run(
    function* () {
      yield* spawn(function* () {
        yield* client.sendall(sent);
      }());
      const relaying = yield* spawn(relay(front, back));
      const head = yield* upstream.recvExactly(1000);
      yield* sleep(10); // the relay's next write waits for room again
      upstream.close(); // with 1,000 more bytes unread in its buffer: those are gone
      const error = yield* thrown(join(relaying));
      equal((error as Error).name, "BrokenPipeError");
      deepEqual(head, sent.subarray(0, 1000));
      // Everything after what the upstream's buffer held comes back from the source.
      const rest = yield* front.recvExactly(sent.length - 2000);
      deepEqual(rest, sent.subarray(2000));
    }(),
    { clock: new VirtualClock() },
  );
  for (const conn of [client, front, back, upstream]) conn.close();
});

Deno.test("relay() killed says so when it cannot give a chunk back: another thread reads its source", async () => {
  const [back, upstream] = memoryPair({ bufferSize: 10 });
  await run(function* () {
    const left = yield* socketPair();
    using _left = left;
    yield* left.client.sendall(pattern(100, 3));
    const relaying = yield* spawn(relay(left.peer, back, { chunkSize: 10 }));
    // The upstream takes the first chunk; the second fills `back`, and the relay waits to
    // send its third.
    equal((yield* upstream.recvExactly(10)).length, 10);
    yield* yieldNow();
    // Misuse: another thread reads the relay's source meanwhile. It takes the bytes after
    // the relay's chunk, then waits on an OS read, which fills the buffer's tail.
    equal((yield* left.peer.recv(1000)).length, 70);
    const reader = yield* spawn(left.peer.recv(10));
    yield* yieldNow();
    const error = yield* thrown(kill(relaying));
    match(
      (error as Error).message,
      /^Cannot give 10 relayed bytes back to 127\.0\.0\.1:\d+: another thread read from it meanwhile$/,
    );
    yield* kill(reader);
  }());
  back.close();
  upstream.close();
});

Deno.test("relay() killed says so whenever another thread read its source since its chunk, never reordering it", async (t) => {
  // Misuse in three forms, each after the relay took its chunk and while it waits to send
  // it: a read that ended, a recv waiting on the OS, a recvInto reading straight into its
  // target. Putting the chunk back would reorder the stream, or leave the waiting reader
  // asleep with bytes buffered: the relay's killer is told instead.
  for (const form of ["a read that ended", "a recv in flight", "a recvInto in flight"]) {
    await t.step(form, async () => {
      const [back, upstream] = memoryPair({ bufferSize: 4 });
      await run(function* () {
        const left = yield* socketPair();
        using _left = left;
        yield* left.client.sendall("AAAABBBBCCCCDDDD");
        const relaying = yield* spawn(relay(left.peer, back, { chunkSize: 4 }));
        // AAAA is handed over, BBBB fills `back`, CCCC waits for room, DDDD is buffered at
        // the source.
        equal(text(yield* upstream.recvExactly(4)), "AAAA");
        yield* yieldNow();
        let reader = null;
        if (form === "a read that ended") {
          equal(text(yield* left.peer.recv(64)), "DDDD");
        } else {
          equal(text(yield* left.peer.recv(64)), "DDDD");
          reader = form === "a recv in flight"
            ? yield* spawn(left.peer.recv(64))
            : yield* spawn(recvInto(left.peer, new Uint8Array(64)));
          yield* yieldNow();
        }
        const error = yield* thrown(kill(relaying));
        match(
          (error as Error).message,
          /^Cannot give 4 relayed bytes back to 127\.0\.0\.1:\d+: another thread read from it meanwhile$/,
        );
        if (reader !== null) yield* kill(reader);
      }());
      back.close();
      upstream.close();
    });
  }
});

Deno.test("relay() stopped at any instant, then started again, delivers every byte once", async () => {
  // A send may have handed its bytes over before the relay's thread ran again: those must
  // not also go back to the source (a byte twice), and the others must (no byte lost).
  const sent = pattern(300, 5);
  for (
    const [k, settings] of [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11].flatMap((k) => [
      [k, { bufferSize: 1 }] as const,
      // A write that hands part of its bytes over, then waits for room.
      [k, { bufferSize: 10, chunkSizes: [3, 7] }] as const,
    ])
  ) {
    const [client, front] = memoryPair(settings);
    const [back, upstream] = memoryPair(settings);
    const got: number[] = [];
    await run(
      function* () {
        yield* spawn(sendAll(client, sent));
        const first = yield* spawn(relay(front, back, { chunkSize: 5 }));
        const reader = yield* spawn(function* () {
          for (let data; (data = yield* upstream.recv(1)).length > 0;) got.push(...data);
        }());
        for (let i = 0; i < k; i++) yield* yieldNow();
        yield* kill(first);
        const second = yield* spawn(relay(front, back, { chunkSize: 5 }));
        yield* join(reader);
        yield* upstream.closeWrite();
        yield* join(second);
      }(),
      { clock: new VirtualClock() },
    );
    for (const conn of [client, front, back, upstream]) conn.close();
    deepEqual(new Uint8Array(got), sent, `stopped after ${k} yields, ${JSON.stringify(settings)}`);
  }
});

Deno.test("relay() stopped gives bytes back past a read a timed-out reader left in flight", async () => {
  // Nobody else reads the source: an earlier read that timed out left its OS read in
  // flight, with bytes already buffered, which the relay then took.
  const [back, upstream] = memoryPair({ bufferSize: 2 });
  await run(function* () {
    const left = yield* socketPair();
    using _left = left;
    yield* left.client.sendall("HELLO");
    const header = yield* moveOnAfter(50, left.peer.recvExactly(8));
    equal(header.timedOut, true);
    const relaying = yield* spawn(relay(left.peer, back, { chunkSize: 64 }));
    equal(text(yield* upstream.recvExactly(2)), "HE");
    yield* yieldNow();
    yield* kill(relaying); // no error: the relay's reads were its own
    yield* left.client.sendall("!");
    // What the upstream's buffer holds went; the rest is back in front of the source.
    const inBuffer = text(yield* upstream.recv(64));
    equal(inBuffer + text(yield* left.peer.recvExactly(4 - inBuffer.length)), "LLO!");
  }());
  back.close();
  upstream.close();
});

Deno.test("relay() rejects a chunk size that is not a positive integer", async () => {
  await run(function* () {
    const [left, right] = yield* twoPairs();
    using _left = left, _right = right;
    const error = yield* thrown(relay(left.peer, right.client, { chunkSize: 1.5 }));
    equal(
      (error as RangeError).message,
      "Cannot relay between connections: chunkSize must be a positive integer, got 1.5",
    );
  }());
});

Deno.test("relay(): bytes moving on either connection keep both alive under a server's idle limit", async () => {
  // The client uploads 10,000 bytes at once; the upstream takes 100 every 200 ms. The relay
  // waits in a send to the upstream all that while, reading nothing from the client: only
  // the upstream's leg moves. The server watches the client's connection.
  const clock = new VirtualClock();
  const record: string[] = [];
  const listener = new MemoryListener();
  const [proxySide, upstreamSide] = memoryPair({ bufferSize: 100 });
  function* proxy(client: Connection): Coroutine<void> {
    try {
      const { aToB } = yield* relay(client, proxySide);
      record.push(`${clock.now()} relayed ${aToB} bytes up`);
    } finally {
      proxySide.close(); // as a proxy does: the upstream learns that its client went
    }
  }
  await run(
    function* () {
      const serving = yield* spawn(server(listener, proxy, { idleTimeout: 1_000 }));
      using client = yield* listener.connect();
      yield* client.sendall(new Uint8Array(10_000));
      let got = 0;
      while (got < 10_000) {
        yield* sleep(200);
        const data = yield* upstreamSide.recv(100);
        if (data.length === 0) break; // the idle limit closed the pair
        got += data.length;
      }
      record.push(`${clock.now()} upstream got ${got} bytes`);
      if (got === 10_000) {
        yield* client.closeWrite();
        equal((yield* upstreamSide.recv(100)).length, 0);
        yield* upstreamSide.closeWrite();
        equal((yield* client.recv(100)).length, 0);
      }
      yield* sleep(10);
      yield* kill(serving);
    }(),
    { clock },
  );
  deepEqual(record, ["20000 upstream got 10000 bytes", "20000 relayed 10000 bytes up"]);
});
