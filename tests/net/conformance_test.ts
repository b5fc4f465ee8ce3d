// One contract, two transports: the in-memory pair and a real loopback pair must both pass
// the same conformance check, which keeps the in-memory pair honest.
import { equal, ok, rejects } from "node:assert/strict";
import type { Connection } from "../../net/mod.ts";
import { checkConnectionPair, memoryPair } from "../../testing/mod.ts";
import { socketPair, tempDir } from "./_helpers.ts";

Deno.test("checkConnectionPair() passes an in-memory pair, in virtual time", async () => {
  // deno-lint-ignore require-yield
  await checkConnectionPair(function* () {
    return memoryPair();
  }, { virtualTime: true });
});

Deno.test("checkConnectionPair() passes an in-memory pair with a small buffer, latency and random chunks", async () => {
  // deno-lint-ignore require-yield
  await checkConnectionPair(function* () {
    return memoryPair({ bufferSize: 100, latency: 3, chunkSeed: 12, maxChunk: 4096 });
  }, { virtualTime: true });
});

Deno.test("checkConnectionPair() passes an in-memory pair that delivers one byte at a time", async () => {
  // deno-lint-ignore require-yield
  await checkConnectionPair(function* () {
    return memoryPair({ chunkSizes: [1, 7, 1500] });
  }, { virtualTime: true });
});

Deno.test("checkConnectionPair() passes an in-memory pair that delivers one byte per read behind a full buffer", async () => {
  // Each read takes one byte of a full 64 KiB buffer, and the waiting write refills it a
  // byte at a time: a buffer kept as an array that shifts on each read took minutes.
  // deno-lint-ignore require-yield
  await checkConnectionPair(function* () {
    return memoryPair({ chunkSizes: [1] });
  }, { virtualTime: true });
});

Deno.test("checkConnectionPair() passes an in-memory pair with buffers of a megabyte and more", async () => {
  // Its overlapping-writes check needs a write that waits for the peer: one of 1 MiB went
  // out whole into such a buffer, and the check failed a correct pair.
  for (const bufferSize of [1024 * 1024, 2 * 1024 * 1024]) {
    // deno-lint-ignore require-yield
    await checkConnectionPair(function* () {
      return memoryPair({ bufferSize });
    }, { virtualTime: true });
  }
});

Deno.test("checkConnectionPair() passes an in-memory pair with a one-byte buffer", async () => {
  // deno-lint-ignore require-yield
  await checkConnectionPair(function* () {
    return memoryPair({ bufferSize: 1 });
  }, { virtualTime: true });
});

Deno.test("checkConnectionPair() passes an in-memory pair with a 3-byte buffer and random chunks of 1 or 2 bytes", async () => {
  // deno-lint-ignore require-yield
  await checkConnectionPair(function* () {
    return memoryPair({ bufferSize: 3, chunkSeed: 1, maxChunk: 2 });
  }, { virtualTime: true });
});

Deno.test("checkConnectionPair() passes a TCP pair over loopback", async () => {
  await checkConnectionPair(function* () {
    const pair = yield* socketPair();
    return [pair.client, pair.peer];
  });
});

Deno.test("checkConnectionPair() passes a Unix socket pair", async () => {
  await using dir = await tempDir();
  let n = 0;
  await checkConnectionPair(function* () {
    const pair = yield* socketPair({ transport: "unix", path: `${dir.path}/s${n++}.sock` });
    return [pair.client, pair.peer];
  });
});

Deno.test("checkConnectionPair() fails a pair that drops bytes, naming the check", async () => {
  await rejects(
    // deno-lint-ignore require-yield
    checkConnectionPair(function* () {
      const [a, b] = memoryPair();
      a.closeAfter(1000); // a cuts the stream after 1000 bytes
      return [a, b];
    }, { virtualTime: true }),
    (error: Error) => {
      equal(
        error.message.split(":")[0],
        'Connection pair failed the check "bytes arrive whole and in order, both ways at once"',
      );
      ok(error.cause instanceof Error);
      return true;
    },
  );
});

Deno.test("checkConnectionPair() fails a pair that flips a byte, saying where", async () => {
  // A pair whose reads flip one bit of byte 200,000 of what b receives.
  function corrupting(conn: Connection): Connection {
    let seen = 0;
    const recv = conn.recv.bind(conn);
    // A coroutine where an event was: the check reads with `yield*`, which takes either.
    conn.recv = function* (bufsize: number) {
      const data = (yield* recv(bufsize)).slice();
      if (seen <= 200_000 && seen + data.length > 200_000) data[200_000 - seen] ^= 1;
      seen += data.length;
      return data;
    } as unknown as Connection["recv"];
    return conn;
  }
  await rejects(
    checkConnectionPair(() => {
      const [a, b] = memoryPair();
      return [a, corrupting(b)];
    }, { virtualTime: true }),
    (error: Error) => {
      const [, got, sent] =
        /: Bytes sent a to b differ at offset 200000 of 307200: got (\d+), sent (\d+)$/
          .exec(error.message) ?? [];
      equal(Number(got), Number(sent) ^ 1, error.message);
      return true;
    },
  );
});

Deno.test("checkConnectionPair() fails a real pair that never reports the end of the stream, within its limit, rather than hang", async () => {
  await rejects(
    checkConnectionPair(function* () {
      const { client, peer } = yield* socketPair();
      // closeWrite does nothing: the peer never sees the end of the stream.
      client.closeWrite = function* () {} as unknown as Connection["closeWrite"];
      return [client, peer];
    }, { limit: 300 }),
    (error: Error) => {
      ok(
        /^Connection pair failed the check "[^"]+": it did not finish within 300 ms \(.*waiting on .+\)$/
          .test(error.message),
        error.message,
      );
      return true;
    },
  );
});

Deno.test("checkConnectionPair() refuses virtual time for a pair whose waits are real I/O", async () => {
  await rejects(
    checkConnectionPair(function* () {
      const { client, peer } = yield* socketPair();
      return [client, peer];
    }, { virtualTime: true, limit: 300 }),
    {
      name: "TypeError",
      message:
        "Cannot check connection pair: virtualTime needs in-memory connections (memoryPair, a MemoryListener's), got one over tcp: a VirtualClock holds still while real I/O is pending",
    },
  );
});

Deno.test("checkConnectionPair() refuses a wrong argument as such, not as a pair that failed a check", async () => {
  type MakePair = Parameters<typeof checkConnectionPair>[0];
  await rejects(checkConnectionPair(42 as unknown as MakePair), {
    name: "TypeError",
    message: "Cannot check connection pair: makePair must be a function, got number 42",
  });
  await rejects(checkConnectionPair(() => null as unknown as [Connection, Connection]), {
    name: "TypeError",
    message:
      "Cannot check connection pair: makePair must give two connections, or an operation that gives them, got null",
  });
  await rejects(checkConnectionPair(() => [1, 2] as unknown as [Connection, Connection]), {
    name: "TypeError",
    message:
      "Cannot check connection pair: makePair must give two connections, or an operation that gives them, got an object (Array)",
  });
  // A makePair that fails is no pair that failed a check either: its error, said so.
  const failure = new Error("cannot reach the test server");
  await rejects(
    checkConnectionPair(() => {
      throw failure;
    }),
    (error: Error) => {
      equal(
        error.message,
        "Cannot check connection pair: makePair failed: cannot reach the test server",
      );
      equal(error.cause, failure);
      return true;
    },
  );
  await rejects(checkConnectionPair(() => memoryPair(), { timeout: -1 }), {
    name: "RangeError",
    message:
      "Cannot check connection pair: timeout must be a positive finite number of milliseconds, got -1",
  });
  await rejects(checkConnectionPair(() => memoryPair(), { limit: 0 }), {
    name: "RangeError",
    message:
      "Cannot check connection pair: limit must be a positive finite number of milliseconds, got 0",
  });
  await rejects(checkConnectionPair(() => memoryPair(), { limit: "10" as unknown as number }), {
    name: "TypeError",
  });
});
