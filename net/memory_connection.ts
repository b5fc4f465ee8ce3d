import { call, type Coroutine, type Effect, race, sleep } from "../scheduler/mod.ts";
import { formatAddr } from "./_addr.ts";
import { checkNumberOption, checkOptionsObject, named } from "./_checks.ts";
import { memoryPort, memorySettings } from "./_memory_settings.ts";
import { MemoryEnd } from "./_memory_transport.ts";
import type { Socket } from "./_socket.ts";
import { Connection, socketOf } from "./connection.ts";

/** Options for {@linkcode memoryPair} (and each connection of a {@linkcode MemoryListener}). */
export interface MemoryPairOptions {
  /**
   * How many bytes may be in flight to a side (written by its peer, not yet taken in by
   * one of its reads) before the peer's writes wait: a `sendall` of more waits, and a
   * `send` gives the count that fit. As from an OS socket, a read takes in what is in
   * flight (one chunk of it, when reads are cut into chunks), and what it does not give
   * its caller waits in the side's own receive buffer, outside this count.
   *
   * @default {65536}
   */
  bufferSize?: number;
  /**
   * How long each write takes, in milliseconds of the run's clock (virtual under a
   * `VirtualClock`): its bytes reach the peer, and the writer resumes, that much later.
   * The write is in progress all that time: `closeWrite` or another write meanwhile
   * throws a `TypeError`, as while a write waits for room.
   *
   * @default {0}
   */
  latency?: number;
  /**
   * Cuts what the reads get into chunks of these sizes, taken in turn and again from the
   * start: `[1]` delivers one byte per packet, so a `recv` gets one byte at a time.
   *
   * @default {undefined} (a read gets whatever was written)
   */
  chunkSizes?: readonly number[];
  /**
   * Cuts what the reads get into chunks of random sizes from 1 to `maxChunk`, drawn from
   * this seed: the same seed gives the same chunks. Ignored with `chunkSizes`.
   *
   * @default {undefined} (a read gets whatever was written)
   */
  chunkSeed?: number;
  /**
   * The largest random chunk, with `chunkSeed`.
   *
   * @default {16}
   */
  maxChunk?: number;
}

/** Options for {@linkcode MemoryConnection.closeAfter}. */
export interface CloseAfterOptions {
  /**
   * Reset the connection instead of closing it: the peer's reads throw
   * `ConnectionResetError` rather than reaching the end of the stream.
   *
   * @default {false}
   */
  reset?: boolean;
}

/** Makes the connections of {@linkcode memoryPair} and `MemoryListener`; not public. */
export let newMemoryConnection: (end: MemoryEnd, latency: number) => MemoryConnection;

/**
 * A {@linkcode Connection} held in memory, made by {@linkcode memoryPair} or a
 * {@linkcode MemoryListener}: the whole `Connection` API and its guarantees, with no
 * socket, and with faults a test can cause on demand. Its waits are woken by the peer
 * inside the run, never by a promise, so under a `VirtualClock` a conversation with
 * timeouts runs at once, and a conversation that can never go on is reported as a
 * `DeadlockError` instead of hanging.
 *
 * Closing one end makes the other read the end of the stream, after whatever was sent;
 * a write to a closed peer throws `BrokenPipeError`.
 *
 * @example A request, and the end of the stream
 * ```ts
 * import assert from "node:assert/strict";
 * import { run } from "@bluelet/bluelet";
 * import { memoryPair } from "@bluelet/bluelet/testing";
 *
 * const [client, server] = memoryPair();
 * await run(function* () {
 *   yield* client.sendall("GET / HTTP/1.0\r\n\r\n");
 *   client.close();
 *   assert.equal(new TextDecoder().decode(yield* server.readline()), "GET / HTTP/1.0\r\n");
 *   assert.equal((yield* server.recvExactly(2)).length, 2);
 *   assert.equal((yield* server.recv(1)).length, 0); // the end of the stream
 *   yield* assertBrokenPipe(server.sendall("too late"));
 * }());
 *
 * function* assertBrokenPipe(op: Iterable<unknown>) {
 *   try {
 *     yield* op;
 *     assert.fail("expected a broken pipe");
 *   } catch (error) {
 *     assert.equal((error as Error).name, "BrokenPipeError");
 *   }
 * }
 * ```
 */
export class MemoryConnection extends Connection {
  /** The peer's address: host `"memory"` (or the listener's), and a port of its own. */
  declare readonly addr: Deno.NetAddr;
  /** This end's address. */
  declare readonly localAddr: Deno.NetAddr;
  readonly #end: MemoryEnd;
  readonly #latency: number;

  private constructor(end: MemoryEnd, latency: number) {
    super(end as unknown as Deno.Conn);
    this.#end = end;
    this.#latency = latency;
  }

  /**
   * Sends `data` with one write, as {@linkcode Connection.send}; it takes
   * `options.latency` ms.
   *
   * @param data Bytes, or a string to send as UTF-8.
   * @returns An event that resumes with the count of bytes written.
   *
   * @example Sending what fits in the peer's buffer
   * ```ts
   * import assert from "node:assert/strict";
   * import { run } from "@bluelet/bluelet";
   * import { memoryPair } from "@bluelet/bluelet/testing";
   *
   * const [a, b] = memoryPair({ bufferSize: 4 });
   * await run(function* () {
   *   assert.equal(yield* a.send("hello"), 4); // at most 4 bytes in flight to b
   *   assert.equal(new TextDecoder().decode(yield* b.recv(10)), "hell");
   * }());
   * ```
   */
  override send(data: Uint8Array | string): Effect<number> {
    const event = super.send(data);
    return this.#latency === 0 ? event : call(delayed(socketOf(this), this.#latency, event));
  }

  /**
   * Sends all of `data`, as {@linkcode Connection.sendall}; it takes `options.latency` ms,
   * plus however long the peer takes to read what does not fit in its buffer.
   *
   * @param data Bytes, or a string to send as UTF-8.
   * @returns An event that resumes once everything was handed to the peer.
   *
   * @example A write that takes virtual time
   * ```ts
   * import assert from "node:assert/strict";
   * import { run, VirtualClock } from "@bluelet/bluelet";
   * import { memoryPair } from "@bluelet/bluelet/testing";
   *
   * const clock = new VirtualClock();
   * const [a, b] = memoryPair({ latency: 40 });
   * await run(function* () {
   *   yield* a.sendall("ping");
   *   assert.equal(new TextDecoder().decode(yield* b.recv(10)), "ping");
   * }(), { clock });
   * assert.equal(clock.now(), 40);
   * ```
   */
  override sendall(data: Uint8Array | string): Effect<void> {
    const event = super.sendall(data);
    return this.#latency === 0 ? event : call(delayed(socketOf(this), this.#latency, event));
  }

  /**
   * Resets the connection from this end, as a crashed peer's TCP stack would: this end is
   * closed; as on Linux, the peer's reads get what came before the reset, then one
   * `ConnectionResetError` (a read waiting for more gets it at once; a write that meets
   * the reset first takes it instead), then the end of the stream; its writes throw
   * `BrokenPipeError`. After this end shut down writing, reads keep to the end of the
   * stream, and only a write meets the reset.
   *
   * @example A server that meets a reset
   * ```ts
   * import assert from "node:assert/strict";
   * import { ConnectionResetError, run } from "@bluelet/bluelet";
   * import { memoryPair } from "@bluelet/bluelet/testing";
   *
   * const [client, server] = memoryPair();
   * const outcome = await run(function* () {
   *   yield* client.sendall("GET /");
   *   client.reset();
   *   const request = new TextDecoder().decode(yield* server.recv(1024)); // what came first
   *   try {
   *     yield* server.recv(1024);
   *     return `${request}, then more`;
   *   } catch (error) {
   *     return error instanceof ConnectionResetError ? `${request}, then a reset` : "other";
   *   }
   * }());
   * assert.equal(outcome, "GET /, then a reset");
   * ```
   */
  reset(): void {
    this.#end.reset();
  }

  /**
   * A fault mid-stream: once this end has sent `byteCount` more bytes, it closes (or, with
   * `options.reset`, resets), even in the middle of one write; that write throws
   * `SocketClosedError`. With `byteCount` 0 it does so at once. After a close, the peer
   * reads exactly `byteCount` bytes, then the end of the stream. After a reset, as over
   * TCP on Linux, it reads the `byteCount` bytes, then one `ConnectionResetError`, then the
   * end of the stream.
   *
   * @param byteCount How many more bytes go out before the fault, a non-negative integer.
   * @param options Whether the fault is a reset rather than a close.
   * @throws {RangeError} If `byteCount` is not a non-negative integer.
   *
   * @example A client that disconnects in the middle of a request
   * ```ts
   * import assert from "node:assert/strict";
   * import { run, SocketClosedError } from "@bluelet/bluelet";
   * import { memoryPair } from "@bluelet/bluelet/testing";
   *
   * const [client, server] = memoryPair();
   * client.closeAfter(7);
   * await run(function* () {
   *   let caught: unknown;
   *   try {
   *     yield* client.sendall("GET /index.html\r\n");
   *   } catch (error) {
   *     caught = error;
   *   }
   *   assert.ok(caught instanceof SocketClosedError); // the write that met the close threw
   *   assert.equal(new TextDecoder().decode(yield* server.readline()), "GET /in");
   * }());
   * ```
   */
  closeAfter(byteCount: number, options: CloseAfterOptions = {}): void {
    const action = `Cannot schedule a close of ${formatAddr(this.localAddr)}`;
    checkNumberOption(byteCount, action, "byteCount");
    if (!Number.isInteger(byteCount) || byteCount < 0) {
      throw new RangeError(`${action}: byteCount must be a non-negative integer, got ${byteCount}`);
    }
    checkOptionsObject(options, action);
    const reset = options?.reset ?? false;
    if (typeof reset !== "boolean") {
      throw new TypeError(`${action}: reset must be a boolean, got ${named(reset)}`);
    }
    this.#end.cutAfter(byteCount, reset);
  }

  static {
    newMemoryConnection = (end, latency) => new MemoryConnection(end, latency);
  }
}

/**
 * A write that takes `latency` ms. It holds the write side from its start, as a write in
 * flight does, so that `closeWrite` or another write meanwhile throws the same `TypeError`
 * as while a write waits for room; then the write event claims the side for itself, with
 * nothing in between. A write that is bound to fail (the connection or its write side is
 * closed, or closes meanwhile) fails at once, as without latency.
 */
function* delayed<T>(socket: Socket, latency: number, event: Effect<T>): Coroutine<T> {
  if (!socket.closed && !socket.writeClosed && !socket.writeCut) {
    socket.startWrite("send to", event); // the write event's own, for the same message
    try {
      // Closing the connection meanwhile ends the wait: the write then fails at once. A
      // plain sleep, not a time limit (`moveOnAfter`), whose deadline would come after
      // what else is due in its instant: a delay is part of that instant's work.
      yield race([sleep(latency), socket.memory!.whenClosed()]);
    } finally {
      socket.writer = null;
    }
  }
  return yield* event;
}

/**
 * Makes a connected pair of {@linkcode MemoryConnection}s: what one end sends, the other
 * receives, in the same process, with no socket. Under a `VirtualClock` they run in
 * virtual time; a conversation that cannot go on is a `DeadlockError`, not a hang.
 *
 * A `recv` that waits gets, up to its size, all the peer sent before it ran, not just the
 * write that woke it, as a read of a TCP socket does. (Over TCP, writes the peer made with
 * a `yieldNow` between them can still arrive as one, since Deno hands bytes over only as
 * its event loop turns: neither keeps the boundaries of messages. `chunkSizes` and
 * `chunkSeed` cut reads at random places, for code that must not count on them.)
 *
 * Both ends belong to one run: a wait on one end is ended by the other end's operations in
 * the same run, never by a promise. Used from two runs (a server's in one, a client's in
 * another, as with real sockets), each run sees its thread wait on something nothing in it
 * can end, and fails with a `DeadlockError`. Run the two sides as threads of one run
 * instead (`spawn` one of them).
 *
 * The ends' addresses (`memory:49152`) are numbered in the process, as an OS numbers the
 * ports it picks: they depend on the pairs made before, so a test that must not depend on
 * the tests before it names the ends by what they do, not by their ports.
 *
 * @param options The buffer size, latency and read chunking of both directions.
 * @returns The two ends: by convention, the client's and the server's.
 * @throws {TypeError} If an option is of the wrong type.
 * @throws {RangeError} If an option is out of range.
 *
 * @example A conversation in memory, with a timeout, in virtual time
 * ```ts
 * import assert from "node:assert/strict";
 * import { run, spawn, TimeoutError, VirtualClock, withTimeout } from "@bluelet/bluelet";
 * import { memoryPair } from "@bluelet/bluelet/testing";
 *
 * const clock = new VirtualClock();
 * const [client, server] = memoryPair({ latency: 10 });
 * const record: string[] = [];
 * await run(function* () {
 *   yield* spawn(function* () {
 *     const line = yield* server.readline();
 *     yield* server.sendall(line); // an echo
 *   }());
 *   try {
 *     yield* withTimeout(5, client.recv(1)); // nothing was sent yet
 *   } catch (error) {
 *     assert.ok(error instanceof TimeoutError);
 *     record.push(`timed out at ${clock.now()}`);
 *   }
 *   yield* client.sendall("hi\n");
 *   record.push(`got ${new TextDecoder().decode(yield* client.readline())} at ${clock.now()}`);
 * }(), { clock });
 * assert.deepEqual(record, ["timed out at 5", "got hi\n at 25"]);
 * ```
 */
export function memoryPair(
  options: MemoryPairOptions = {},
): [MemoryConnection, MemoryConnection] {
  const { settings, latency } = memorySettings(options, "Cannot make a memory pair");
  const [a, b] = MemoryEnd.pair(
    { transport: "tcp", hostname: "memory", port: memoryPort() },
    { transport: "tcp", hostname: "memory", port: memoryPort() },
    settings(),
    settings(),
  );
  return [newMemoryConnection(a, latency), newMemoryConnection(b, latency)];
}
