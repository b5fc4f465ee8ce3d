// A read into the caller's own array: with nothing buffered, the OS read writes straight
// into it, so a program that reuses one array per connection (a proxy, a file transfer)
// allocates and copies nothing per read.
import type { Coroutine } from "../scheduler/mod.ts";
import { closedError } from "./_map_error.ts";
import { type Connection, socketOf } from "./connection.ts";

const ACTION = "recv from";

/**
 * Receives up to `target.length` bytes into `target`, and gives how many (0 at the end of
 * the stream). With nothing buffered, the OS read fills `target` directly: no copy, no
 * allocation. Bytes already buffered by earlier reads come first (copied once).
 *
 * The connection's promise about buffered bytes holds: if the reading thread is killed
 * (or times out) while the OS read is in flight, what it brings goes to the connection's
 * buffer for the next read, though it may also have been written into `target`.
 *
 * @param conn The connection to read.
 * @param target Where the bytes go, from its start; not empty.
 * @returns A coroutine that gives how many bytes were written into `target`.
 * @throws {TypeError} If `target` is not a non-empty `Uint8Array`, or another read on the
 * connection is in progress.
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
export function* recvInto(conn: Connection, target: Uint8Array): Coroutine<number> {
  if (!(target instanceof Uint8Array) || target.length === 0) {
    throw new TypeError(
      `Cannot recv from ${formatPeer(conn)}: the target must be a non-empty Uint8Array`,
    );
  }
  const socket = socketOf(conn);
  if (
    socket.memory !== null || socket.buffer.size > 0 || socket.eof || socket.orphan !== null ||
    socket.failure !== undefined
  ) {
    // Bytes (or an outcome) are already on their way through the buffer: take them there.
    const data = yield* conn.recv(target.length);
    target.set(data);
    return data.length;
  }
  socket.startRead(ACTION);
  const read = socket.conn.read(target);
  let settled = false;
  try {
    const n = (yield read) as number | null;
    settled = true;
    if (socket.closed) throw closedError(`Cannot ${ACTION} ${socket.peer()}`);
    socket.progress++;
    if (n === null) {
      socket.eof = true;
      return 0;
    }
    return n;
  } catch (error) {
    settled = true;
    throw socket.mapError(error, ACTION);
  } finally {
    socket.reader = null;
    if (!settled) {
      // Killed while the OS read was in flight: it lands in the buffer for the next read,
      // which waits for it, exactly as an orphaned buffered read does.
      socket.orphan = read.then((n) => {
        socket.orphan = null;
        socket.progress++;
        if (n === null) socket.eof = true;
        else {
          const buffer = socket.buffer;
          for (let from = 0; from < n;) {
            const tail = buffer.tail();
            const count = Math.min(tail.length, n - from);
            tail.set(target.subarray(from, from + count));
            buffer.commit(count);
            from += count;
          }
        }
        return undefined;
      }, (error) => {
        socket.orphan = null;
        socket.failure = error;
        return error;
      });
    }
  }
}

function formatPeer(conn: Connection): string {
  return socketOf(conn).peer();
}
