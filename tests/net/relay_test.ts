import { deepEqual, equal, ok } from "node:assert/strict";
import { type Coroutine, join, kill, relay, run, spawn, withTimeout, yieldNow } from "../../mod.ts";
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
