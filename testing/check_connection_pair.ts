import { AssertionError, equal, ok } from "node:assert/strict";
import { checkNumberOption, checkOptionsObject, named } from "../net/_checks.ts";
import {
  type Coroutine,
  join,
  kill,
  type Operation,
  run,
  sleep,
  spawn,
  type Task,
  TimeoutError,
  VirtualClock,
  withTimeout,
  yieldNow,
} from "../scheduler/mod.ts";
import { socketOf } from "../net/connection.ts";
import {
  BrokenPipeError,
  Connection,
  ConnectionResetError,
  SocketClosedError,
  UnexpectedEofError,
} from "../net/mod.ts";

/** Options for {@linkcode checkConnectionPair}. */
export interface CheckConnectionPairOptions {
  /**
   * Run each check under a `VirtualClock` of its own, so its timeouts take no real time.
   * Only for in-memory pairs (a `TypeError` for others): a `VirtualClock` holds still
   * while real I/O is pending.
   *
   * @default {false}
   */
  virtualTime?: boolean;
  /**
   * How long the timeout in the check "a read that times out loses no bytes" waits, in
   * milliseconds.
   *
   * @default {20}
   */
  timeout?: number;
  /**
   * How long each check may take, in milliseconds, before it fails as stuck: a pair that
   * loses a byte, or never reports the end of the stream, leaves a read waiting for ever.
   * Real time, or virtual time with `virtualTime`.
   *
   * @default {10000}
   */
  limit?: number;
}

/** One check, run on a fresh pair; `a` and `b` are its two ends. */
type Check = (a: Connection, b: Connection, timeout: number) => Coroutine<void>;

const decoder = new TextDecoder();
const text = (bytes: Uint8Array) => decoder.decode(bytes);

/** Runs `op` and gives what it threw; fails if it did not throw. */
function* thrown(op: Operation<unknown>): Coroutine<unknown> {
  try {
    yield* op;
  } catch (error) {
    return error;
  }
  throw new Error("Expected the operation to throw, and it did not");
}

/** Reads until the end of the stream. */
function* readAll(conn: Connection): Coroutine<Uint8Array> {
  const parts: number[] = [];
  for (;;) {
    const data = yield* conn.recv(64 * 1024);
    if (data.length === 0) return Uint8Array.from(parts);
    for (const byte of data) parts.push(byte);
  }
}

/** `length` bytes of a pattern that tells a reordered or lost byte from a good one. */
function pattern(length: number, salt: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + (i >> 8) + salt) & 255;
  return bytes;
}

/**
 * Sends each of `messages` with a `sendall` of its own, then shuts down writing if told
 * to, in a thread of its own: the check reads meanwhile, so it may send more than the
 * pair buffers (an in-memory pair may hold as little as one byte).
 */
function* sending(
  conn: Connection,
  messages: readonly string[],
  closeWrite = false,
): Coroutine<Task<void>> {
  return yield* spawn(function* () {
    for (const message of messages) yield* conn.sendall(message);
    if (closeWrite) yield* conn.closeWrite();
  }());
}

function* receiveExactly(conn: Connection, length: number): Coroutine<Uint8Array> {
  const out = new Uint8Array(length);
  let got = 0;
  while (got < length) {
    const data = yield* conn.recv(length - got);
    if (data.length === 0) throw new Error(`The stream ended after ${got} of ${length} bytes`);
    out.set(data, got);
    got += data.length;
  }
  return out;
}

/**
 * Fails, saying where, unless `actual` holds the bytes of `expected`: a whole dump of two
 * arrays of megabytes would show only their first bytes, which are alike.
 */
function sameBytes(actual: Uint8Array, expected: Uint8Array, way: string): void {
  const length = Math.min(actual.length, expected.length);
  let at = 0;
  while (at < length && actual[at] === expected[at]) at++;
  if (at === length && actual.length === expected.length) return;
  throw new AssertionError({
    message: at === length
      ? `Bytes sent ${way}: ${actual.length} arrived, ${expected.length} were sent`
      : `Bytes sent ${way} differ at offset ${at} of ${expected.length}: got ${actual[at]}, sent ${
        expected[at]
      }`,
    actual: actual.length,
    expected: expected.length,
    operator: "sameBytes",
  });
}

const CHECKS: Record<string, Check> = {
  *"bytes arrive whole and in order, both ways at once"(a, b) {
    const size = 300 * 1024;
    const toB = pattern(size, 1);
    const toA = pattern(size, 2);
    const writers = [
      yield* spawn(a.sendall(toB)),
      yield* spawn(b.sendall(toA)),
    ];
    sameBytes(yield* receiveExactly(b, size), toB, "a to b");
    sameBytes(yield* receiveExactly(a, size), toA, "b to a");
    for (const writer of writers) yield* join(writer);
  },

  *"recv gives at most bufsize; recvExactly and readline span writes"(a, b) {
    const writer = yield* sending(a, ["hello world", "ab", "c\nd", "e\n"]);
    equal(text(yield* b.recvExactly(5)), "hello");
    const rest = yield* b.recv(3);
    ok(rest.length >= 1 && rest.length <= 3, `recv(3) gave ${rest.length} bytes`);
    equal(text(rest), " world".slice(0, rest.length));
    equal(text(yield* b.recvExactly(6 - rest.length)), " world".slice(rest.length));
    equal(text(yield* b.readline()), "abc\n");
    equal(text(yield* b.readline()), "de\n");
    yield* join(writer);
  },

  *"send gives how many bytes went out, and they arrive"(a, b) {
    const sent = yield* a.send("hello");
    ok(sent >= 1 && sent <= 5, `send gave ${sent}`);
    equal(text(yield* b.recvExactly(sent)), "hello".slice(0, sent));
  },

  *"closeWrite ends the stream after the data, and the peer can still send"(a, b) {
    const writer = yield* sending(a, ["last"], true);
    equal(text(yield* readAll(b)), "last");
    yield* join(writer);
    yield* a.closeWrite(); // again: nothing happens
    equal((yield* b.recv(10)).length, 0, "the end of the stream is read again");
    const error = yield* thrown(b.recvExactly(1));
    ok(error instanceof UnexpectedEofError, `recvExactly at the end: ${error}`);
    const replier = yield* sending(b, ["reply"]);
    equal(text(yield* a.recvExactly(5)), "reply");
    yield* join(replier);
    const late = yield* thrown(a.sendall("more"));
    ok(late instanceof SocketClosedError, `send after closeWrite: ${late}`);
  },

  *"recvExactly at the end of the stream keeps what came"(a, b) {
    const writer = yield* sending(a, ["ab"], true);
    const error = yield* thrown(b.recvExactly(3));
    ok(error instanceof UnexpectedEofError, String(error));
    equal(text(yield* readAll(b)), "ab");
    yield* join(writer);
  },

  *"close ends the peer's stream, and this end's operations throw SocketClosedError"(a, b) {
    const reader = yield* spawn(readAll(b));
    yield* a.sendall("bye");
    a.close();
    a.close(); // again: nothing happens
    equal(a.closed, true);
    for (const op of [a.recv(1), a.sendall("x"), a.closeWrite(), a.readline()]) {
      const error = yield* thrown(op);
      ok(error instanceof SocketClosedError, `${error}`);
    }
    equal(text(yield* join(reader)), "bye");
  },

  *"an operation waiting when its own end is closed throws SocketClosedError"(a, b) {
    const reader = yield* spawn(thrown(b.recv(10)));
    yield* yieldNow();
    b.close();
    const error = yield* join(reader);
    ok(error instanceof SocketClosedError, String(error));
    void a;
  },

  *"a write to a closed peer fails with a broken pipe or a reset"(a, b) {
    b.close();
    let error: unknown;
    // Over TCP the first writes may still go out; the peer's reset comes back later.
    for (let i = 0; i < 200 && error === undefined; i++) {
      try {
        yield* a.sendall(pattern(1024, i));
        yield* sleep(1);
      } catch (caught) {
        error = caught;
      }
    }
    ok(
      error instanceof BrokenPipeError || error instanceof ConnectionResetError,
      `expected a broken pipe, got ${error}`,
    );
  },

  *"overlapping reads are rejected, and the first read goes on"(a, b) {
    const first = yield* spawn(b.recv(10));
    yield* yieldNow();
    const error = yield* thrown(b.recv(10));
    ok(error instanceof TypeError, String(error));
    yield* a.sendall("z");
    equal(text(yield* join(first)), "z");
  },

  *"overlapping writes are rejected, and the first write goes on"(a, b) {
    // A write that has to wait for the peer to read: bigger ones until one does, as a pair
    // may buffer megabytes (a memory pair with a large `bufferSize`).
    for (const size of [1024 * 1024, 16 * 1024 * 1024, 64 * 1024 * 1024]) {
      const big = pattern(size, 3);
      const writer = yield* spawn(a.sendall(big));
      yield* yieldNow();
      const waits = !writer.done;
      if (waits) {
        const error = yield* thrown(a.send("x"));
        ok(error instanceof TypeError, String(error));
      }
      sameBytes(yield* receiveExactly(b, big.length), big, "a to b");
      yield* join(writer);
      if (waits) return;
    }
  },

  *"a read that times out loses no bytes"(a, b, timeout) {
    const error = yield* thrown(withTimeout(timeout, b.recv(10)));
    ok(error instanceof TimeoutError, String(error));
    const writer = yield* sending(a, ["late"]);
    equal(text(yield* b.recvExactly(4)), "late");
    yield* join(writer);
  },

  *"a read killed as its bytes arrive loses none"(a, b) {
    const reader = yield* spawn(b.recv(10));
    yield* yieldNow();
    // One write, of what fits (at least a byte): it lands in the waiting read and wakes
    // it, and the kill comes before the reader resumes.
    const sent = yield* a.send("hello");
    yield* kill(reader);
    const writer = yield* sending(a, ["hello".slice(sent)]);
    equal(text(yield* b.recvExactly(5)), "hello");
    yield* join(writer);
  },
};

/**
 * Checks that a connected pair of {@linkcode Connection}s behaves as the `Connection`
 * contract says, as Trio's `check_two_way_stream` does for its streams: bytes arrive
 * whole and in order both ways at once, `closeWrite` and `close` end the stream for the
 * peer, operations on a closed end throw `SocketClosedError`, a write to a closed peer
 * fails with `BrokenPipeError` (or `ConnectionResetError`), overlapping reads and writes
 * are rejected, and a read that times out or is killed loses no bytes. Every check runs in
 * both directions, each on a new pair from `makePair`, which it closes afterwards.
 *
 * Both the in-memory pair and a pair over loopback TCP pass it; a transport of your own
 * can be held to the same contract.
 *
 * @param makePair Makes a new connected pair, inside the run of the check: gives the pair,
 * or an operation that gives it (a coroutine that connects over TCP, say).
 * @param options Whether to run in virtual time, how long the timeout check waits, and how
 * long a check may take.
 * @returns A promise that resolves once every check passed.
 * @throws {Error} If a check fails: the message names it, and `cause` is the failure.
 *
 * @example The in-memory pair, in virtual time
 * ```ts
 * import { checkConnectionPair, memoryPair } from "@bluelet/bluelet/testing";
 *
 * await checkConnectionPair(
 *   () => memoryPair({ bufferSize: 4096, chunkSeed: 7, maxChunk: 1024 }),
 *   { virtualTime: true },
 * );
 * ```
 */
export async function checkConnectionPair(
  makePair: () => Operation<[Connection, Connection]> | [Connection, Connection],
  options: CheckConnectionPairOptions = {},
): Promise<void> {
  const action = "Cannot check connection pair";
  if (typeof makePair !== "function") {
    throw new TypeError(`${action}: makePair must be a function, got ${named(makePair)}`);
  }
  checkOptionsObject(options, action);
  const timeout = options?.timeout ?? 20;
  checkNumberOption(timeout, action, "timeout");
  if (!(timeout > 0) || !Number.isFinite(timeout)) {
    throw new RangeError(
      `${action}: timeout must be a positive finite number of milliseconds, got ${timeout}`,
    );
  }
  const limit = options?.limit ?? 10_000;
  checkNumberOption(limit, action, "limit");
  if (!(limit > 0) || !Number.isFinite(limit)) {
    throw new RangeError(
      `${action}: limit must be a positive finite number of milliseconds, got ${limit}`,
    );
  }
  for (const [name, check] of Object.entries(CHECKS)) {
    for (const flipped of [false, true]) {
      const clock = options?.virtualTime ? new VirtualClock() : undefined;
      try {
        await run(
          function* () {
            let made: Operation<[Connection, Connection]> | [Connection, Connection];
            try {
              made = makePair();
            } catch (error) {
              throw new PairFailure(error);
            }
            if (!Array.isArray(made) && !isOperation(made)) throw notAPair(made);
            let pair: [Connection, Connection];
            try {
              pair = Array.isArray(made) ? made : yield* made;
            } catch (error) {
              throw new PairFailure(error);
            }
            if (!isPair(pair)) throw notAPair(pair);
            const [first, second] = pair;
            const [a, b] = flipped ? [second, first] : [first, second];
            try {
              if (clock !== undefined && (!isInMemory(a) || !isInMemory(b))) {
                throw new PairMisuse(
                  `${action}: virtualTime needs in-memory connections (memoryPair, a MemoryListener's), got one over ${
                    (isInMemory(a) ? b : a).addr.transport
                  }: a VirtualClock holds still while real I/O is pending`,
                );
              }
              yield* withTimeout(limit, failingApart(check(a, b, timeout)));
            } catch (error) {
              if (error instanceof CheckFailure) throw error.cause;
              if (!(error instanceof TimeoutError)) throw error;
              const waited = / waiting on (.+)$/.exec(error.message)?.[1];
              throw new Error(
                `it did not finish within ${limit} ms${
                  waited === undefined ? "" : ` (waiting on ${waited})`
                }`,
              );
            } finally {
              a.close();
              b.close();
            }
          }(),
          { clock },
        );
      } catch (error) {
        if (error instanceof PairMisuse) throw new TypeError(error.message);
        if (error instanceof PairFailure) {
          const why = error.cause instanceof Error ? error.cause.message : String(error.cause);
          throw new Error(`${action}: makePair failed: ${why}`, { cause: error.cause });
        }
        const message = error instanceof Error ? error.message : String(error);
        throw new Error(
          `Connection pair failed the check "${name}"${
            flipped ? " (second end first)" : ""
          }: ${message}`,
          { cause: error },
        );
      }
    }
  }
}

/**
 * Runs a check with what it throws wrapped, so that a `TimeoutError` of its own is not
 * taken for the check's limit.
 */
function* failingApart(check: Coroutine<void>): Coroutine<void> {
  try {
    yield* check;
  } catch (error) {
    throw new CheckFailure(error);
  }
}

/** What a check threw, on its way out of the check's time limit. */
class CheckFailure extends Error {
  constructor(cause: unknown) {
    super("check failed", { cause });
  }
}

/** Whether a connection is an in-memory one, whose waits a `VirtualClock` can jump past. */
function isInMemory(conn: Connection): boolean {
  return socketOf(conn).memory !== null;
}

/** A mistake in what `makePair` gives: reported as it is, not as a check that failed. */
class PairMisuse extends Error {}

/** What `makePair` threw: reported as its failure, not as a check that failed. */
class PairFailure extends Error {
  constructor(cause: unknown) {
    super("makePair failed", { cause });
  }
}

function notAPair(made: unknown): PairMisuse {
  return new PairMisuse(
    `Cannot check connection pair: makePair must give two connections, or an operation that gives them, got ${
      named(made)
    }`,
  );
}

/** Whether `value` is two `Connection`s. */
function isPair(value: unknown): value is [Connection, Connection] {
  return Array.isArray(value) && value.length === 2 && value[0] instanceof Connection &&
    value[1] instanceof Connection;
}

/** Whether `value` can be delegated to for a pair: an event or a generator. */
function isOperation(value: unknown): boolean {
  return typeof value === "object" && value !== null &&
    typeof (value as { [Symbol.iterator]?: unknown })[Symbol.iterator] === "function";
}
