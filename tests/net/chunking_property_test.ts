// Property: what `readline` and `recvExactly` give does not depend on how the stream was
// cut into packets. The peer is an in-memory connection whose reads land exactly the
// chunks the property chose, something loopback TCP cannot promise.
import { deepEqual } from "node:assert/strict";
import fc from "fast-check";
import {
  type Connection,
  type Coroutine,
  type Effect,
  LineTooLongError,
  run,
  UnexpectedEofError,
} from "../../mod.ts";
import { memoryPair } from "../../testing/mod.ts";

/**
 * Runs `reader` on a connection that receives `chunks`, one per read, then the end of the
 * stream: the peer sends them all at once, and the reads land them chunk by chunk.
 */
function scripted<T>(
  chunks: Uint8Array[],
  reader: (conn: Connection) => Coroutine<T>,
): Promise<T> {
  chunks = chunks.filter((chunk) => chunk.length > 0);
  const total = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  const [peer, conn] = memoryPair({
    chunkSizes: chunks.length === 0 ? [1] : chunks.map((chunk) => chunk.length),
    bufferSize: Math.max(1, total), // so that the peer's write never waits
  });
  return run(function* () {
    for (const chunk of chunks) yield* peer.sendall(chunk);
    peer.close();
    try {
      return yield* reader(conn);
    } finally {
      conn.close();
    }
  }());
}

/** Cuts `stream` at `cuts` (positions, in any order, duplicates allowed). */
function cut(stream: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))]
    .sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let start = 0;
  for (const point of [...points, stream.length]) {
    if (point > start) chunks.push(stream.subarray(start, point));
    start = point;
  }
  return chunks;
}

type Op =
  | { kind: "readline"; delim: Uint8Array; maxLength: number }
  | { kind: "recvExactly"; n: number };

/**
 * Runs `ops`, then reads the rest with `recv`; records every outcome. With `reuse`, an op
 * met again yields the very event it yielded before, instead of a new one.
 */
function* play(conn: Connection, ops: Op[], reuse = false): Coroutine<string[]> {
  const outcomes: string[] = [];
  const events = new Map<Op, Effect<Uint8Array>>();
  for (const op of ops) {
    let event = reuse ? events.get(op) : undefined;
    if (event === undefined) {
      event = op.kind === "readline"
        ? conn.readline(op.delim, { maxLength: op.maxLength })
        : conn.recvExactly(op.n);
      events.set(op, event);
    }
    try {
      const bytes = yield* event;
      outcomes.push(`${op.kind} [${bytes}]`);
    } catch (error) {
      if (
        error instanceof LineTooLongError || error instanceof UnexpectedEofError
      ) {
        outcomes.push(`${op.kind} ${error.name}`);
      } else throw error;
    }
  }
  const rest: number[] = [];
  while (true) {
    const bytes = yield* conn.recv(3);
    if (bytes.length === 0) break;
    rest.push(...bytes);
  }
  outcomes.push(`rest [${rest}]`);
  return outcomes;
}

// A three-letter alphabet makes delimiters common and lets them overlap ("aa" in "aaa").
const byte = fc.integer({ min: 0, max: 2 });
const bytes = (max: number) => fc.array(byte, { maxLength: max }).map((a) => Uint8Array.from(a));
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant("readline" as const),
    delim: fc.array(byte, { minLength: 1, maxLength: 3 }).map((a) => Uint8Array.from(a)),
    maxLength: fc.integer({ min: 1, max: 40 }),
  }),
  fc.record({
    kind: fc.constant("recvExactly" as const),
    n: fc.integer({ min: 0, max: 12 }),
  }),
);

Deno.test("Connection.readline() and recvExactly() give the same bytes whatever the chunk boundaries", async () => {
  await fc.assert(
    fc.asyncProperty(
      bytes(200),
      fc.array(fc.nat(), { maxLength: 40 }),
      fc.array(op, { maxLength: 25 }),
      async (stream, cuts, ops) => {
        const whole = await scripted([stream], (conn) => play(conn, ops));
        const chunked = await scripted(cut(stream, cuts), (conn) => play(conn, ops));
        deepEqual(chunked, whole);
        // And nothing is lost or duplicated: the outcomes add up to the stream.
        const given = whole.flatMap((outcome) => {
          const list = outcome.match(/\[(.*)\]/)?.[1];
          return list ? list.split(",").map(Number) : [];
        });
        deepEqual(given, [...stream]);
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("Connection read events yielded again give what new ones would", async () => {
  await fc.assert(
    fc.asyncProperty(
      bytes(200),
      fc.array(fc.nat(), { maxLength: 40 }),
      op,
      fc.integer({ min: 2, max: 8 }),
      async (stream, cuts, op, times) => {
        const ops = Array.from({ length: times }, () => op);
        const chunks = cut(stream, cuts);
        const fresh = await scripted(chunks, (conn) => play(conn, ops));
        const reused = await scripted(chunks, (conn) => play(conn, ops, true));
        deepEqual(reused, fresh);
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("Connection.readline() gives lines that end at the first delimiter, up to maxLength", async () => {
  await fc.assert(
    fc.asyncProperty(
      bytes(120),
      fc.array(fc.nat(), { maxLength: 30 }),
      fc.array(byte, { minLength: 1, maxLength: 3 }).map((a) => Uint8Array.from(a)),
      fc.integer({ min: 1, max: 50 }),
      async (stream, cuts, delim, maxLength) => {
        const expected = firstLine(stream, delim);
        const outcome = await scripted(cut(stream, cuts), function* (conn): Coroutine<string> {
          try {
            return `[${yield* conn.readline(delim, { maxLength })}]`;
          } catch (error) {
            if (error instanceof LineTooLongError) return "too long";
            throw error;
          }
        });
        deepEqual(
          outcome,
          expected.length > maxLength ? "too long" : `[${expected}]`,
        );
      },
    ),
    { numRuns: 300 },
  );
});

/** The reference: the stream up to and including the first `delim`, or all of it. */
function firstLine(stream: Uint8Array, delim: Uint8Array): Uint8Array {
  for (let i = 0; i + delim.length <= stream.length; i++) {
    if (delim.every((b, j) => stream[i + j] === b)) {
      return stream.subarray(0, i + delim.length);
    }
  }
  return stream;
}

Deno.test("Connection.recv() results keep their bytes whatever is read after them", async () => {
  await fc.assert(
    fc.asyncProperty(
      // Long enough to fill several blocks, with results small and large.
      fc.integer({ min: 0, max: 40_000 }),
      fc.array(fc.nat(), { maxLength: 60 }),
      fc.array(fc.integer({ min: 1, max: 3000 }), { minLength: 1, maxLength: 20 }),
      fc.nat({ max: 30 }),
      async (length, cuts, sizes, transferAt) => {
        const stream = Uint8Array.from({ length }, (_, i) => (i * 7 + (i >> 8)) & 255);
        type Kept = [Uint8Array, Uint8Array][];
        const { kept, lost } = await scripted(
          cut(stream, cuts),
          function* (conn): Coroutine<{ kept: Kept; lost: number }> {
            const kept: Kept = [];
            let lost = 0;
            for (let i = 0;; i++) {
              let data: Uint8Array;
              try {
                data = yield* conn.recv(sizes[i % sizes.length]);
              } catch (error) {
                // A caller that takes a result's buffer away takes the bytes buffered in
                // its block too (see `Connection`): the next read says how many, once.
                const said = error instanceof TypeError &&
                  /: (\d+) received bytes were lost/.exec(error.message);
                if (!said || lost > 0) throw error;
                lost = Number(said[1]);
                continue;
              }
              if (data.length === 0) return { kept, lost };
              if (i === transferAt) {
                // It also takes the earlier results that share the block.
                kept.length = 0;
                const own = new Uint8Array(
                  (data.buffer as ArrayBuffer).transfer(),
                  data.byteOffset,
                  data.length,
                );
                kept.push([own, own.slice()]);
              } else kept.push([data, data.slice()]);
            }
          },
        );
        for (const [data, copy] of kept) deepEqual(data, copy);
        // Nothing else is lost or duplicated: the bytes lost are those right after the
        // result whose buffer was transferred, and everything after them arrived.
        const received = kept.reduce((sum, [data]) => sum + data.length, 0);
        const expected = stream.subarray(stream.length - received - lost);
        const first = kept.length > 0 ? kept[0][0].length : 0;
        deepEqual(
          Uint8Array.from(kept.flatMap(([data]) => [...data])),
          Uint8Array.from([...expected.subarray(0, first), ...expected.subarray(first + lost)]),
        );
      },
    ),
    { numRuns: 100 },
  );
});
