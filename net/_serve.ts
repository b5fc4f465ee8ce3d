// The serving loop behind `server`: accept within the limits, one thread per connection,
// close idle connections, and shut down gracefully. It takes anything that accepts like a
// `Listener`, so tests can feed it accept failures.
import {
  type Coroutine,
  join,
  kill,
  shield,
  sleep,
  spawn,
  type Task,
  TimeoutError,
  withTimeout,
} from "../scheduler/mod.ts";
import { Primitive, SUSPEND, SUSPEND_EXTERNAL } from "../scheduler/lowlevel.ts";
import { failedForOneClient } from "./_accept_failure.ts";
import { formatAddr } from "./_addr.ts";
import { type DescriptorGuard, descriptorGuard } from "./_fd_guard.ts";
import { failedOn, type Socket } from "./_socket.ts";
import { callGuarded } from "./_when_failed.ts";
import { type Connection, socketOf } from "./connection.ts";
import {
  BrokenPipeError,
  ConnectionResetError,
  ConnectionTimedOutError,
  NetError,
  SocketClosedError,
} from "./errors.ts";

/** What the loop needs of a listener. */
export interface AcceptSource {
  readonly addr: Deno.Addr;
  readonly closed: boolean;
  accept(): Coroutine<Connection>;
  close(): void;
}

/** The serving loop's settings, checked by `server`. */
export interface ServeSettings {
  handler: (conn: Connection) => Coroutine<unknown>;
  onError: (error: unknown, conn?: Connection) => void;
  maxConnections: number;
  idleTimeout: number;
  gracePeriod: number;
  signal: AbortSignal | undefined;
  /** Whether connections hold OS descriptors, counted against the process's budget. */
  descriptors: boolean;
}

/** The longest pause after accept failures that are about the process, not one client. */
const MAX_PAUSE_MS = 1000;
const FIRST_PAUSE_MS = 5;

/** One open connection: the thread serving it, and how long it has been idle. */
class Entry {
  task: Task<void> | null = null;
  progress = -1;
  quietMs = 0;
  idle = false;
  /** Its reaper has begun to kill its thread, and reports what that throws. */
  reaping = false;
  /** The thread that kills its thread for the idle limit (see `reap`), once spawned. */
  reaper: Task<void> | null = null;
  /** Closed for a failed accept: counted as closing by the descriptor guard until given back. */
  shed = false;
}

/**
 * The server's wait for a free slot. With only `maxConnections` to respect, room comes
 * from this run (a handler ends), so the wait is one the virtual clock can jump over and a
 * deadlock report can see. With the descriptor guard, room may come from another run's
 * server, outside this one.
 */
class RoomWait extends Primitive<void> {
  readonly description: string;
  readonly #outside: boolean;
  constructor(outside: boolean, description = "room for a connection") {
    super();
    this.#outside = outside;
    this.description = description;
  }
  start(): typeof SUSPEND | typeof SUSPEND_EXTERNAL {
    return this.#outside ? SUSPEND_EXTERNAL : SUSPEND;
  }
  finish(): void {}
  cancel(): void {}
}

/** What the server and its handler threads share. */
class Serving {
  readonly live = new Map<Connection, Entry>();
  /**
   * Connections whose reaper still runs. They may have left `live` already: a reaper
   * reports once the thread it killed has ended, and the server waits for that report.
   */
  readonly reapersRunning = new Set<Entry>();
  /** The descriptor guard, for a listener whose connections hold descriptors. */
  readonly guard: DescriptorGuard | null;
  readonly settings: ServeSettings;
  /** The server's wait for room, while it waits (a connection ends, or shutdown begins). */
  #roomWait: RoomWait | null = null;

  constructor(settings: ServeSettings) {
    this.settings = settings;
    this.guard = settings.descriptors ? descriptorGuard() : null;
  }

  get full(): boolean {
    return this.live.size >= this.settings.maxConnections || this.guard?.full === true;
  }

  /** An event that resumes once there may be room, or shutdown began. */
  room(): RoomWait {
    const wait = new RoomWait(this.guard !== null);
    this.#roomWait = wait;
    this.guard?.onRoom(() => wait.wake());
    return wait;
  }

  wake(): void {
    this.#roomWait?.wake();
    this.#roomWait = null;
  }

  /** The idle limit's wait for a connection to watch, while it waits. */
  #arrivalWait: RoomWait | null = null;

  /**
   * An event that resumes once a connection is served. Only this run's accept loop serves
   * one, so a run stuck with nothing served is a deadlock the kernel can report, where a
   * timer ticking for nothing would keep a virtual clock going for ever.
   */
  arrival(): RoomWait {
    return this.#arrivalWait = new RoomWait(false, "a connection to watch for idleness");
  }

  /** A connection is served: the idle limit watches it. */
  arrived(): void {
    this.#arrivalWait?.wake();
    this.#arrivalWait = null;
  }

  /**
   * Closed TLS connections whose handshake still holds their socket (see
   * `Socket.holdUntilHandshake`): they count against the descriptor guard until it ends.
   */
  readonly lingering = new Set<Socket>();

  /** Closes `conn` and stops counting it once its socket is gone; does nothing the second time. */
  retire(conn: Connection): void {
    const shed = this.live.get(conn)?.shed === true;
    if (!this.live.delete(conn)) return;
    const socket = socketOf(conn);
    try {
      conn.close();
    } finally {
      const guard = this.guard;
      if (guard !== null) {
        this.lingering.add(socket);
        socket.whenReleased(() => {
          this.lingering.delete(socket);
          guard.give(shed);
          this.wake();
        });
      }
      // Its slot among maxConnections is free now, even if its descriptor is not yet (a
      // TLS socket closed mid-handshake): the server looks again at once.
      this.wake();
    }
  }
}

/** Serves connections from `listener` until killed, or until `settings.signal` aborts. */
export function* serveOn(listener: AcceptSource, settings: ServeSettings): Coroutine<void> {
  const serving = new Serving(settings);
  let stopping = false;
  const stop = () => {
    stopping = true;
    listener.close();
    serving.wake();
  };
  settings.signal?.addEventListener("abort", stop, { once: true });
  if (settings.signal?.aborted) stop();
  let sweeper: Task<void> | null = null;
  try {
    if (settings.idleTimeout !== Infinity) sweeper = yield* spawn(sweepIdle(serving));
    let pause = 0;
    while (!stopping) {
      if (serving.full) {
        yield serving.room();
        continue;
      }
      let conn: Connection;
      try {
        conn = yield* listener.accept();
        pause = 0;
      } catch (error) {
        if (stopping) break;
        if (listener.closed) throw error;
        // A client that reset while it waited in the backlog: skip it, at once.
        if (isAboutOneConnection(error)) continue;
        // Out of descriptors with no budget to stop it (the limit could not be read): the
        // connections held now set the budget, and those past it are closed, newest first,
        // before anything else meets the limit, which would abort the process.
        const guard = serving.guard;
        const limitRead = guard !== null && guard.limitRead;
        const over = guard !== null && isOutOfDescriptors(error) ? guard.limitToHeld() : null;
        // Nothing to close: another server's failure of the same moment is being dealt
        // with, and this one backs off as from any other.
        if (over !== null && over > 0) {
          // Only its own: the others close theirs as their accepts fail.
          const closing = newest(serving, over);
          // With the limit read, descriptors opened since (listeners, files) took the room.
          const why = limitRead
            ? "descriptors opened since the limit was read count against it too"
            : "the limit cannot be read without --allow-all";
          report(
            settings.onError,
            new NetError(
              `${(error as Error).message}; servers hold ${guard!.held} connections, and will ` +
                `hold at most ${guard!.budget} from now on (${why}); closing this server's ` +
                `newest ${closing.length}`,
              { cause: error },
            ),
            undefined,
          );
          yield* shed(serving, closing);
          continue;
        }
        // Out of memory, say: retrying at once would spin. Back off.
        report(settings.onError, error, undefined);
        pause = Math.min(pause * 2 || FIRST_PAUSE_MS, MAX_PAUSE_MS);
        yield sleep(pause);
        continue;
      }
      // Counted before the spawn, so a kill at any point from here on closes it.
      const entry = new Entry();
      serving.live.set(conn, entry);
      serving.arrived();
      if (serving.guard !== null) {
        serving.guard.take();
        socketOf(conn).holdUntilHandshake();
      }
      // A scope, so that what escapes the handler's own scope when nobody joins it (see
      // `serve`) reaches whoever kills this thread, never the server or the run.
      entry.task = yield* spawn(serve(conn, entry, serving), { scope: true });
    }
    // Graceful shutdown: accept no more, and give the open handlers time to finish.
    listener.close();
    if (serving.live.size > 0 && settings.gracePeriod === Infinity) {
      yield* drain(serving); // no limit: withTimeout takes finite times only
    } else if (serving.live.size > 0) {
      try {
        yield withTimeout(settings.gracePeriod, drain(serving));
      } catch (error) {
        if (!(error instanceof TimeoutError)) throw error;
      }
    }
  } finally {
    settings.signal?.removeEventListener("abort", stop);
    listener.close();
    // Shielded: a kill that comes meanwhile (a second shutdown) waits for every handler's
    // cleanup, rather than end this `finally` at its next yield.
    yield shield(closeAll(serving, sweeper));
  }
}

/**
 * Kills the sweeper and every handler at once, so that their goodbyes run side by side,
 * reports what each handler threw (or waits for its reaper to), and lets the sockets go.
 */
function* closeAll(serving: Serving, sweeper: Task<void> | null): Coroutine<void> {
  const stopping = [...serving.live].filter(([, entry]) => entry.task !== null);
  const tasks = stopping.map(([, entry]) => entry.task!);
  // In this very step, before any of them can end: a handler that failed in the instant of
  // the shutdown hands its error to whoever kills its connection's thread, and with nobody
  // killing it yet, the error would end the run (a run that ends kills them all at once).
  try {
    yield kill(sweeper === null ? tasks : [sweeper, ...tasks]);
  } catch {
    // What they threw, chained: each is reported below, with its connection.
  }
  // The sweeper does not fail; if it did, that is the server's own fault, and goes on up.
  if (sweeper !== null && !sweeper.killed) yield join(sweeper);
  for (const [conn, entry] of stopping) {
    // One the idle limit is killing is its reaper's to report (see `reap`), joined below.
    if (entry.reaping || entry.task!.killed) continue;
    try {
      yield join(entry.task!);
    } catch (error) {
      reportFailure(serving, entry, error, conn);
    }
  }
  yield* joinReapers(serving);
  // A handler killed before its first step never ran its `finally`: close its connection.
  for (const conn of [...serving.live.keys()]) serving.retire(conn);
  // Sockets mid-handshake are let go uncounted: watching them would keep the process
  // alive until their clients leave, and Deno frees each once its client does.
  for (const socket of [...serving.lingering]) socket.release();
}

/**
 * Waits for the reapers still running, so that what they report comes before the server
 * ends, not after it (or never, if the run ends first). A reaper wakes once the thread it
 * killed has ended, which may be after the server, killing that thread too, woke. Joined,
 * not killed: a kill would cut its report short.
 */
function* joinReapers(serving: Serving): Coroutine<void> {
  for (const entry of [...serving.reapersRunning]) {
    const reaper = entry.reaper!;
    try {
      yield join(reaper);
    } catch (error) {
      // Killed by another (its scope ending): what it held went with that kill.
      if (!reaper.killed) throw error;
    }
  }
}

/**
 * One connection's thread. The handler runs in a scope of its own (its helpers belong to
 * it) that this thread joins: the scope ends only once the helpers still running were
 * killed and their `finally` blocks ran, on the connection still open, so a helper can say
 * goodbye; and what the handler or a helper threw, chained, arrives at the join and goes to
 * onError, never to the server or the run. Only then is the connection closed.
 */
function* serve(conn: Connection, entry: Entry, serving: Serving): Coroutine<void> {
  try {
    const made = serving.settings.handler(conn);
    if (made instanceof Promise) {
      // A function that returns a promise is no handler (spawn says so below), and its
      // promise would fail with nobody to catch it, which ends the process: reported too.
      made.catch((error) => report(serving.settings.onError, error, conn));
    }
    const handler = yield* spawn(made, { scope: true });
    try {
      yield join(handler);
    } finally {
      // This thread was killed (the idle limit, shutdown): the handler and its helpers go too.
      if (!handler.done) yield kill(handler);
    }
  } catch (error) {
    reportFailure(serving, entry, error, conn);
  } finally {
    serving.retire(conn);
  }
}

/** Waits for every handler to end. */
function* drain(serving: Serving): Coroutine<void> {
  for (;;) {
    const next = serving.live.entries().next();
    if (next.done) return;
    const [conn, entry] = next.value;
    try {
      if (entry.task !== null) yield join(entry.task);
    } catch {
      // It was killed (say, by the idle limit), and what its cleanup threw went to the
      // thread that killed it, which reports it: one connection never ends the server.
    }
    serving.retire(conn); // if it was killed before its first step, it is still open
  }
}

/**
 * Closes connections that moved no byte for `idleTimeout` ms and kills their handlers.
 * It looks four times per limit, so a connection goes within 1.25 limits of its last byte.
 */
function* sweepIdle(serving: Serving): Coroutine<void> {
  const limit = serving.settings.idleTimeout;
  const tick = Math.max(1, limit / 4);
  for (;;) {
    if (serving.live.size === 0) yield serving.arrival();
    yield sleep(tick);
    for (const [conn, entry] of serving.live) {
      const progress = socketOf(conn).moves;
      if (progress !== entry.progress) {
        entry.progress = progress;
        entry.quietMs = 0;
      } else if ((entry.quietMs += tick) >= limit && !entry.idle && entry.task !== null) {
        yield* closeOnPurpose(serving, conn, entry);
      }
    }
  }
}

/** This server's newest `count` connections still served (at most all it has). */
function newest(serving: Serving, count: number): [Connection, Entry][] {
  const open = [...serving.live].filter(([, entry]) => !entry.idle && entry.task !== null);
  return count <= 0 ? [] : open.slice(-count);
}

/**
 * Closes `closing`, connections of this server, as the idle limit closes a connection,
 * counting them as closing with the descriptor guard until each is given back.
 */
function* shed(serving: Serving, closing: [Connection, Entry][]): Coroutine<void> {
  for (const [, entry] of closing) entry.shed = true;
  serving.guard?.closing(closing.length);
  for (const [conn, entry] of closing) yield* closeOnPurpose(serving, conn, entry);
}

/**
 * Closes a connection the server gives up on and kills its thread: meeting the closed
 * connection is no error of the handler's.
 */
function* closeOnPurpose(serving: Serving, conn: Connection, entry: Entry): Coroutine<void> {
  entry.idle = true;
  try {
    // Noted once spawned (a kill as the caller gives way may come first, and then there
    // is no reaper), and before it runs: it takes itself off as it ends.
    entry.reaper = yield* spawn(reap(entry.task!, entry, conn, serving));
    serving.reapersRunning.add(entry);
  } finally {
    // Closed in the same step, so that no I/O in the handler's `finally` can wait on this
    // peer; after the reaper is queued, so that its kill comes first where the close wakes
    // the handler at once (a memory connection's waiting recv): woken first, the handler
    // would be in the `finally` the closed connection began when the kill lands, and the
    // kill would end that `finally` at its first yield.
    conn.close();
  }
}

function* reap(
  task: Task<void>,
  entry: Entry,
  conn: Connection,
  serving: Serving,
): Coroutine<void> {
  try {
    // Ended before its reaper ran (a shutdown in the same instant): whoever killed or
    // joined it reports what it threw.
    if (task.done) return;
    entry.reaping = true;
    try {
      yield kill(task);
    } catch (error) {
      reportFailure(serving, entry, error, conn);
    }
  } finally {
    serving.reapersRunning.delete(entry);
  }
}

/**
 * Reports what a connection's threads threw, less what is no bug: a peer that went away is
 * the network's normal weather, and so is the closed connection a thread meets when the
 * idle limit closed it. In a chain of errors (a helper's cleanup failed after the handler
 * did, say), those links are dropped and the rest is reported.
 */
function reportFailure(serving: Serving, entry: Entry, error: unknown, conn: Connection): void {
  let worth: unknown;
  try {
    worth = worthReporting(error, entry, socketOf(conn));
  } catch {
    worth = error; // looking at it threw (a revoked proxy): reported as it is
  }
  if (worth !== NOTHING) report(serving.settings.onError, worth, conn);
}

const NOTHING: unique symbol = Symbol("nothing");

function worthReporting(error: unknown, entry: Entry, client: Socket): unknown {
  if (error instanceof SuppressedError) {
    const newer = worthReporting(error.error, entry, client);
    const older = worthReporting(error.suppressed, entry, client);
    if (newer === NOTHING) return older;
    if (older === NOTHING) return newer;
    if (newer === error.error && older === error.suppressed) return error;
    return new SuppressedError(newer, older, error.message);
  }
  // Only the client's going away is weather: the same error from a connection the handler
  // made (a backend that resets, a certificate it does not trust) is its failure.
  const quiet = (isPeerGone(error) && failedOn(error) === client) ||
    (entry.idle && error instanceof SocketClosedError);
  return quiet ? NOTHING : error;
}

/**
 * Whether an error is the peer's doing: it went away, or does not speak TLS (garbage, or a
 * close before or during the handshake, as a health check or a port scanner does).
 */
function isPeerGone(error: unknown): boolean {
  return error instanceof ConnectionResetError || error instanceof BrokenPipeError ||
    error instanceof ConnectionTimedOutError ||
    (error instanceof NetError &&
      (error.cause instanceof Deno.errors.InvalidData ||
        error.cause instanceof Deno.errors.UnexpectedEof));
}

/** Whether an accept failed for want of file descriptors, the process's or the system's. */
export function isOutOfDescriptors(error: unknown): boolean {
  const cause = error instanceof NetError ? error.cause : error;
  const code = (cause as { code?: unknown } | null)?.code;
  return code === "EMFILE" || code === "ENFILE" ||
    (cause instanceof Error && /\(os error 2[34]\)/.test(cause.message));
}

/**
 * Whether an accept failure is about the one connection it was accepting. (A `Listener`
 * skips those itself; a listener of another kind may not.)
 */
export function isAboutOneConnection(error: unknown): boolean {
  const cause = error instanceof NetError ? error.cause : error;
  return isPeerGone(error) || failedForOneClient(cause) ||
    cause instanceof Deno.errors.BrokenPipe || cause instanceof Deno.errors.InvalidData ||
    cause instanceof Deno.errors.UnexpectedEof;
}

/**
 * Calls `onError`; if that throws too, or gives a promise that fails (an `async` one),
 * logs both rather than end the whole run, or the process.
 */
function report(
  onError: (error: unknown, conn?: Connection) => void,
  error: unknown,
  conn: Connection | undefined,
): void {
  const failed = (failure: unknown) => {
    try {
      console.error("server: onError threw", failure, "while reporting", error);
    } catch {
      // Not even logging it works (a revoked proxy cannot be shown): the server goes on.
      console.error("server: onError threw while reporting a handler's error");
    }
  };
  callGuarded(() => onError(error, conn), failed);
}

/** The default `onError`: one line for accept failures, the error in full for handlers. */
export function logError(error: unknown, conn?: Connection): void {
  if (conn === undefined) {
    const message = error instanceof Error ? error.message : String(error);
    console.error(`server: accept failed: ${message}`);
  } else {
    console.error(`server: handler for ${formatAddr(conn.addr)} failed:`, error);
  }
}
