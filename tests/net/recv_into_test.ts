import { deepEqual, equal } from "node:assert/strict";
import { join, kill, recvInto, run, spawn, withTimeout, yieldNow } from "../../mod.ts";
import { socketOf } from "../../net/connection.ts";
import { memoryPair } from "../../testing/mod.ts";
import { socketPair, text, thrown } from "./_helpers.ts";

Deno.test("recvInto() fills the caller's array from its start, then gives 0 at end of stream", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    const target = new Uint8Array(8).fill(7);
    yield* pair.client.sendall("hello");
    equal(yield* recvInto(pair.peer, target), 5);
    deepEqual([...target], [104, 101, 108, 108, 111, 7, 7, 7]);
    yield* pair.client.closeWrite();
    equal(yield* recvInto(pair.peer, target), 0);
    equal(yield* recvInto(pair.peer, target), 0);
  }());
});

Deno.test("recvInto() gives buffered bytes first, at most the array's length", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    yield* pair.client.sendall("line one\nrest");
    equal(text(yield* pair.peer.readline()), "line one\n");
    const target = new Uint8Array(2);
    equal(yield* recvInto(pair.peer, target), 2);
    equal(text(target), "re");
    equal(yield* recvInto(pair.peer, target), 2);
    equal(text(target), "st");
  }());
});

Deno.test("recvInto() killed while it waits loses no byte: the next read gets them", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    const record: string[] = [];
    const target = new Uint8Array(16);
    const reader = yield* spawn(recvInto(pair.peer, target));
    yield* yieldNow(); // the OS read into `target` is in flight
    yield* kill(reader);
    record.push("killed");
    yield* pair.client.sendall("after the kill");
    // Bounded: bytes swallowed by the killed read would leave this waiting forever.
    record.push(`recv ${text(yield* withTimeout(5_000, pair.peer.recvExactly(14)))}`);
    deepEqual(record, ["killed", "recv after the kill"]);
  }());
});

Deno.test("recvInto() killed after its OS read landed in the array, before it resumed, loses no byte", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    const record: string[] = [];
    const target = new Uint8Array(16);
    yield* pair.client.sendall("hello");
    const reader = yield* spawn(function* () {
      try {
        yield* recvInto(pair.peer, target); // nothing buffered: the OS read fills `target`
        record.push("reader resumed (wrong)");
      } finally {
        record.push("reader killed");
      }
    }());
    // Always ready, so it is queued ahead of the reader when the read lands, and runs in
    // that same kernel turn, after the read settled and before the reader resumes.
    const killer = yield* spawn(function* () {
      for (let spins = 0; spins < 1_000_000; spins++) {
        if (target[0] !== 0) {
          equal(reader.done, false);
          yield* kill(reader);
          record.push(`killed with ${text(target.subarray(0, 5))} in the array`);
          // Buffered at once: the read had settled (a read killed in flight lands later).
          equal(socketOf(pair.peer).buffer.size, 5);
          return;
        }
        yield* yieldNow();
      }
      record.push("the read never landed (wrong)");
    }());
    yield* join(killer);
    target.fill(0); // the caller reuses its array: the buffered bytes are a copy
    yield* pair.client.sendall(" world");
    yield* pair.client.closeWrite();
    const rest: string[] = [];
    for (let n; (n = yield* withTimeout(5_000, recvInto(pair.peer, target))) > 0;) {
      rest.push(text(target.subarray(0, n)));
    }
    record.push(`next reads got ${rest.join("")}`);
    deepEqual(record, [
      "reader killed",
      "killed with hello in the array",
      "next reads got hello world",
    ]);
  }());
});

Deno.test("recvInto() killed, then recvInto again, gets the bytes in order", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    const first = new Uint8Array(16);
    const reader = yield* spawn(recvInto(pair.peer, first));
    yield* yieldNow();
    yield* kill(reader);
    yield* pair.client.sendall("abc");
    const second = new Uint8Array(16);
    const n = yield* withTimeout(5_000, recvInto(pair.peer, second));
    equal(text(second.subarray(0, n)), "abc");
  }());
});

Deno.test("recvInto() works on an in-memory connection", async () => {
  await run(function* () {
    const [a, b] = memoryPair();
    using _a = a, _b = b;
    yield* a.sendall("in memory");
    const target = new Uint8Array(32);
    const n = yield* recvInto(b, target);
    equal(text(target.subarray(0, n)), "in memory");
  }());
});

Deno.test("recvInto() rejects an empty array and overlapping reads", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    const empty = yield* thrown(recvInto(pair.peer, new Uint8Array(0)));
    equal(
      (empty as TypeError).message,
      `Cannot recv from ${(pair.peer.addr as Deno.NetAddr).hostname}:${
        (pair.peer.addr as Deno.NetAddr).port
      }: the target must be a non-empty Uint8Array`,
    );
    const reader = yield* spawn(recvInto(pair.peer, new Uint8Array(4)));
    yield* yieldNow();
    const overlap = yield* thrown(pair.peer.recv(4));
    equal((overlap as Error).name, "TypeError");
    yield* kill(reader);
  }());
});

Deno.test("recvInto() on a closed connection throws SocketClosedError", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    pair.peer.close();
    const error = yield* thrown(recvInto(pair.peer, new Uint8Array(4)));
    equal((error as Error).name, "SocketClosedError");
  }());
});
