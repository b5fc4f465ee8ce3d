// Two connections joined into one: the heart of a proxy. Each direction is a thread that
// copies until its source ends, then shuts down its destination's sending side, so a peer
// that half-closes is seen as half-closed on the far side too, while the other direction
// goes on (what tokio's `copy_bidirectional` does).
import { all, type Coroutine } from "../scheduler/mod.ts";
import { checkConnection, type Connection, socketOf } from "./connection.ts";

/** Options for {@linkcode relay}. */
export interface RelayOptions {
  /**
   * The most bytes one read takes from a connection before it is written to the other.
   *
   * @default {65536}
   */
  chunkSize?: number;
}

/** How many bytes {@linkcode relay} copied in each direction. */
export interface RelayResult {
  /** Bytes read from `a` and written to `b`. */
  aToB: number;
  /** Bytes read from `b` and written to `a`. */
  bToA: number;
}

const DEFAULT_CHUNK_SIZE = 64 * 1024;

/**
 * Copies bytes both ways between two connections until both directions have ended. When
 * one side's stream ends, the other side's sending side is shut down
 * ({@linkcode Connection.closeWrite}), and the opposite direction goes on until its own
 * end: half-closes pass through in both directions.
 *
 * If either direction fails (a reset, a broken pipe), the other is stopped and the error
 * is thrown. Killing the relaying thread stops both. The connections stay open either
 * way: closing them is their owner's job. Nothing is lost in between: bytes a stopped
 * relay had read from one connection and not handed to the other are put back, for the
 * next read of the connection they came from. (A write cut part way by the OS, whose
 * share that reached the peer is unknown, cannot be undone: the connection it wrote to
 * is then cut, and its next send throws `SocketClosedError`.) While it runs, nothing else
 * may read from `a` or `b`: stopped after another thread did, a relay throws rather than
 * give its bytes back behind those that thread took.
 *
 * While it runs, bytes moving on either connection count for both under a server's
 * `idleTimeout`: a relay waiting on a slow peer reads nothing from the other side, which
 * is not idle for that.
 *
 * @param a One connection.
 * @param b The other.
 * @param options How much one read takes.
 * @returns A coroutine that gives the count of bytes copied each way.
 * @throws {TypeError} If `a` or `b` is not a {@linkcode Connection}.
 * @throws {RangeError} If `options.chunkSize` is not a positive integer.
 * @throws {ConnectionResetError} If a peer reset its connection, where the system says
 * so: Linux reads a reset that comes while nothing is being sent to that peer as a plain
 * end, which the relay passes on as one (a half-close).
 * @throws {BrokenPipeError} If a peer went away while bytes were sent to it.
 *
 * @example A client and a server joined by a relay
 * ```ts
 * import assert from "node:assert/strict";
 * import { connect, Listener, relay, run, spawn } from "@bluelet/bluelet";
 *
 * const decoder = new TextDecoder();
 * await run(function* () {
 *   using front = new Listener("127.0.0.1", 0);
 *   using back = new Listener("127.0.0.1", 0);
 *   using client = yield* connect("127.0.0.1", (front.addr as Deno.NetAddr).port);
 *   using server = yield* connect("127.0.0.1", (back.addr as Deno.NetAddr).port);
 *   using a = yield* front.accept();
 *   using b = yield* back.accept();
 *   const relaying = yield* spawn(relay(a, b));
 *
 *   yield* client.sendall("ping");
 *   yield* client.closeWrite(); // reaches the server as the end of its stream
 *   assert.equal(decoder.decode(yield* server.recvExactly(4)), "ping");
 *   assert.equal((yield* server.recv(1)).length, 0);
 *   yield* server.sendall("pong"); // the other direction still works
 *   yield* server.closeWrite();
 *   assert.equal(decoder.decode(yield* client.recvExactly(4)), "pong");
 *   assert.deepEqual(yield* relaying, { aToB: 4, bToA: 4 });
 * }());
 * ```
 */
export function* relay(
  a: Connection,
  b: Connection,
  options: RelayOptions = {},
): Coroutine<RelayResult> {
  checkConnection(a, "Cannot relay between connections", "a");
  checkConnection(b, "Cannot relay between connections", "b");
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  if (!Number.isInteger(chunkSize) || chunkSize < 1) {
    throw new RangeError(
      `Cannot relay between connections: chunkSize must be a positive integer, got ${chunkSize}`,
    );
  }
  // Each connection's idle clock counts what moves on the other meanwhile (a server's
  // `idleTimeout`): bytes moving either way keep the pair alive.
  const first = socketOf(a);
  const second = socketOf(b);
  const firstBefore = first.relayedWith;
  const secondBefore = second.relayedWith;
  first.relayedWith = second;
  second.relayedWith = first;
  try {
    const [aToB, bToA] = yield* all([copy(a, b, chunkSize), copy(b, a, chunkSize)]);
    return { aToB, bToA };
  } finally {
    first.relayedWith = firstBefore;
    second.relayedWith = secondBefore;
  }
}

/** Copies from `from` to `to` until `from` ends, then shuts down `to`'s sending side. */
function* copy(from: Connection, to: Connection, chunkSize: number): Coroutine<number> {
  let total = 0;
  for (;;) {
    const data = yield* from.recv(chunkSize);
    if (data.length === 0) break;
    yield* forward(data, from, to, socketOf(from).readsStarted);
    total += data.length;
  }
  yield* to.closeWrite();
  return total;
}

/**
 * Sends `data`, taken from `from` by the read numbered `read`, to `to`. If that ends early
 * (a kill, a failed write), the bytes no peer got go back in front of `from`'s buffer, for
 * its next reader: a stopped relay loses nothing between the two connections. Unless an
 * OS write was cut in flight (how much of it went is unknown), which marks `to` cut and
 * makes its next send throw, so the loss is never silent.
 */
function* forward(
  data: Uint8Array,
  from: Connection,
  to: Connection,
  read: number,
): Coroutine<void> {
  const sink = socketOf(to);
  const cutBefore = sink.writeCut;
  const before = sink.sent;
  let done = false;
  try {
    yield* to.sendall(data);
    done = true;
  } finally {
    if (!done) {
      // Counted as they went, even those of a write whose result this thread never took in
      // (stopped in the instant it ended): those went, and must not come back.
      const handed = sink.sent - before;
      if (handed < data.length) {
        // Cut part way in memory, what went is known to the byte: with the rest given
        // back, the stream goes on whole, and is not cut.
        if (!cutBefore && sink.writeCut && sink.memory !== null) sink.writeCut = false;
        if (cutBefore || !sink.writeCut) giveBack(from, data.subarray(handed), read);
      }
    }
  }
}

/**
 * Puts `rest`, the end of what `from` gave the relay's read numbered `read`, back in front
 * of what it has buffered.
 */
function giveBack(from: Connection, rest: Uint8Array, read: number): void {
  const source = socketOf(from);
  // Another thread read from `from` since (misuse): what it took, or waits for, comes
  // after these bytes, which would go back behind it, or under a waiting reader that
  // nothing wakes. Said, rather than the stream reordered unseen.
  if (source.readsStarted !== read) {
    throw new Error(
      `Cannot give ${rest.length} relayed bytes back to ${source.peer()}: another thread read from it meanwhile`,
    );
  }
  // With no read since, nothing is in flight but a read that a reader stopped before the
  // relay's read left, which that read waited for: the bytes go back where they were, or
  // (taken from a block the buffer has since let go) in front, in a new one.
  source.buffer.putBack(rest);
}
