import { deepEqual, equal, ok } from "node:assert/strict";
import {
  type Connection,
  join,
  kill,
  recvInto,
  run,
  spawn,
  withTimeout,
  yieldNow,
} from "../../mod.ts";
import { socketOf } from "../../net/connection.ts";
import { memoryPair } from "../../testing/mod.ts";
import { socketPair, text, thrown } from "./_helpers.ts";

/** The error a read throws for bytes that went with a `recvInto` array detached or shrunk. */
function lostBytes(conn: Connection, count: number): string {
  return `Cannot read from ${
    peerOf(conn)
  }: ${count} received bytes were lost, since they landed in the array of a recvInto() that was killed or timed out, and that array was detached or shrunk meanwhile`;
}

/** The error of a recvInto() whose array lost `count` bytes of its read in flight. */
function lostInFlight(conn: Connection, count: number): string {
  return `Cannot read from ${
    peerOf(conn)
  }: ${count} received bytes were lost, since they landed past the end of a recvInto()'s array, which was detached or shrunk while its read was in flight`;
}

/** How messages name `conn`'s peer. */
function peerOf(conn: Connection): string {
  const addr = conn.addr as Deno.NetAddr;
  return `${addr.hostname}:${addr.port}`;
}

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

Deno.test("recvInto() killed in flight, its array's buffer then transferred: the next read says how many bytes went, and reads go on", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    const target = new Uint8Array(64);
    const reader = yield* spawn(recvInto(pair.peer, target));
    yield* yieldNow(); // the OS read into `target` is in flight
    yield* kill(reader);
    target.buffer.transfer(); // say, to a Worker: the bytes go with it
    yield* pair.client.sendall("hello");
    const error = yield* thrown(withTimeout(5_000, pair.peer.recv(100)));
    ok(error instanceof TypeError, String(error));
    equal(error.message, lostBytes(pair.peer, 5));
    yield* pair.client.sendall("after");
    equal(text(yield* withTimeout(5_000, pair.peer.recvExactly(5))), "after");
  }());
});

Deno.test("recvInto() killed in flight, its resizable array then shrunk: the bytes that fit come first, then the error says how many went", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    const memory = new ArrayBuffer(64, { maxByteLength: 64 });
    const target = new Uint8Array(memory); // tracks the buffer's length
    const reader = yield* spawn(recvInto(pair.peer, target));
    yield* yieldNow();
    yield* kill(reader);
    memory.resize(2);
    yield* pair.client.sendall("hello");
    equal(text(yield* withTimeout(5_000, pair.peer.recv(100))), "he");
    const error = yield* thrown(withTimeout(5_000, pair.peer.recv(100)));
    ok(error instanceof TypeError, String(error));
    equal(error.message, lostBytes(pair.peer, 3));
    yield* pair.client.sendall("after");
    equal(text(yield* withTimeout(5_000, pair.peer.recvExactly(5))), "after");
  }());
});

Deno.test("recvInto() whose resizable array shrinks while its read is in flight gives the bytes that fit, then the next read says how many went", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    const memory = new ArrayBuffer(64, { maxByteLength: 64 });
    const target = new Uint8Array(memory); // tracks the buffer's length
    const reader = yield* spawn(recvInto(pair.peer, target));
    yield* yieldNow(); // the OS read is in flight, into all 64 bytes
    memory.resize(2);
    yield* pair.client.sendall("hello");
    equal(yield* join(reader), 2);
    equal(text(target), "he");
    const error = yield* thrown(withTimeout(5_000, pair.peer.recv(100)));
    ok(error instanceof TypeError, String(error));
    equal(error.message, lostInFlight(pair.peer, 3));
    yield* pair.client.sendall("after");
    equal(text(yield* withTimeout(5_000, pair.peer.recvExactly(5))), "after");
  }());
});

Deno.test("recvInto() whose array's buffer is transferred while its read is in flight throws, rather than give 0 (the end of the stream)", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    const target = new Uint8Array(16);
    const reader = yield* spawn(recvInto(pair.peer, target));
    yield* yieldNow(); // the OS read is in flight
    const moved = target.buffer.transfer(); // the bytes land in `moved` now
    yield* pair.client.sendall("hello");
    const error = yield* thrown(join(reader));
    ok(error instanceof TypeError, String(error));
    equal(error.message, lostInFlight(pair.peer, 5));
    equal(text(new Uint8Array(moved, 0, 5)), "hello");
    yield* pair.client.sendall("after");
    equal(text(yield* withTimeout(5_000, pair.peer.recvExactly(5))), "after");
  }());
});

Deno.test("recvInto() killed after its OS read landed, its array's buffer transferred first: the next read says how many bytes went", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    const target = new Uint8Array(16);
    yield* pair.client.sendall("hello");
    const reader = yield* spawn(recvInto(pair.peer, target));
    // Queued ahead of the reader when the read lands (see the test above): it runs after
    // the read settled, before the reader resumes.
    const killer = yield* spawn(function* () {
      for (let spins = 0; spins < 1_000_000; spins++) {
        if (target[0] !== 0) {
          target.buffer.transfer();
          yield* kill(reader);
          return true;
        }
        yield* yieldNow();
      }
      return false;
    }());
    equal(yield* join(killer), true);
    const error = yield* thrown(withTimeout(5_000, pair.peer.recv(100)));
    ok(error instanceof TypeError, String(error));
    equal(error.message, lostBytes(pair.peer, 5));
    yield* pair.client.sendall("after");
    equal(text(yield* withTimeout(5_000, pair.peer.recvExactly(5))), "after");
  }());
});
