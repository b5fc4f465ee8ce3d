import { deepEqual, equal, ok, rejects, throws } from "node:assert/strict";
import * as nodeNet from "node:net";
import {
  connect,
  type Connection,
  ConnectionResetError,
  type Coroutine,
  join,
  Listener,
  moveOnAfter,
  run,
  spawn,
  toStreams,
  until,
  withTimeout,
  yieldNow,
} from "../../mod.ts";
import { socketOf } from "../../net/connection.ts";
import { memoryPair } from "../../testing/mod.ts";
import { makeCertificate, portOf, socketPair, text } from "./_helpers.ts";

/** Waits for a macrotask, long enough for a stream's pending pull to start (or `ms`). */
function macrotask(ms = 1): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Takes a reader of `readable`, starts a read and waits until the stream's own read is in
 * flight, then lets the stream go (`releaseLock`), which rejects that read; the stream's
 * read goes on.
 */
function* readThenLetGo(readable: ReadableStream<Uint8Array>): Coroutine<void> {
  const reader = readable.getReader();
  const pending = reader.read();
  yield* until(macrotask()); // the stream's pull has started its read by now
  reader.releaseLock();
  yield* until(rejects(pending, { name: "TypeError" }));
}

/**
 * Lets `readable` go with the stream's own read in flight, as `letGo` says: a reader's
 * `releaseLock`, or a `pipeTo` with `preventCancel` stopped by its signal.
 */
function* letGoInFlight(readable: ReadableStream<Uint8Array>, letGo: string): Coroutine<void> {
  if (letGo === "releaseLock") return yield* readThenLetGo(readable);
  const aborter = new AbortController();
  const piping = readable.pipeTo(new WritableStream(), {
    preventCancel: true,
    signal: aborter.signal,
  }).catch(() => {});
  yield* until(macrotask());
  aborter.abort(new Error("stop"));
  yield* until(piping);
}

/** What `reader` gives until the end of its stream, as text (at most 100 reads). */
function* readToEnd(reader: ReadableStreamDefaultReader<Uint8Array>): Coroutine<string> {
  let got = "";
  for (let reads = 0; reads < 100; reads++) {
    const { value, done } = yield* until(reader.read());
    if (done) break;
    got += text(value);
  }
  return got;
}

/** `n` bytes of a repeating pattern, so that a lost or repeated byte shows. */
function pattern(n: number, seed = 0): Uint8Array {
  const bytes = new Uint8Array(n);
  for (let i = 0; i < n; i++) bytes[i] = (i * 7 + seed + (i >> 8)) & 0xff;
  return bytes;
}

Deno.test("toStreams() readable gives every byte the peer sent, in order, then closes", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    const sent = pattern(3 * 1024 * 1024);
    const { readable } = toStreams(pair.peer, { chunkSize: 10_000 });
    const got = until(new Response(readable).bytes());
    yield* pair.client.sendall(sent);
    yield* pair.client.closeWrite();
    deepEqual(yield* got, sent);
  }());
});

Deno.test("toStreams() writable sends every chunk, and close() is a half-close", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    const { writable } = toStreams(pair.client);
    const chunks = [pattern(100_000, 1), pattern(5, 2), pattern(70_000, 3)];
    yield* until(ReadableStream.from(chunks).pipeTo(writable));
    const all = new Uint8Array(170_005);
    all.set(chunks[0]), all.set(chunks[1], 100_000), all.set(chunks[2], 100_005);
    deepEqual(yield* pair.peer.recvExactly(all.length), all);
    equal((yield* pair.peer.recv(1)).length, 0);
    // Only the sending side was shut down: the client still reads.
    yield* pair.peer.sendall("still open");
    equal(text(yield* pair.client.recvExactly(10)), "still open");
  }());
});

Deno.test("toStreams() works with pipeThrough: the connection is the transform", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    // The peer upper-cases lines, as a remote service would.
    const service = until((async () => {
      await run(function* () {
        for (;;) {
          const line = yield* pair.peer.readline();
          if (line.length === 0) break;
          yield* pair.peer.sendall(text(line).toUpperCase());
        }
        yield* pair.peer.closeWrite();
      }());
    })());
    const out = ReadableStream.from(["one\n", "two\n"])
      .pipeThrough(new TextEncoderStream())
      .pipeThrough(toStreams(pair.client))
      .pipeThrough(new TextDecoderStream());
    equal(
      yield* until(new Response(out.pipeThrough(new TextEncoderStream())).text()),
      "ONE\nTWO\n",
    );
    yield* service;
  }());
});

Deno.test("toStreams() readable cancelled while it waits loses no byte: recv gets the next ones", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    const record: string[] = [];
    const { readable } = toStreams(pair.peer);
    const reader = readable.getReader();
    yield* pair.client.sendall("first");
    record.push(`read ${text((yield* until(reader.read())).value!)}`);
    const pending = reader.read(); // a read in flight: the peer is silent
    yield* until(macrotask()); // the stream's pull has started its read by now
    yield* until(reader.cancel());
    record.push(`cancelled, done=${(yield* until(pending)).done}`);
    yield* pair.client.sendall("second");
    record.push(`recv ${text(yield* pair.peer.recvExactly(6))}`);
    deepEqual(record, ["read first", "cancelled, done=true", "recv second"]);
  }());
});

Deno.test("toStreams() readable cancelled after bytes arrived leaves them for recv", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    const { readable } = toStreams(pair.peer, { chunkSize: 4 });
    const reader = readable.getReader();
    yield* pair.client.sendall("abcdefgh");
    equal(text((yield* until(reader.read())).value!), "abcd");
    // The stream reads only when asked: "efgh" is still the connection's.
    yield* until(macrotask());
    yield* until(reader.cancel());
    // Bounded: a stream that had read ahead would have lost "efgh", and this would hang.
    equal(text(yield* withTimeout(5_000, pair.peer.recvExactly(4))), "efgh");
  }());
});

Deno.test("toStreams() readable cancelled in the same turn its read landed gives the bytes once", async () => {
  // The read's bytes arrive, and the stream is cancelled before its consumer runs: each
  // byte goes to exactly one of the stream and the connection.
  for (let round = 0; round < 20; round++) {
    await run(function* () {
      using pair = yield* socketPair();
      const { readable } = toStreams(pair.peer);
      const reader = readable.getReader();
      const pending = reader.read();
      yield* yieldNow();
      yield* pair.client.sendall("0123456789");
      yield* pair.client.closeWrite();
      // Cancel after some macrotasks: sometimes before, sometimes after the read lands.
      yield* until(new Promise((resolve) => setTimeout(resolve, round % 3)));
      yield* until(reader.cancel());
      const streamed = yield* until(pending);
      let rest = "";
      for (;;) {
        const data = yield* pair.peer.recv(100);
        if (data.length === 0) break;
        rest += text(data);
      }
      equal((streamed.value ? text(streamed.value) : "") + rest, "0123456789");
    }());
  }
});

/**
 * Waits (a bounded number of macrotasks) until no read of `conn` is in progress: a stream's
 * read in flight has landed, and the stream took its bytes or gave them back.
 */
function* readEnded(conn: Connection): Coroutine<void> {
  for (let turns = 0; turns < 1_000; turns++) {
    if (socketOf(conn).reader === null) return;
    yield* until(macrotask());
  }
  throw new Error("the stream's read never landed");
}

Deno.test("toStreams() readable released with a read in flight, then cancelled, leaves the bytes that came meanwhile for recv", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    const { readable } = toStreams(pair.peer);
    yield* readThenLetGo(readable);
    yield* pair.client.sendall("important");
    yield* readEnded(pair.peer); // it lands with nobody waiting for the chunk
    yield* until(readable.cancel());
    yield* pair.client.closeWrite();
    equal(text(yield* withTimeout(5_000, pair.peer.recvExactly(9))), "important");
    equal((yield* pair.peer.recv(1)).length, 0);
  }());
});

Deno.test("toStreams() readable let go with a read in flight, the peer silent, leaves the connection to recv at once", async () => {
  for (const letGo of ["releaseLock", "pipeTo stopped with preventCancel"]) {
    await run(function* () {
      using pair = yield* socketPair();
      const { readable } = toStreams(pair.peer);
      yield* letGoInFlight(readable, letGo);
      // Nobody holds the stream: the owner reads on, and its recv takes the read's place.
      const receiving = yield* spawn(pair.peer.recvExactly(4));
      yield* pair.client.sendall("data");
      equal(text(yield* withTimeout(5_000, join(receiving))), "data", letGo);
      // And the stream, taken again, reads what comes next.
      yield* pair.client.sendall("more");
      yield* pair.client.closeWrite();
      equal(yield* readToEnd(readable.getReader()), "more", letGo);
    }());
  }
});

Deno.test("toStreams() readable let go with a read in flight, then the peer resets: the owner's recv throws the reset, not a clean end", async () => {
  for (const letGo of ["releaseLock", "pipeTo stopped with preventCancel"]) {
    await run(function* () {
      using listener = new Listener("127.0.0.1", 0);
      const client = nodeNet.connect(portOf(listener.addr), "127.0.0.1");
      const closed = new Promise((resolve) => client.once("close", resolve));
      using conn = yield* listener.accept();
      const { readable } = toStreams(conn);
      yield* letGoInFlight(readable, letGo);
      client.resetAndDestroy();
      yield* until(closed);
      // The stream's read lands with the reset while nobody holds the stream.
      for (let i = 0; i < 1_000 && socketOf(conn).reader !== null; i++) {
        yield* until(macrotask());
      }
      equal(socketOf(conn).reader, null, letGo);
      // Linux reads a clean end of stream after a reset: only the connection can tell.
      const error = yield* until(run(conn.recv(100)).then(() => null, (error) => error));
      ok(error instanceof ConnectionResetError, `${letGo}: ${error}`);
    }());
  }
});

Deno.test("toStreams() readable let go as its read fails for overlapping the owner's: the owner's later reads are not told of it", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    const { readable } = toStreams(pair.peer);
    const owner = yield* spawn(function* (): Coroutine<string[]> {
      const got = [text(yield* pair.peer.recvExactly(3))];
      got.push(text(yield* pair.peer.recvExactly(3)));
      return got;
    }());
    yield* until(macrotask()); // the owner's read is in flight
    const reader = readable.getReader();
    const reading = reader.read();
    reader.releaseLock(); // before the read's misuse error comes back
    yield* until(rejects(reading, { name: "TypeError" }));
    yield* until(macrotask());
    yield* pair.client.sendall("one");
    yield* until(macrotask(5));
    yield* pair.client.sendall("two");
    deepEqual(yield* withTimeout(5_000, join(owner)), ["one", "two"]);
  }());
});

Deno.test("toStreams() twice on one connection: a stream let go gives way to the other's read, and then to recv", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    const first = toStreams(pair.peer).readable;
    const second = toStreams(pair.peer).readable;
    yield* readThenLetGo(first);
    // The second stream reads: the first's read waits for nobody, so it stops.
    const b = second.getReader();
    const reading = b.read();
    yield* until(macrotask());
    yield* pair.client.sendall("one");
    equal(text((yield* until(reading)).value!), "one");
    const again = b.read();
    yield* until(macrotask());
    b.releaseLock();
    yield* until(rejects(again, { name: "TypeError" }));
    // Neither is held now: recv takes the connection from the second's read in flight.
    const receiving = yield* spawn(pair.peer.recvExactly(3));
    yield* pair.client.sendall("two");
    equal(text(yield* withTimeout(5_000, join(receiving))), "two");
  }());
});

Deno.test("toStreams() twice on one connection, both held again: an overlapping read is the usual TypeError", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    const first = toStreams(pair.peer).readable;
    const second = toStreams(pair.peer).readable;
    yield* readThenLetGo(first);
    const b = second.getReader();
    const reading = b.read(); // the first's read gives way to this one
    yield* until(macrotask());
    // The first, held again, reads while the second's read is in flight: that overlaps.
    yield* until(rejects(first.getReader().read(), {
      name: "TypeError",
      message: /another thread is already reading from this connection/,
    }));
    yield* pair.client.sendall("xyz");
    equal(text((yield* until(reading)).value!), "xyz");
  }());
});

Deno.test("toStreams() readable released with a read in flight gives the bytes that came meanwhile to its next reader, once", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    const { readable } = toStreams(pair.peer);
    yield* readThenLetGo(readable);
    yield* pair.client.sendall("abc");
    yield* readEnded(pair.peer);
    yield* pair.client.sendall("def");
    yield* pair.client.closeWrite();
    // Each byte comes once: "abc" from the connection again (or the stream, not both).
    equal(yield* readToEnd(readable.getReader()), "abcdef");
  }());
});

Deno.test("toStreams() readable: a pipeTo() with preventCancel stopped by its signal, then a cancel, loses no byte", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    const { readable } = toStreams(pair.peer);
    const got: string[] = [];
    const sink = new WritableStream<Uint8Array>({ write: (chunk) => void got.push(text(chunk)) });
    const aborter = new AbortController();
    const piping = readable.pipeTo(sink, { preventCancel: true, signal: aborter.signal })
      .then(() => "resolved", (error: Error) => error.message);
    yield* until(macrotask()); // the pipe's read is in flight
    aborter.abort(new Error("stop"));
    equal(yield* until(piping), "stop");
    yield* pair.client.sendall("important");
    yield* readEnded(pair.peer);
    yield* until(readable.cancel());
    equal(text(yield* withTimeout(5_000, pair.peer.recvExactly(9))), "important");
    deepEqual(got, []);
  }());
});

Deno.test("toStreams() readable given the signal of a pipeTo() with preventCancel loses no byte that lands while the pipe stops", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    const aborter = new AbortController();
    const { readable } = toStreams(pair.peer, { signal: aborter.signal });
    const record: string[] = [];
    const sink = new WritableStream<Uint8Array>({
      write: (chunk) => void record.push(`sink got ${text(chunk)}`),
      // A sink that takes a moment to abort (a file, another socket): the pipe holds the
      // stream, its read in flight, until that ends.
      abort: () => macrotask(50),
    });
    const piping = readable.pipeTo(sink, { preventCancel: true, signal: aborter.signal })
      .then(() => "resolved", (error: Error) => error.message);
    yield* until(macrotask()); // the pipe's read is in flight
    aborter.abort(new Error("stop"));
    yield* pair.client.sendall("important"); // lands while the sink aborts
    yield* pair.client.closeWrite();
    record.push(`pipe: ${yield* until(piping)}`);
    // The readable ended with the signal; the bytes wait for the connection's next read.
    const reader = readable.getReader();
    const ended = yield* until(reader.read().then(() => "read", (error: Error) => error.message));
    record.push(`readable: ${ended}`);
    record.push(`recv got ${text(yield* withTimeout(5_000, pair.peer.recvExactly(9)))}`);
    deepEqual(record, ["pipe: stop", "readable: stop", "recv got important"]);
  }());
});

Deno.test("toStreams() readable ends with the signal's reason, its read in flight killed and its bytes left for recv", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    const aborter = new AbortController();
    const { readable } = toStreams(pair.peer, { signal: aborter.signal });
    const reader = readable.getReader();
    const reading = reader.read().then(() => "read", (error: Error) => error.message);
    yield* until(macrotask()); // its read is in flight
    aborter.abort(new Error("stop"));
    equal(yield* until(reading), "stop");
    yield* pair.client.sendall("after");
    equal(text(yield* withTimeout(5_000, pair.peer.recvExactly(5))), "after");
    // Taken again, it stays ended: it reads no more.
    reader.releaseLock();
    yield* pair.client.sendall("more");
    const again = readable.getReader().read().then(() => "read", (error: Error) => error.message);
    equal(yield* until(again), "stop");
    equal(text(yield* withTimeout(5_000, pair.peer.recvExactly(4))), "more");
  }());
});

/** Wraps `source` in a byte stream the standard way: its `enqueue` transfers each chunk's buffer. */
function asByteStream(source: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  return new ReadableStream({
    type: "bytes",
    async pull(controller) {
      const { value, done } = await reader.read();
      if (done) {
        controller.close();
        controller.byobRequest?.respond(0);
      } else {
        controller.enqueue(value);
      }
    },
  });
}

Deno.test("toStreams() readable works under a byte-stream wrapper that transfers each chunk's buffer", async () => {
  for (const [size, chunkSize] of [[10_000, 1000], [3 * 1024 * 1024, undefined]] as const) {
    await run(function* () {
      using pair = yield* socketPair();
      const sent = pattern(size, 5);
      yield* pair.client.sendall(sent);
      yield* pair.client.closeWrite();
      const wrapped = asByteStream(toStreams(pair.peer, { chunkSize }).readable);
      deepEqual(yield* until(new Response(wrapped).bytes()), sent);
    }());
  }
});

Deno.test("toStreams() readable chunks own their memory: transferring one leaves the others whole", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    yield* pair.client.sendall("abcdefgh");
    const reader = toStreams(pair.peer, { chunkSize: 3 }).readable.getReader();
    const first = (yield* until(reader.read())).value!;
    const second = (yield* until(reader.read())).value!;
    const moved = structuredClone(second, { transfer: [second.buffer as ArrayBuffer] });
    equal(text(moved), "def");
    equal(text(first), "abc"); // not detached with it
    equal(text((yield* until(reader.read())).value!), "gh"); // nor the bytes still buffered
    yield* until(reader.cancel());
  }());
});

Deno.test("toStreams() readable errors with the connection's typed error", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    const { readable } = toStreams(pair.peer);
    pair.peer.close();
    yield* until(rejects(new Response(readable).bytes(), { name: "SocketClosedError" }));
  }());
});

Deno.test("toStreams() writable abort() closes the connection", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    const { writable } = toStreams(pair.client);
    yield* until(writable.abort(new Error("upstream failed")));
    equal(pair.client.closed, true);
    equal((yield* pair.peer.recv(1)).length, 0);
  }());
});

/** Settles with `promise`'s outcome, or with "pending" after `ms` of real time. */
async function within<T>(ms: number, promise: Promise<T>): Promise<T | "pending"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"pending">((resolve) => timer = setTimeout(resolve, ms, "pending"));
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("toStreams() writable abort() closes the connection while a write is stalled on a peer that does not read", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    const writer = toStreams(pair.client).writable.getWriter();
    // Far more than the socket buffers hold: the write stalls until the peer reads.
    const written = writer.write(new Uint8Array(32 * 1024 * 1024));
    yield* until(macrotask()); // the write is in flight
    const aborted = writer.abort(new Error("upstream failed"));
    equal(yield* until(within(5_000, aborted.then(() => "aborted"))), "aborted");
    equal(pair.client.closed, true);
    yield* until(rejects(written, { name: "SocketClosedError" }));
  }());
});

Deno.test("toStreams() writable: a pipeTo() aborted by the signal both were given closes a connection whose peer does not read", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    const source = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(new Uint8Array(1024 * 1024));
      },
    });
    const aborter = new AbortController();
    const { signal } = aborter;
    const piping = source.pipeTo(toStreams(pair.client, { signal }).writable, { signal });
    yield* until(macrotask()); // some megabytes in, the pipe's write stalls
    aborter.abort(new Error("deadline"));
    const outcome = piping.then(() => "resolved", (error: Error) => error.message);
    equal(yield* until(within(5_000, outcome)), "deadline");
    equal(pair.client.closed, true);
  }());
});

Deno.test("toStreams() rejects a chunk size that is not a positive integer", () => {
  return run(function* () {
    using pair = yield* socketPair();
    try {
      toStreams(pair.client, { chunkSize: 0 });
    } catch (error) {
      equal(
        (error as RangeError).message,
        "Cannot make streams for a connection: chunkSize must be a positive integer, got 0",
      );
      return;
    }
    throw new Error("expected a RangeError");
  }());
});

/**
 * Queues coalesced sends on a TLS connection until its peer, which does not read, lets no
 * more through. The first send that has to wait for the queue to drain was queued whole,
 * so timing it out cuts nothing: the queue's write is left stalled.
 */
function* stallTlsWrites(conn: Connection): Coroutine<void> {
  for (let sends = 0; sends < 10_000; sends++) {
    if ((yield* moveOnAfter(300, conn.sendall(new Uint8Array(16 * 1024)))).timedOut) return;
  }
  throw new Error("the peer's buffers never filled");
}

Deno.test("toStreams() writable close() on TLS, waiting for queued sends a peer does not read, ends when aborted", async (t) => {
  const { cert, key } = await makeCertificate();
  for (const how of ["writer.abort()", "the toStreams() signal", "a pipeTo() signal"] as const) {
    await t.step(how, async () => {
      await run(function* () {
        using listener = new Listener("127.0.0.1", 0, { tls: { cert, key } });
        const accepting = yield* spawn(listener.accept());
        using client = yield* connect("localhost", portOf(listener.addr), {
          tls: { caCerts: [cert] },
        });
        using _peer = yield* join(accepting); // never reads
        yield* stallTlsWrites(client);
        const aborter = new AbortController();
        const { signal } = aborter;
        const { writable } = toStreams(client, { signal });
        let closing: Promise<string>;
        let writer: WritableStreamDefaultWriter<Uint8Array> | null = null;
        if (how === "a pipeTo() signal") {
          closing = ReadableStream.from([new TextEncoder().encode("last words")])
            .pipeTo(writable, { signal })
            .then(() => "resolved", (error: Error) => error.name);
        } else {
          writer = writable.getWriter();
          closing = writer.close().then(() => "closed", (error: Error) => error.name);
        }
        // closeWrite() sends what is queued first: it waits on the stalled write.
        equal(yield* until(within(100, closing)), "pending");
        const aborted = how === "writer.abort()"
          ? writer!.abort(new Error("give up")).then(() => "resolved", (e: Error) => e.name)
          : null;
        if (how !== "writer.abort()") aborter.abort(new Error("give up"));
        // The pipe was already closing the writable: it settles with what close() threw.
        equal(yield* until(within(5_000, closing)), "SocketClosedError");
        equal(client.closed, true);
        if (aborted !== null) equal(yield* until(aborted), "SocketClosedError");
      }());
    });
  }
});

Deno.test("toStreams() refuses an in-memory connection with a TypeError", () => {
  const [a, b] = memoryPair();
  using _a = a, _b = b;
  throws(() => toStreams(a), {
    name: "TypeError",
    message: `Cannot make streams for ${(a.addr as Deno.NetAddr).hostname}:${
      (a.addr as Deno.NetAddr).port
    }: an in-memory connection (memoryPair, MemoryListener) cannot back Web Streams, since each stream operation runs in a run of its own and only the connection's own run can wake its waits; use a TCP, TLS or Unix socket connection`,
  });
});

Deno.test("toStreams() readable gives chunks typed as bytes of an ArrayBuffer, which Web APIs take as they are", async () => {
  await run(function* () {
    using pair = yield* socketPair();
    const { readable } = toStreams(pair.peer);
    const reader = readable.getReader();
    yield* pair.client.sendall("a chunk");
    const { value } = yield* until(reader.read());
    // Typed as `Uint8Array` (of any buffer), this would not type-check without a cast.
    const blob = new Blob([value!]);
    equal(yield* until(blob.text()), "a chunk");
    yield* until(reader.cancel());
  }());
});
