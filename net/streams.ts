// A connection as a pair of Web Streams, for `pipeTo`, `pipeThrough` and the libraries
// that speak streams. Each stream operation runs one socket event in a run of its own, so
// the streams work from plain async code as well as from a coroutine (`yield* until(...)`).
// That is also why an in-memory connection cannot have them: only the run its ends belong
// to can wake its waits.
//
// The readable side keeps the connection's promise about buffered bytes: it reads only
// when its consumer asks (a high-water mark of 0, so nothing waits in the stream's own
// queue), and a received chunk is handed over in the same step that takes it from the
// connection's buffer. Cancelling the stream kills a read in flight, whose bytes then stay
// buffered for the connection's next `recv`: nothing is lost, nothing given twice. A read
// that lands after its consumer let the stream go puts its bytes back in that buffer.
//
// Its chunks own their memory. A `recv` result is a view of a block it shares with the
// connection's other bytes, and stream consumers transfer chunks' buffers (a byte stream's
// `enqueue` does): that would take the bytes still buffered, and detach earlier chunks.
import { type Coroutine, type Operation, run } from "../scheduler/mod.ts";
import { checkConnection, type Connection, socketOf } from "./connection.ts";
import { NetError } from "./errors.ts";

/** Options for {@linkcode toStreams}. */
export interface ToStreamsOptions {
  /**
   * The most bytes one chunk of the readable side holds (the `bufsize` of its `recv`).
   * Each chunk has memory of its own: one smaller than what a read brought is copied out
   * (about 1.4 µs per 1 KiB chunk), so small chunks cost more than `recv`.
   *
   * @default {65536}
   */
  chunkSize?: number;
  /**
   * Aborting it closes the connection while the writable side writes (or when it next
   * writes), so that the write fails at once, and ends the readable side: a read in flight
   * is killed, its bytes left buffered for the connection's next read, and the readable
   * errors with the signal's reason (at once with a read in flight, otherwise when it is
   * next read). Give `pipeTo` the same signal: an aborted pipe waits for its write in
   * flight to end before it aborts the writable side (so says the Streams standard), and
   * a write to a peer that does not read never ends. A pipe from
   * the readable stopped with `preventCancel` holds the stream, its read in flight, until
   * its destination has aborted: without the signal, a chunk that lands meanwhile goes to
   * the pipe, which drops it.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
}

/** Both sides of a connection as Web Streams; a pair that `pipeThrough` accepts. */
export interface ConnectionStreams {
  /** The bytes the peer sends, chunk by chunk; it closes at the end of the stream. */
  readonly readable: ReadableStream<Uint8Array<ArrayBuffer>>;
  /** Bytes to send; closing it shuts the sending side down (the peer reads the end). */
  readonly writable: WritableStream<Uint8Array>;
}

const DEFAULT_CHUNK_SIZE = 64 * 1024;

/**
 * Gives a connection's two sides as Web Streams, so that `pipeTo` and `pipeThrough` work
 * with it.
 *
 * The readable side reads only while its consumer waits for a chunk, and cancelling it
 * leaves the connection open, with every byte the stream did not deliver still buffered
 * for the connection's next read. Two limits of the Streams standard remain. A chunk
 * that lands after the stream was let go (`releaseLock`) with a read in flight, and taken
 * again by a reader that has not asked for a chunk yet, waits in the stream's own queue,
 * which a `cancel` discards. And a `pipeTo` stopped by its signal with `preventCancel`
 * drops a chunk that lands while it stops, unless `toStreams` has the same signal (see
 * {@linkcode ToStreamsOptions.signal}). Unlike a `recv` result, each chunk has a buffer
 * of its own, so consumers may keep it or transfer it (a byte stream's `enqueue` does):
 * nothing else goes with it. Closing the writable side shuts down the sending side
 * ({@linkcode Connection.closeWrite}), so a `pipeTo` that reaches the end of its source
 * passes a half-close on; aborting it closes the connection, at once even while a write
 * waits for a peer that does not read. An aborted `pipeTo` waits for its write in flight
 * before it aborts the writable side, so give it and `toStreams` the same `signal` (see
 * {@linkcode ToStreamsOptions.signal}). Neither side closes the connection on its own at
 * the end: the connection's owner does.
 *
 * Reads and writes of a connection must not overlap, streams included: while a
 * `pipeTo` reads, a coroutine's `recv` on the same connection throws a `TypeError`. Once
 * nobody holds the readable (after `releaseLock`, or a `pipeTo` stopped with
 * `preventCancel`), its read in flight waits for nobody, and a `recv` stops it instead,
 * as a `cancel` would: the bytes it had not delivered stay buffered for that `recv`. (A
 * chunk the stopped pipe had already taken from the stream, and not written yet, is the
 * pipe's: the Streams standard drops it.)
 *
 * The streams need a real socket (TCP, TLS or Unix). Each stream operation runs in a run
 * of its own, and an in-memory connection (`memoryPair`, `MemoryListener`) waits only on
 * its peer inside the one run both ends belong to, so `toStreams` refuses one.
 *
 * @param conn The connection to read and write.
 * @param options The size of the readable side's chunks, and a signal that ends writes.
 * @returns The readable and writable sides.
 * @throws {RangeError} If `options.chunkSize` is not a positive integer.
 * @throws {TypeError} If `conn` is not a {@linkcode Connection}, or is an in-memory one.
 *
 * @example Piping a stream into a connection, and the peer's reply out of it
 * ```ts
 * import assert from "node:assert/strict";
 * import { connect, Listener, run, toStreams } from "@bluelet/bluelet";
 *
 * await run(function* () {
 *   using listener = new Listener("127.0.0.1", 0);
 *   using client = yield* connect("127.0.0.1", (listener.addr as Deno.NetAddr).port);
 *   using peer = yield* listener.accept();
 *   const { readable, writable } = toStreams(client);
 *   const sent = ReadableStream.from(["hello, ", "world"]).pipeThrough(new TextEncoderStream());
 *   yield sent.pipeTo(writable); // then shuts down the sending side
 *   assert.equal(new TextDecoder().decode(yield* peer.recvExactly(12)), "hello, world");
 *   assert.equal((yield* peer.recv(1)).length, 0); // the end of the stream
 *   yield* peer.sendall("bye");
 *   yield* peer.closeWrite();
 *   const reply = yield new Response(readable).text();
 *   assert.equal(reply, "bye");
 * }());
 * ```
 */
export function toStreams(conn: Connection, options: ToStreamsOptions = {}): ConnectionStreams {
  checkConnection(conn, "Cannot make streams for a connection", "conn");
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  if (!Number.isInteger(chunkSize) || chunkSize < 1) {
    throw new RangeError(
      `Cannot make streams for a connection: chunkSize must be a positive integer, got ${chunkSize}`,
    );
  }
  const socket = socketOf(conn);
  if (socket.memory !== null) {
    // Its reads and writes wait without a promise, woken by the peer inside the run they
    // belong to; a stream's run of its own would see nothing to wait for, and end in a
    // DeadlockError whenever an operation has to wait. Refused at once, not at random.
    throw new TypeError(
      `Cannot make streams for ${socket.peer()}: an in-memory connection (memoryPair, MemoryListener) cannot back Web Streams, since each stream operation runs in a run of its own and only the connection's own run can wake its waits; use a TCP, TLS or Unix socket connection`,
    );
  }
  const signal = options.signal;
  return { readable: readableOf(conn, chunkSize, signal), writable: writableOf(conn, signal) };
}

function readableOf(
  conn: Connection,
  chunkSize: number,
  signal: AbortSignal | undefined,
): ReadableStream<Uint8Array<ArrayBuffer>> {
  const socket = socketOf(conn);
  /** Aborts the run of the read in flight, if any. */
  let reading: AbortController | null = null;
  let cancelled = false;
  /** Whether the read in flight was stopped for another read (see `givesWay`). */
  let gaveWay = false;
  const stopReading = () => reading?.abort();
  // Once nobody holds the stream (`releaseLock`, a `pipeTo` stopped with `preventCancel`),
  // its read in flight waits for nobody: another read of the connection (the owner's
  // `recv`) stops it, as `cancel` would, rather than fail. Its bytes stay buffered.
  const givesWay = (): boolean => {
    if (readable.locked || reading === null) return false;
    gaveWay = true;
    reading.abort();
    return true;
  };

  // Takes one chunk and hands it over in the same step: a kill (from `cancel`) comes
  // either before the read's bytes are taken, and they stay buffered, or not at all.
  function* pullOnce(
    controller: ReadableStreamDefaultController<Uint8Array<ArrayBuffer>>,
  ): Coroutine<void> {
    const data = yield* conn.recv(chunkSize);
    if (data.length === 0) {
      controller.close();
    } else if (!readable.locked) {
      // The consumer let go of the stream while the read was in flight (`releaseLock`, or
      // a `pipeTo` stopped with `preventCancel`): nobody waits for the chunk, and enqueued
      // it would wait in the stream's queue, which a `cancel` discards. Back in front of
      // the connection's buffer instead, it goes to the next pull, or the next `recv`.
      socket.buffer.putBack(data);
    } else {
      controller.enqueue(ownMemory(data));
      // A `desiredSize` below 0 now means the chunk was queued, not handed to a waiting
      // read: the stream was let go and taken again by a reader that has not asked yet.
      // It gets the chunk when it reads; only a `cancel` before that loses it. Nothing more
      // can be done safely: the queue cannot give a chunk back, and a copy put back in the
      // connection's buffer would give the bytes twice once the reader reads.
    }
  }

  const readable = new ReadableStream<Uint8Array<ArrayBuffer>>({
    async pull(controller) {
      if (signal?.aborted) return controller.error(signal.reason);
      const aborter = new AbortController();
      reading = aborter;
      gaveWay = false;
      (socket.readsGivingWay ??= new Set()).add(givesWay);
      // Listened to only while reading, as the writable side does.
      signal?.addEventListener("abort", stopReading);
      try {
        await run(pullOnce(controller), { signal: aborter.signal });
      } catch (error) {
        // Stopped for another read: the next pull reads afresh.
        if (cancelled || gaveWay) return;
        // Killed as `cancel` kills it: its bytes stay buffered.
        if (signal?.aborted) return controller.error(signal.reason);
        // Failed while nobody held the stream (let go with its read in flight): the
        // connection's next read throws the error too, as after a read that was stopped
        // (net/_reads.ts). Linux reads a clean end of stream after a reset: dropped here,
        // the reset would pass for one.
        // Only the OS read's own (a `NetError`): a misuse error (an overlapping read) says
        // nothing about the connection.
        if (!readable.locked && socket.memory === null && error instanceof NetError) {
          socket.failure ??= error;
        }
        throw error;
      } finally {
        reading = null;
        const giving = socket.readsGivingWay;
        giving?.delete(givesWay);
        if (giving?.size === 0) socket.readsGivingWay = null;
        signal?.removeEventListener("abort", stopReading);
      }
    },
    cancel() {
      cancelled = true;
      // Kills the read at once (the run is not stepping now): its bytes stay buffered.
      reading?.abort();
    },
  }, { highWaterMark: 0 });
  return readable;
}

/**
 * `data`, with a buffer nothing else views. A result that spans its whole block shares it
 * with nothing (a read filled a fresh block and was taken whole; the next read gets a new
 * block): bulk data at the default chunk size mostly comes so, and goes uncopied. Any
 * other is copied. Measured over loopback against shared views (64 MiB, median of 15):
 * 1.03x at the default chunk size, 0.97x with the peer writing 16 KiB at a time; a copy of
 * every chunk cost 0.76x there. A 1 KiB chunk size copies every chunk: 0.59x.
 */
function ownMemory(data: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> {
  return data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : data.slice();
}

function writableOf(conn: Connection, signal: AbortSignal | undefined): WritableStream<Uint8Array> {
  const abort = () => conn.close();
  // A write to a peer that stopped reading never ends, and `abort()` waits for it: the
  // abort closes the connection, which ends it. So does the caller's signal, which an
  // aborted `pipeTo` does not pass on until its write in flight ends. Listened to only
  // while writing or closing: a signal shared by many connections collects no listeners.
  let streamSignal: AbortSignal;
  async function abortable(op: Operation<void>): Promise<void> {
    if (signal?.aborted) conn.close();
    streamSignal.addEventListener("abort", abort);
    signal?.addEventListener("abort", abort);
    try {
      await run(op);
    } finally {
      streamSignal.removeEventListener("abort", abort);
      signal?.removeEventListener("abort", abort);
    }
  }
  return new WritableStream<Uint8Array>({
    start(controller) {
      // `close` is not given the controller, and needs its signal as `write` does.
      streamSignal = controller.signal;
    },
    write(chunk) {
      return abortable(conn.sendall(chunk));
    },
    close() {
      // A write too: on TLS, `closeWrite` first sends the queued small sends, which wait
      // for a peer that does not read just as a write does.
      return abortable(conn.closeWrite());
    },
    abort() {
      conn.close();
    },
  });
}
