// Two connections joined into one: the heart of a proxy. Each direction is a thread that
// copies until its source ends, then shuts down its destination's sending side, so a peer
// that half-closes is seen as half-closed on the far side too, while the other direction
// goes on (what tokio's `copy_bidirectional` does).
import { all, type Coroutine } from "../scheduler/mod.ts";
import type { Connection } from "./connection.ts";

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
 * way: closing them is their owner's job.
 *
 * @param a One connection.
 * @param b The other.
 * @param options How much one read takes.
 * @returns A coroutine that gives the count of bytes copied each way.
 * @throws {RangeError} If `options.chunkSize` is not a positive integer.
 * @throws {ConnectionResetError} If a peer reset its connection.
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
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  if (!Number.isInteger(chunkSize) || chunkSize < 1) {
    throw new RangeError(
      `Cannot relay between connections: chunkSize must be a positive integer, got ${chunkSize}`,
    );
  }
  const [aToB, bToA] = yield* all([copy(a, b, chunkSize), copy(b, a, chunkSize)]);
  return { aToB, bToA };
}

/** Copies from `from` to `to` until `from` ends, then shuts down `to`'s sending side. */
function* copy(from: Connection, to: Connection, chunkSize: number): Coroutine<number> {
  let total = 0;
  for (;;) {
    const data = yield* from.recv(chunkSize);
    if (data.length === 0) break;
    yield* to.sendall(data);
    total += data.length;
  }
  yield* to.closeWrite();
  return total;
}
