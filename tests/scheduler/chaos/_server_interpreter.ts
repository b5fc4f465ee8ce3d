// Runs a server program and checks the server's promises: what a handler or its helpers
// threw reaches onError once and never the server or the run; every handler's, helper's
// and client's `finally` runs once; echoed bytes come back as sent; a graceful shutdown
// keeps to its grace period; and the listener is closed at the end.
import {
  BrokenPipeError,
  type Connection,
  ConnectionResetError,
  type Coroutine,
  join,
  kill,
  KilledError,
  moveOnAfter,
  server,
  type ServerOptions,
  shield,
  sleep,
  SocketClosedError,
  spawn,
  type Task,
  VirtualClock,
  withTimeout,
} from "../../../mod.ts";
import { MemoryListener } from "../../../testing/mod.ts";
import { forEachChained, ProgramError } from "./_errors.ts";
import { HUNG, Journal, runGuarded, type Trace } from "./_journal.ts";
import type { ClientPlan, HandlerStep, ServerProgram } from "./_server_program.ts";

type Helper = Extract<HandlerStep, { t: "helper" }>;

/** What a client sent and got back (less the goodbye bytes), and how it ended. */
interface ClientRecord {
  sent: number[];
  got: number[];
  ending: string;
}

class ServerRun extends Journal {
  readonly program: ServerProgram;
  readonly listener: MemoryListener;
  /** What the program threw, by id, and how many times each reached onError. */
  readonly thrown: Map<number, string> = new Map();
  readonly reported: Map<number, number> = new Map();
  /** Errors JavaScript dropped: a `finally` that threw, or was ended by a kill, over them. */
  readonly dropped: Set<number> = new Set();
  readonly clients: ClientRecord[] = [];
  handlers = 0;
  shutdownAt = -1;
  serverEndedAt = -1;

  constructor(program: ServerProgram) {
    super(new VirtualClock());
    this.program = program;
    this.listener = new MemoryListener({
      latency: program.latency,
      bufferSize: program.bufferSize,
      ...(program.chunk === null ? {} : { chunkSizes: [program.chunk, 1] }),
    });
  }

  raise(where: string): ProgramError {
    const error = new ProgramError(this.thrown.size + 1, where);
    this.thrown.set(error.id, where);
    return error;
  }

  drop(error: unknown): void {
    forEachChained(error, (e) => e instanceof ProgramError && this.dropped.add(e.id));
  }

  /** The server's onError: only the program's errors may come, each once. */
  readonly onError = (error: unknown): void => {
    this.note(`onError ${(error as Error)?.name}`);
    forEachChained(error, (e) => {
      if (e instanceof ProgramError) this.reported.set(e.id, (this.reported.get(e.id) ?? 0) + 1);
      else if (!(e instanceof SuppressedError)) {
        this.violation(`onError got ${describe(e)}`);
      }
    });
  };
}

function* helper(s: ServerRun, key: string, step: Helper): Coroutine<void> {
  s.started(key);
  let pending: unknown;
  try {
    yield* sleep(step.ms);
    if (step.throws) throw s.raise(`${key} body`);
  } catch (error) {
    pending = error;
    throw error;
  } finally {
    s.finished(key);
    if (step.throwsInFinally) {
      s.drop(pending);
      // deno-lint-ignore no-unsafe-finally -- a helper whose cleanup fails is the point
      throw s.raise(`${key} finally`);
    }
  }
}

function* echo(conn: Connection, max: number): Coroutine<boolean> {
  const data = yield* conn.recv(max);
  if (data.length === 0) return false;
  yield* conn.sendall(data);
  return true;
}

function* handler(s: ServerRun, conn: Connection): Coroutine<void> {
  const k = s.handlers++;
  const key = `h${k}`;
  const plan = s.program.handlers[k % s.program.handlers.length];
  s.started(key);
  s.note(`${key} start`);
  let pending: unknown;
  try {
    let helpers = 0;
    for (const step of plan.steps) {
      switch (step.t) {
        case "echo":
          for (let i = 0; i < step.n; i++) if (!(yield* echo(conn, step.max))) break;
          break;
        case "sleep":
          yield* sleep(step.ms);
          break;
        case "helper": {
          const task = yield* spawn(helper(s, `${key}.x${helpers++}`, step));
          if (step.join) yield* join(task); // what it throws, the handler throws
          break;
        }
        case "throw":
          throw s.raise(`${key} throw`);
      }
    }
    // Then it echoes until the client is done.
    for (;;) if (!(yield* echo(conn, 64))) break;
    s.note(`${key} done`);
  } catch (error) {
    pending = error;
    throw error;
  } finally {
    s.finished(key);
    let completed = false;
    try {
      if (plan.finallySleep) yield* shield(sleep(plan.finallySleep));
      if (plan.goodbye) {
        try {
          yield* withTimeout(3, conn.sendall("\u0000"));
        } catch { /* closed, reset or timed out: no matter */ }
      }
      completed = true;
    } finally {
      // A kill that reaches this yielding `finally` ends it, and the error in flight with it.
      if (!completed) s.drop(pending);
    }
  }
}

/**
 * An error's name and message, less the memory connection's port: ports are numbered
 * across runs, and two runs of one program must log alike.
 */
function describe(error: unknown): string {
  const message = String((error as Error)?.message).replace(/memory:\d+/g, "memory");
  return `${(error as Error)?.name}: ${message}`;
}

/** Whether a client's I/O may fail so: the peer or the shutdown closed the connection. */
function isConnectionGone(error: unknown): boolean {
  return error instanceof ConnectionResetError || error instanceof BrokenPipeError ||
    error instanceof SocketClosedError;
}

function* client(s: ServerRun, i: number, plan: ClientPlan): Coroutine<void> {
  const key = `c${i}`;
  s.started(key);
  const record: ClientRecord = { sent: [], got: [], ending: "" };
  s.clients.push(record);
  let conn: Connection | undefined;
  try {
    yield* sleep(plan.delay);
    try {
      conn = yield* s.listener.connect(
        plan.connectTimeout === null ? {} : { timeout: plan.connectTimeout },
      );
    } catch (error) {
      record.ending = `connect threw ${(error as Error).name}`;
      return;
    }
    const writeClosed = yield* talk(s, i, conn, plan, record);
    if (writeClosed !== null) yield* drain(s, conn, record, writeClosed);
  } finally {
    conn?.close();
    s.note(`${key} ends (${record.ending}), sent ${record.sent.length}, got ${record.got.length}`);
    s.finished(key);
  }
}

function take(record: ClientRecord, data: Uint8Array): void {
  for (const byte of data) if (byte !== 0) record.got.push(byte);
}

/** Runs a client's steps; says whether it closed its write side, or null if it is closed. */
function* talk(
  s: ServerRun,
  i: number,
  conn: Connection,
  plan: ClientPlan,
  record: ClientRecord,
): Coroutine<boolean | null> {
  let writeClosed = false;
  for (const step of plan.steps) {
    try {
      switch (step.t) {
        case "send": {
          if (writeClosed) break;
          const data = new Uint8Array(step.length);
          // Never 0, the goodbye byte; different for each client.
          for (let j = 0; j < step.length; j++) {
            data[j] = 1 + ((i * 37 + record.sent.length + j) % 255);
          }
          if ((yield* moveOnAfter(30, conn.sendall(data))).timedOut) {
            s.note(`c${i} send timed out`);
            writeClosed = true; // an unknown part was sent: send no more
          }
          record.sent.push(...data);
          break;
        }
        case "receive": {
          const result = yield* moveOnAfter(step.ms, conn.recv(step.max));
          if (!result.timedOut) take(record, result.value);
          break;
        }
        case "sleep":
          yield* sleep(step.ms);
          break;
        case "closeWrite":
          yield* conn.closeWrite();
          writeClosed = true;
          break;
        case "close":
          conn.close();
          record.ending = "closed";
          return null;
        case "reset":
          (conn as unknown as { reset(): void }).reset();
          record.ending = "reset";
          return null;
      }
    } catch (error) {
      if (!isConnectionGone(error)) {
        s.violation(`c${i} ${step.t} threw ${describe(error)}`);
      }
      record.ending = `${step.t} threw ${(error as Error).name}`;
      return null;
    }
  }
  return writeClosed;
}

/** Says it is done, and reads what the server still sends until it closes (or goes silent). */
function* drain(
  s: ServerRun,
  conn: Connection,
  record: ClientRecord,
  writeClosed: boolean,
): Coroutine<void> {
  try {
    if (!writeClosed) yield* conn.closeWrite();
    for (;;) {
      const result = yield* moveOnAfter(200, conn.recv(64));
      if (result.timedOut || result.value.length === 0) {
        record.ending = result.timedOut ? "drain timed out" : "end of stream";
        return;
      }
      take(record, result.value);
    }
  } catch (error) {
    record.ending = `drain threw ${(error as Error).name}`;
    if (!isConnectionGone(error)) s.violation(`drain threw ${describe(error)}`);
  }
}

function serverOptions(s: ServerRun, signal: AbortSignal): ServerOptions {
  const { idleTimeout, gracePeriod, maxConnections } = s.program;
  return {
    onError: s.onError,
    signal,
    gracePeriod: gracePeriod ?? Infinity,
    ...(idleTimeout === null ? {} : { idleTimeout }),
    ...(maxConnections === null ? {} : { maxConnections }),
  };
}

function* shutDown(
  s: ServerRun,
  serving: Task<void>,
  stop: AbortController,
  abortRun: () => void,
): Coroutine<void> {
  const { how, at } = s.program.shutdown;
  yield* sleep(at);
  s.shutdownAt = s.clock.now();
  s.note(`shutdown: ${how}`);
  if (how === "signal") stop.abort();
  else if (how === "runAbort") abortRun();
  else {
    yield* kill(serving);
    s.note("kill(server) returned");
    for (const [key, n] of s.finallies) {
      if (key.startsWith("h") && n !== 1) {
        s.violation(`kill(server) returned before ${key} finished`);
      }
    }
  }
}

function* root(s: ServerRun, abortRun: () => void): Coroutine<string> {
  const stop = new AbortController();
  const serving = yield* spawn(function* () {
    try {
      yield* server(s.listener, (conn) => handler(s, conn), serverOptions(s, stop.signal));
    } finally {
      s.serverEndedAt = s.clock.now();
      s.note("server ended");
    }
  }());
  const clients: Task<void>[] = [];
  for (const [i, plan] of s.program.clients.entries()) {
    clients.push(yield* spawn(client(s, i, plan)));
  }
  if (s.program.shutdown.how !== "none") yield* spawn(shutDown(s, serving, stop, abortRun));
  for (const task of clients) yield* join(task);
  if (!stop.signal.aborted) stop.abort();
  try {
    yield* join(serving);
  } catch (error) {
    if (!(error instanceof KilledError)) {
      s.violation(`the server thread threw ${describe(error)}`);
    }
  }
  return "ok";
}

export async function runServerProgram(program: ServerProgram): Promise<Trace> {
  const s = new ServerRun(program);
  const controller = new AbortController();
  const aborted = new Error("run aborted");
  const ending = await runGuarded(root(s, () => controller.abort(aborted)), s.clock, controller);
  if ("hung" in ending) return s.trace(HUNG);
  let outcome: string;
  if ("value" in ending) outcome = `resolved ${ending.value}`;
  else if (ending.error === aborted) outcome = "aborted";
  else {
    outcome = `rejected ${(ending.error as Error)?.name}`;
    s.violation(`run rejected with ${describe(ending.error)}`);
  }
  checkEnd(s, outcome === "aborted");
  s.note(`outcome ${outcome}`);
  return s.trace(outcome);
}

function checkEnd(s: ServerRun, aborted: boolean): void {
  s.checkFinallies();
  if (!s.listener.closed) s.violation("the listener is still open at the end");
  for (const [id, where] of s.thrown) {
    const n = s.reported.get(id) ?? 0;
    // A run aborted through its signal ends with the signal's reason, not onError's calls.
    if (n === 0 && !aborted && !s.dropped.has(id)) {
      s.violation(`error #${id} (${where}) never reached onError`);
    }
    if (n > 1) s.violation(`error #${id} (${where}) reached onError ${n} times`);
  }
  for (const [i, { sent, got }] of s.clients.entries()) {
    const j = got.findIndex((byte, k) => byte !== sent[k]);
    if (j >= 0) s.violation(`c${i}: echoed byte ${j} is ${got[j]}, but ${sent[j]} was sent`);
    if (got.length > sent.length) s.violation(`c${i}: got more bytes than it sent`);
  }
  const { how } = s.program.shutdown;
  const { gracePeriod } = s.program;
  if (how === "signal" && s.shutdownAt >= 0 && gracePeriod !== null && s.serverEndedAt >= 0) {
    const took = s.serverEndedAt - s.shutdownAt;
    // The handlers' cleanup may add a little: a shielded sleep and a goodbye of 3 ms at most.
    if (took > gracePeriod + 10) {
      s.violation(
        `the server ended ${took} ms after the shutdown signal, grace period ${gracePeriod}`,
      );
    }
  }
}
