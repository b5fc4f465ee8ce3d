/**
 * Tools for testing network code written on this library, in one process and in virtual
 * time: connections held in memory ({@linkcode memoryPair}, {@linkcode MemoryListener}),
 * with knobs for buffer size, latency and packet boundaries and faults on demand, and a
 * conformance check for any connected pair ({@linkcode checkConnectionPair}). Pair them
 * with `VirtualClock` (from the main module): their waits are woken inside the run, never
 * by a promise, so the clock jumps over timeouts at once.
 *
 * @example A server handler and a client, in memory, in virtual time
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Connection, run, spawn, VirtualClock, withTimeout } from "@bluelet/bluelet";
 * import { memoryPair } from "@bluelet/bluelet/testing";
 *
 * // The code under test: answers each line, and gives up on a silent client after 30 s.
 * function* handler(conn: Connection) {
 *   for (;;) {
 *     const line = yield* withTimeout(30_000, conn.readline());
 *     if (line.length === 0) return;
 *     yield* conn.sendall(`you said ${new TextDecoder().decode(line)}`);
 *   }
 * }
 *
 * const clock = new VirtualClock();
 * const [client, server] = memoryPair({ latency: 5 });
 * await assert.rejects(
 *   run(function* () {
 *     const serving = yield* spawn(handler(server));
 *     yield* client.sendall("hi\n");
 *     assert.equal(new TextDecoder().decode(yield* client.readline()), "you said hi\n");
 *     yield* serving; // then the client goes silent: the handler times out
 *   }(), { clock }),
 *   { name: "TimeoutError" },
 * );
 * assert.equal(clock.now(), 30_010); // two writes of 5 ms, then 30 s of silence
 * ```
 *
 * @module
 */
export {
  type CloseAfterOptions,
  MemoryConnection,
  memoryPair,
  type MemoryPairOptions,
} from "../net/memory_connection.ts";
export {
  type MemoryConnectOptions,
  MemoryListener,
  type MemoryListenerOptions,
} from "../net/memory_listener.ts";
export { checkConnectionPair, type CheckConnectionPairOptions } from "./check_connection_pair.ts";
