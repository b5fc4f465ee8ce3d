// A read into the caller's own array: with nothing buffered, the OS read writes straight
// into it, so a program that reuses one array per connection (a proxy, a file transfer)
// allocates and copies nothing per read.
import type { Effect } from "../scheduler/mod.ts";
import { RecvInto } from "./_reads.ts";
import { type Connection, socketOf } from "./connection.ts";

/**
 * Receives up to `target.length` bytes into `target`, and gives how many (0 at the end of
 * the stream). With nothing buffered, the OS read fills `target` directly: no copy, no
 * allocation. Bytes already buffered by earlier reads come first (copied once).
 *
 * The connection's promise about buffered bytes holds: if the reading thread is killed
 * (or times out) while the OS read is in flight, or after it landed but before the thread
 * resumed, what it brings goes to the connection's buffer for the next read (a copy, in
 * order), though it may also have been written into `target`. A read still in flight
 * then writes into `target` when it lands, and is copied from there a moment later: so
 * after such a kill, `target` belongs to the connection until the connection's next read
 * returns. Writing into it before that, or lending it to a read of another connection,
 * mixes those bytes with the peer's. Giving it to the same connection's next read is
 * safe: that read takes the copy first.
 *
 * Detaching `target` (transferring its buffer) or shrinking it while the read is in flight
 * loses what lands past its end, and says so: the read gives the bytes that fit, and the
 * connection's next read throws a `TypeError` saying how many went (this one throws it if
 * none fit, since 0 would mean the end of the stream).
 *
 * @param conn The connection to read.
 * @param target Where the bytes go, from its start; not empty.
 * @returns An event that resumes with how many bytes were written into `target`.
 * @throws {TypeError} If `target` is not a non-empty `Uint8Array`, another read on the
 * connection is in progress, or `target` was detached while the read was in flight.
 * @throws {SocketClosedError} If the connection is closed.
 * @throws {ConnectionResetError} If the peer reset the connection.
 *
 * @example An echo handler that reuses one array
 * ```ts
 * import assert from "node:assert/strict";
 * import { connect, type Connection, type Coroutine, Listener, recvInto, run } from "@bluelet/bluelet";
 *
 * function* echoer(conn: Connection): Coroutine<void> {
 *   const buffer = new Uint8Array(16 * 1024);
 *   for (;;) {
 *     const n = yield* recvInto(conn, buffer);
 *     if (n === 0) return;
 *     yield* conn.sendall(buffer.subarray(0, n));
 *   }
 * }
 *
 * await run(function* () {
 *   using listener = new Listener("127.0.0.1", 0);
 *   using client = yield* connect("127.0.0.1", (listener.addr as Deno.NetAddr).port);
 *   using conn = yield* listener.accept();
 *   yield* client.sendall("hello");
 *   yield* client.closeWrite();
 *   yield* echoer(conn);
 *   assert.equal(new TextDecoder().decode(yield* client.recvExactly(5)), "hello");
 * }());
 * ```
 */
export function recvInto(conn: Connection, target: Uint8Array): Effect<number> {
  return new RecvInto(socketOf(conn), target);
}
