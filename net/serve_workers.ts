// One server on every core: the same handler served by N Workers, each with its own
// scheduler, all listening on one port with `reusePort` so that the system spreads the
// connections among them. Workers cannot share a function, so the handler is named by
// the module that exports it, which each Worker imports.
import { checkNumberOption, checkServingOptions, named } from "./_checks.ts";
import { connectionBudget } from "./_fd_guard.ts";
import { callGuarded } from "./_when_failed.ts";
import * as netErrors from "./errors.ts";
import {
  HOLD,
  printable,
  SHUTDOWN,
  type WorkerReport,
  type WorkerStart,
} from "./_worker_protocol.ts";

/** Options for {@linkcode serveWorkers}. */
export interface ServeWorkersOptions {
  /**
   * How many Workers serve.
   *
   * @default {navigator.hardwareConcurrency}
   */
  workers?: number;
  /**
   * The address to listen on.
   *
   * @default {"127.0.0.1"}
   */
  host?: string;
  /**
   * The port; 0 picks a free one, which every Worker then shares
   * ({@linkcode WorkerServer.port} tells which). The Workers listen with `reusePort`, so a
   * fixed port that another `reusePort` listener of this user holds (a second
   * `serveWorkers` on it, say) is no error: the system shares the connections between
   * them all. One held without it is "address already in use".
   *
   * @default {0}
   */
  port?: number;
  /**
   * The name of the module's export that handles a connection: a function that takes a
   * `Connection` and gives a coroutine, as for {@linkcode server}.
   *
   * @default {"handler"}
   */
  exportName?: string;
  /**
   * The most connections each Worker handles at once (see {@linkcode ServerOptions}).
   *
   * @default {Infinity}
   */
  maxConnections?: number;
  /**
   * Each Worker closes a connection idle for this many milliseconds (see
   * {@linkcode ServerOptions}).
   *
   * @default {Infinity}
   */
  idleTimeout?: number;
  /**
   * Receives the error of a Worker that stopped serving unasked after it started: code in
   * the handler's module threw where no handler catches it (in a timer, say), left a
   * promise rejection unhandled, or called `close()` or `Deno.exit()`, or its server
   * failed. (A module that handles the error itself keeps its Worker serving, as in any
   * Deno Worker, and the error is not reported: a global `error` or `unhandledrejection`
   * listener of its own that calls `preventDefault()` or sets `returnValue = false`, or
   * Node's `process.on("uncaughtException")`, `process.on("unhandledRejection")` or
   * capture callback. Its listeners find the event as Deno dispatches it, not yet handled;
   * error events the module dispatches itself are its own business.) It is called
   * once for that Worker, with an `Error` that names it (`Worker 2 stopped serving: ...`,
   * the number of its name `bluelet-worker-2`) and has what it threw as `cause` (copied
   * across by structured clone, so a subclass arrives as an `Error`, but for the
   * library's own errors, an `AddressInUseError` say, which are made again). The Worker has
   * closed its listener and ended its handlers first (their `finally` blocks ran), except
   * after `Deno.exit()`, which cannot wait, or an `error` listener of the module's own that
   * throws, which ends the Worker on the spot (the error it heard of still comes first,
   * unless it handled that, and what it threw is chained); it is then terminated. The
   * others serve on, and the system spreads new connections among them
   * ({@linkcode WorkerServer.serving} tells how many are left). A Worker that fails while
   * they start makes {@linkcode serveWorkers} reject instead, with its error (all it
   * threw, if it had not listened yet); what goes wrong after that, while the failed start
   * stops the Workers, comes here as `failed while shutting down`.
   *
   * It also receives what goes wrong in a Worker while {@linkcode WorkerServer.shutdown}
   * stops it, once for that Worker, as `Worker 2 failed while shutting down: ...`: the
   * module throws or leaves a rejection unhandled meanwhile, calls `close()` or
   * `Deno.exit()` (which cuts its handlers' cleanup short), or a handler's cleanup waits on
   * what can never come, so that the Worker's run ends with a `DeadlockError`. The call
   * comes before `shutdown()` resolves, which it does all the same, as {@linkcode server}
   * shut down gracefully hands a handler's failed cleanup to `onError` and returns.
   *
   * When more goes wrong in a Worker before it has stopped, the message gives the first
   * error and `cause` chains them all as `SuppressedError`s (newest outermost, each
   * `Another error occurred while the Worker was stopping`). What a handler throws, its
   * `finally` included, never comes here: one connection does not stop a Worker, and its
   * server logs it with `console.error`, as {@linkcode server} does by default.
   *
   * @example Hearing of a Worker that died
   * ```ts
   * import assert from "node:assert/strict";
   * import { connect, run, serveWorkers } from "@bluelet/bluelet";
   *
   * // A handler whose module throws outside any connection: it kills its Worker.
   * const handlers = new URL(`data:text/javascript,
   *   export function* handler() {
   *     setTimeout(() => { throw new Error("out of order"); });
   *   }`);
   * const died = Promise.withResolvers<Error>();
   * await using workers = await serveWorkers(handlers, {
   *   workers: 2,
   *   onWorkerError: died.resolve,
   * });
   * (await run(connect("127.0.0.1", workers.port))).close();
   * const error = await died.promise;
   * assert.match(error.message, /^Worker [12] stopped serving: out of order$/);
   * assert.equal((error.cause as Error).message, "out of order");
   * assert.equal(workers.serving, 1);
   * ```
   *
   * @example Hearing of a Worker that failed while shutting down
   * ```ts
   * import assert from "node:assert/strict";
   * import { connect, run, serveWorkers, until } from "@bluelet/bluelet";
   *
   * // A handler whose cleanup goes wrong: a timer throws while it waits to finish.
   * const handlers = new URL(`data:text/javascript,
   *   export function* handler(conn) {
   *     try {
   *       yield conn.sendall("hi");
   *       yield conn.recv(1);
   *     } finally {
   *       setTimeout(() => { throw new Error("cleanup failed"); });
   *       yield new Promise((resolve) => setTimeout(resolve, 10));
   *     }
   *   }`);
   * const errors: Error[] = [];
   * const workers = await serveWorkers(handlers, {
   *   workers: 1,
   *   onWorkerError: (error) => errors.push(error),
   * });
   * await run(function* () {
   *   using conn = yield* connect("127.0.0.1", workers.port);
   *   // The handler is in its `try` once it has sent: the shutdown's kill lands there.
   *   yield* conn.recvExactly(2);
   *   yield* until(workers.shutdown());
   * }());
   * assert.equal(errors.length, 1);
   * assert.equal(errors[0].message, "Worker 1 failed while shutting down: cleanup failed");
   * assert.equal((errors[0].cause as Error).message, "cleanup failed");
   * ```
   *
   * @default {undefined} (logged to stderr with `console.error`)
   */
  onWorkerError?: (error: Error) => void;
  /**
   * How long a Worker gets to stop (its handlers' `finally` blocks included), in
   * milliseconds, when {@linkcode WorkerServer.shutdown} asks it to, or when it stops
   * serving unasked; one still stopping then is terminated, and reported to
   * `onWorkerError`, as, for a shutdown, `Worker 2 failed while shutting down: it did not
   * stop within 10000 ms, so it was terminated` (or, if something had gone wrong in it
   * before, with that first error's message, and this one chained last, as below).
   * `Infinity` waits however long it takes, also before a failed start rejects. Deno 2.9.6
   * cannot terminate a Worker whose JavaScript never returns to its event loop (a handler
   * stuck in `for (;;) {}`): it runs on, keeps its listener open and keeps the process
   * from exiting. Nothing outside it can tell; the report says it was terminated all the
   * same.
   *
   * @default {10000}
   */
  stopTimeout?: number;
  /**
   * Aborting it stops the Workers. While they start, the start then fails with the
   * signal's reason, once those started have stopped: a handler module that never finishes
   * loading would keep it waiting for ever otherwise. After, it begins
   * {@linkcode WorkerServer.shutdown}. Already aborted, nothing starts.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
}

/**
 * The descriptors a Worker opens for itself (its event loop, its listener): 7 in Deno
 * 2.9.6, and one to spare.
 */
const WORKER_DESCRIPTORS = 8;

/** Starts the Workers; set in {@linkcode WorkerServer}'s static block, which may construct it. */
let startWorkers: (module: string | URL, options: ServeWorkersOptions) => Promise<WorkerServer>;

/** One Worker, as the main thread sees it. */
interface WorkerState {
  readonly worker: Worker;
  /** The main thread's end of the channel of their own (see `WorkerStart.channel`). */
  readonly channel: MessagePort;
  /**
   * Resolves once the Worker has stopped, asked or not, and what went wrong was reported:
   * then there is nothing to wait for.
   */
  readonly stopped: Promise<void>;
  /** It listens and has not stopped. */
  serving: boolean;
  /** It was asked to stop. */
  asked: boolean;
  /** Terminates it, still stopping after `ms` milliseconds, and reports that. */
  giveUp(ms: number): void;
}

/**
 * Why a Worker stopped, when something went wrong: what it threw first, all it threw as
 * `cause` (when known), and whether it had been asked to stop before.
 */
interface Failure {
  message: string;
  cause?: unknown;
  asked: boolean;
}

/** The most event-loop turns a dead Worker's report waits for its last messages. */
const QUIET_TURNS_MAX = 20;

/** The default `onWorkerError`, as `server`'s default `onError` logs. */
function logWorkerError(error: Error): void {
  console.error(error);
}

/** The Workers {@linkcode serveWorkers} started, and the way to stop them. */
export class WorkerServer implements AsyncDisposable {
  /** The port every Worker listens on. */
  readonly port: number;
  readonly #workers: WorkerState[];
  readonly #stopTimeout: number;
  #shutdown: Promise<void> | null = null;
  /** Stops listening to `ServeWorkersOptions.signal`, once shutting down. */
  #unlisten: (() => void) | null = null;

  /** Made by {@linkcode serveWorkers} only. */
  private constructor(port: number, workers: WorkerState[], stopTimeout: number) {
    this.port = port;
    this.#workers = workers;
    this.#stopTimeout = stopTimeout;
  }

  /** How many Workers were started (see {@linkcode WorkerServer.serving}). */
  get workers(): number {
    return this.#workers.length;
  }

  /**
   * How many Workers still serve: all of them, less any that stopped serving unasked
   * (see {@linkcode ServeWorkersOptions.onWorkerError}), and none once shut down.
   *
   * @example Counting the Workers that serve
   * ```ts
   * import assert from "node:assert/strict";
   * import { serveWorkers } from "@bluelet/bluelet";
   *
   * const handlers = new URL("data:text/javascript,export function* handler() {}");
   * const workers = await serveWorkers(handlers, { workers: 2 });
   * assert.equal(workers.serving, 2);
   * await workers.shutdown();
   * assert.equal(workers.serving, 0);
   * ```
   */
  get serving(): number {
    return this.#workers.filter((worker) => worker.serving).length;
  }

  /**
   * Stops every Worker: each closes its listener and kills its handlers (their `finally`
   * blocks run), then the Worker is terminated. A Worker that stopped serving unasked and
   * has not finished stopping is waited for until its own stop timeout, and one still
   * stopping after {@linkcode ServeWorkersOptions.stopTimeout} is terminated. What goes
   * wrong in a Worker as it stops (its module throws meanwhile, say, or it was
   * terminated) goes to {@linkcode ServeWorkersOptions.onWorkerError}, as `Worker 2 failed
   * while shutting down: ...`, before the promise resolves. Calling it again gives the
   * same promise.
   *
   * @returns A promise that resolves once every Worker has stopped, what went wrong was
   * reported, and every Worker is terminated (see {@linkcode ServeWorkersOptions.stopTimeout}
   * on a Worker stuck in a loop, which Deno cannot stop); it does not reject.
   *
   * @example Stopping the Workers
   * ```ts
   * import assert from "node:assert/strict";
   * import { ConnectionRefusedError, connect, run, serveWorkers } from "@bluelet/bluelet";
   *
   * const handlers = new URL("data:text/javascript,export function* handler() {}");
   * const workers = await serveWorkers(handlers, { workers: 2 });
   * await workers.shutdown();
   * await assert.rejects(run(connect("127.0.0.1", workers.port)), ConnectionRefusedError);
   * ```
   */
  shutdown(): Promise<void> {
    this.#unlisten?.();
    this.#unlisten = null;
    this.#shutdown ??= (async () => {
      for (const state of this.#workers) {
        state.asked = true;
        state.channel.postMessage(SHUTDOWN);
      }
      try {
        await Promise.all(this.#workers.map((state) => stoppedWithin(state, this.#stopTimeout)));
      } finally {
        for (const { worker } of this.#workers) worker.terminate();
      }
    })();
    return this.#shutdown;
  }

  /**
   * Stops every Worker, for `await using`.
   *
   * @example Serving for the length of a block
   * ```ts
   * import assert from "node:assert/strict";
   * import { serveWorkers } from "@bluelet/bluelet";
   *
   * const handlers = new URL("data:text/javascript,export function* handler() {}");
   * {
   *   await using workers = await serveWorkers(handlers, { workers: 2 });
   *   assert.equal(workers.workers, 2);
   * } // stopped here
   * ```
   */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }

  static {
    startWorkers = async (module, options) => {
      if (!URL.canParse(module)) {
        throw new TypeError(
          `Cannot serve in workers: the module must be an absolute URL, got ${
            JSON.stringify(String(module))
          }`,
        );
      }
      const signal = options.signal;
      signal?.throwIfAborted();
      const stopTimeout = options.stopTimeout ?? 10_000;
      if (!(stopTimeout > 0)) {
        throw new RangeError(
          `Cannot serve in workers: stopTimeout must be a positive number of milliseconds, got ${stopTimeout}`,
        );
      }
      // What each Worker's server would refuse, refused here, before any Worker starts.
      const action = "Cannot serve in workers";
      checkServingOptions(options, action, ["maxConnections", "idleTimeout"]);
      const askedPort = options.port ?? 0;
      checkNumberOption(askedPort, action, "port");
      if (!(Number.isInteger(askedPort) && askedPort >= 0 && askedPort <= 65535)) {
        throw new RangeError(
          `${action}: port must be an integer from 0 to 65535, got ${askedPort}`,
        );
      }
      for (const name of ["host", "exportName"] as const) {
        const value = options[name];
        if (value !== undefined && typeof value !== "string") {
          throw new TypeError(`${action}: ${name} must be a string, got ${named(value)}`);
        }
      }
      const count = options.workers ?? navigator.hardwareConcurrency;
      if (!Number.isInteger(count) || count < 1) {
        throw new RangeError(
          `Cannot serve in workers: the worker count must be a positive integer, got ${count}`,
        );
      }
      // Without the flag, a Worker's `Deno.listen` with `reusePort` ends the whole process
      // (exit code 70), nothing to catch. `Deno.listenDatagram` exists only with the flag.
      if (typeof (Deno as { listenDatagram?: unknown }).listenDatagram !== "function") {
        throw new Error(
          "Cannot serve in workers: Deno runs without the --unstable-net flag, which reusePort needs",
        );
      }
      // Workers share the process's descriptors, but each has a guard of its own: each
      // gets an equal share of the budget, reckoned once, here, less what the Workers
      // themselves will open.
      const room = connectionBudget();
      const own = count * WORKER_DESCRIPTORS;
      if (room - own < count) {
        // Starting a Worker with no descriptor left aborts the whole process (Deno 2.9.6):
        // refused before the first starts. Each needs room for one connection at least.
        throw new RangeError(
          `Cannot serve in workers: ${count} Workers need about ${own} file descriptors of their own, and the process has room for ${room} (ulimit -n less those open and a reserve); start fewer Workers, or raise the limit`,
        );
      }
      const budget = room - own;
      const share = budget === Infinity ? Infinity : Math.max(1, Math.floor(budget / count));
      const onWorkerError = options.onWorkerError ?? logWorkerError;
      const report = (error: Error): void => {
        const failed = (failure: unknown) => {
          try {
            console.error("serveWorkers: onWorkerError threw", failure, "while reporting", error);
          } catch {
            console.error("serveWorkers: onWorkerError threw while reporting", error);
          }
        };
        callGuarded(() => onWorkerError(error), failed); // an async one that fails, too
      };
      const workers: WorkerState[] = [];
      // Workers that died, whose report waits for their last messages (see `onerror`): the
      // start waits for them too, so that it fails with a death rather than resolve.
      const dying: Promise<void>[] = [];
      // A Worker that fails before all of them listen fails the start; one failing later is
      // reported, and the others serve on.
      let started = false;
      const startFailed = Promise.withResolvers<never>();
      startFailed.promise.catch(() => {}); // awaited only while they start
      let failedToStart = false;
      /** Fails the start with `error`; says false if it has failed already. */
      const failStart = (error: unknown): boolean => {
        if (failedToStart) return false;
        failedToStart = true;
        startFailed.reject(error);
        return true;
      };
      const start = (port: number): Promise<number> => {
        const number = workers.length + 1;
        const worker = new Worker(new URL("./_serve_worker.ts", import.meta.url), {
          type: "module",
          name: `bluelet-worker-${number}`,
        });
        const listening = Promise.withResolvers<number>();
        const stop = Promise.withResolvers<void>();
        const channel = new MessageChannel();
        const state: WorkerState = {
          worker,
          channel: channel.port1,
          stopped: stop.promise,
          serving: false,
          asked: false,
          giveUp: (ms) => {
            const late = new Error(`it did not stop within ${ms} ms, so it was terminated`);
            end(everything({ error: late, asked: true }));
          },
        };
        workers.push(state);
        // What it told of going wrong, oldest first, each with whether it had been asked to
        // stop before: reported once it has stopped, or was given up on, less the first if
        // the start failed with that already.
        const troubles: { error: unknown; asked: boolean }[] = [];
        let toldByStart = 0;
        // What the start's rejection did not tell. After that, the failed start is stopping
        // every Worker: what comes then went wrong while they were shut down.
        const untold = () =>
          troubles.slice(toldByStart).map((trouble) =>
            toldByStart > 0 ? { ...trouble, asked: true } : trouble
          );
        // What it told while the verdict on an error event is pending (see `WorkerReport`),
        // in the order told: the event's error (`unless` numbers it until its verdict) is
        // dropped if a listener handles it, and is a trouble if none does, or if the Worker
        // ends first (a listener of the module's may end it on the spot). What it tells
        // meanwhile (a listener that calls `close()`, say) waits in its place.
        const held: { error: unknown; asked: boolean; unless?: number }[] = [];
        /** The Worker ends: all it told went wrong, in order. */
        const decideAll = () => {
          troubles.push(...held.splice(0));
        };
        /** What escaped the Worker as it died (see `onerror`), once it has. */
        const escaped: { error: unknown; asked: boolean }[] = [];
        /**
         * The Worker ends: the failure of all that went wrong and was not told yet (what it
         * told, then what escaped it, then `last`), if anything was.
         */
        const everything = (last?: { error: unknown; asked: boolean }): Failure | undefined => {
          decideAll();
          const all = [...untold(), ...escaped, ...(last === undefined ? [] : [last])];
          return all.length > 0 ? failureOf(all) : undefined;
        };
        let ended = false;
        // However a Worker stops, once: `failure` says what went wrong, if anything did.
        const end = (failure?: Failure): void => {
          if (ended) return;
          ended = true;
          state.serving = false;
          channel.port1.close(); // nothing more comes, and it must not keep the process alive
          troubles.length = 0; // told in `failure`, if anything: kept no longer
          try {
            if (failure !== undefined) {
              worker.terminate(); // it closes itself, or is dead already: leave nothing
              // Once the start has failed, with this Worker's error or another's, the rest
              // is reported as after a start, not dropped: what went wrong while the failed
              // start stops the Workers, as while shutting down (even in a Worker that had
              // not heard it was asked to stop yet).
              if (started) report(workerError(number, true, failure));
              else if (!failStart(workerError(number, false, failure))) {
                report(workerError(number, true, { ...failure, asked: true }));
              }
            }
          } finally {
            // Reported first, so that a shutdown resolves only once its failures are told.
            stop.resolve();
          }
        };
        let firstTaken = false;
        /**
         * Takes in what went wrong in the Worker, once no verdict is pending: everything
         * that went wrong in one turn (errors of events dispatched together, and what their
         * listeners told) is then in.
         */
        const take = (trouble?: { error: unknown; asked: boolean }): void => {
          if (trouble !== undefined) troubles.push(trouble);
          if (held.length > 0 || firstTaken || troubles.length === 0) return;
          firstTaken = true;
          if (!troubles[0].asked) {
            // Stopping unasked: it serves no more, and gets as long to stop as a shutdown
            // gives it; it is reported once it has stopped. One that was serving while the
            // others start fails the start at once: they serve meanwhile, and only the
            // failed start's own shutdown can stop them. (One that fails before it listens
            // fails the start once it has stopped, with all it told.)
            const wasServing = state.serving;
            state.serving = false;
            if (
              !started && wasServing && failStart(workerError(number, false, failureOf(troubles)))
            ) {
              toldByStart = troubles.length;
            }
            void stoppedWithin(state, stopTimeout);
          }
        };
        let messages = 0;
        // Only what comes on the channel of their own is a report: the Worker's global
        // messages are what the module posts, which nobody here listens to.
        channel.port1.onmessage = ({ data }: MessageEvent<WorkerReport>) => {
          messages++;
          if ("listening" in data) {
            // Not if it is stopping already (unasked, while the others start).
            state.serving = !ended && !(troubles.length > 0 && !troubles[0].asked);
            listening.resolve(data.listening);
          } else if ("handled" in data || "unhandled" in data) {
            const id = "handled" in data ? data.handled : data.unhandled;
            const at = held.findIndex((trouble) => trouble.unless === id);
            if (ended || at < 0) return;
            if ("handled" in data) held.splice(at, 1);
            else held[at].unless = undefined; // decided: it went wrong
            // Once no verdict is pending, what was held is in, in order.
            if (held.every((trouble) => trouble.unless === undefined)) decideAll();
            take();
          } else if ("trouble" in data) {
            if (ended) return;
            const trouble = { error: revived(data.trouble, data.name), asked: data.asked };
            if ("unless" in data) held.push({ ...trouble, unless: data.unless });
            else if (held.length > 0) held.push(trouble);
            else take(trouble);
          } else if ("stopped" in data) {
            end(everything());
          } else if ("outOfDescriptors" in data) {
            // It closes connections to make room: the others must not take that room.
            for (const other of workers) {
              if (other !== state && other.serving) other.channel.postMessage(HOLD);
            }
          }
        };
        worker.onerror = (event) => {
          // Only what escapes the Worker's own watch (see _serve_worker.ts) gets here, and
          // as a message: the error itself stays in the Worker. What it told before goes
          // first, and what it posted just before it died may still be on its way (Deno
          // delivers a Worker's messages and its death apart): the end waits until a turn
          // of the event loop brings no more of them.
          event.preventDefault();
          escaped.push({ error: new Error(event.message), asked: state.asked });
          state.serving = false;
          if (!started) dying.push(stop.promise);
          let seen = -1;
          let turns = 0;
          const endOnceQuiet = () => {
            if (ended) return;
            if (seen !== messages && turns++ < QUIET_TURNS_MAX) {
              seen = messages;
              setTimeout(endOnceQuiet, 0);
              return;
            }
            // Alone, what escaped is the failure: its message is all that came across.
            end(everything());
          };
          endOnceQuiet();
        };
        const message: WorkerStart = {
          module: module.toString(),
          exportName: options.exportName ?? "handler",
          host: options.host ?? "127.0.0.1",
          port,
          options: { maxConnections: options.maxConnections, idleTimeout: options.idleTimeout },
          budget: share,
          sharers: count,
          channel: channel.port2,
        };
        worker.postMessage(message, [channel.port2]);
        return listening.promise;
      };
      const abortStart = () => void failStart(signal!.reason);
      signal?.addEventListener("abort", abortStart);
      try {
        // The first Worker picks the port (when 0 was asked for); the others share it.
        const port = await Promise.race([start(options.port ?? 0), startFailed.promise]);
        const rest: Promise<number>[] = [];
        for (let i = 1; i < count; i++) rest.push(start(port));
        await Promise.race([Promise.all(rest), startFailed.promise]);
        await Promise.race([Promise.all(dying), startFailed.promise]);
        // Aborted in the last turns of the start, after the race above had settled.
        if (signal?.aborted) throw signal.reason;
        started = true;
        const server = new WorkerServer(port, workers, stopTimeout);
        if (signal !== undefined) {
          const shutDown = () => void server.shutdown();
          signal.addEventListener("abort", shutDown, { once: true });
          server.#unlisten = () => signal.removeEventListener("abort", shutDown);
        }
        return server;
      } catch (error) {
        await new WorkerServer(0, workers, stopTimeout).shutdown();
        throw error;
      } finally {
        signal?.removeEventListener("abort", abortStart);
      }
    };
  }
}

/**
 * Serves connections on every core: starts `options.workers` Deno Workers, each running
 * {@linkcode server} with the handler `module` exports, in a scheduler of its own, all on
 * one port with `reusePort`, so that the system spreads new connections among them.
 *
 * Needs Linux and Deno's `--unstable-net` flag (for `reusePort`), and permission to read
 * the module. Each connection stays in the Worker that accepted it; Workers share no
 * memory, so state that several connections share belongs in a service they all talk to.
 * The Workers share the process's file descriptors too: the budget that keeps
 * {@linkcode server} below the limit (reckoned here, as it starts, less the few
 * descriptors each Worker opens for itself) is split evenly among them, so a Worker stops
 * accepting at its share even while another has room. (With the limit unknown, without
 * `--allow-all`, the first Worker whose accept fails for want of descriptors learns a
 * budget from what it holds, and the others hold at one for a while: see the README.) It
 * is reckoned from what is free as they start: a {@linkcode server} on the main thread (or
 * a second `serveWorkers`) reckons its own from the same descriptors, so run one server per
 * process, or give each a `maxConnections` that leaves room for the other.
 *
 * @param module The module that exports the handler, as an absolute URL, e.g.
 * `new URL("./handler.ts", import.meta.url)`.
 * @param options How many Workers, where to listen, and how each serves.
 * @returns A promise of the running {@linkcode WorkerServer}, once every Worker listens.
 * @throws {RangeError} If `options.workers` is not a positive integer, or more than the
 * file descriptors left can start (when the limit can be read: see {@linkcode server}), or
 * `options.port`, `maxConnections` or `idleTimeout` is out of range.
 * @throws {TypeError} If `module` is not an absolute URL, or an option is of the wrong type.
 * @throws {Error} If Deno runs without `--unstable-net`.
 * @throws {Error} If a Worker cannot start (say, the module has no such export), with
 * what it threw as `cause`; the others are stopped first. One that stops serving later
 * goes to `options.onWorkerError`.
 *
 * @example Two Workers serving an echo handler
 * ```ts
 * import assert from "node:assert/strict";
 * import { connect, run, serveWorkers } from "@bluelet/bluelet";
 *
 * // Usually a file of its own, e.g. new URL("./echo.ts", import.meta.url).
 * const echo = new URL(`data:text/javascript,
 *   export function* handler(conn) {
 *     for (;;) {
 *       const data = yield conn.recv(1024);
 *       if (data.length === 0) return;
 *       yield conn.sendall(data);
 *     }
 *   }`);
 * await using workers = await serveWorkers(echo, { workers: 2 });
 * await run(function* () {
 *   using conn = yield* connect("127.0.0.1", workers.port);
 *   yield* conn.sendall("hello");
 *   assert.equal(new TextDecoder().decode(yield* conn.recvExactly(5)), "hello");
 * }());
 * ```
 */
export function serveWorkers(
  module: string | URL,
  options: ServeWorkersOptions = {},
): Promise<WorkerServer> {
  return startWorkers(module, options);
}

/**
 * What a Worker reported going wrong (oldest first): the first error gives the message and
 * whether it came after the Worker was asked to stop; all of them, chained as
 * `SuppressedError`s (newest outermost), the cause.
 */
function failureOf(troubles: { error: unknown; asked: boolean }[]): Failure {
  const cause = troubles.map(({ error }) => error).reduce((older, newer) =>
    new SuppressedError(newer, older, "Another error occurred while the Worker was stopping")
  );
  return { message: messageOf(troubles[0].error), cause, asked: troubles[0].asked };
}

/**
 * The error for Worker `number`, which failed: {@linkcode serveWorkers} rejects with it
 * while the Workers start, and `onWorkerError` receives it once they have.
 */
function workerError(number: number, started: boolean, failure: Failure): Error {
  const { message, asked, ...options } = failure;
  if (!started) return new Error(`Cannot serve in a worker: ${message}`, options);
  // One asked to stop did not stop because of it: it failed at what it was asked to do.
  const what = asked ? "failed while shutting down" : "stopped serving";
  return new Error(`Worker ${number} ${what}: ${message}`, options);
}

/** The library's errors, by name, which a structured clone makes plain `Error`s. */
const NET_ERRORS: ReadonlyMap<string, new (message?: string, options?: ErrorOptions) => Error> =
  new Map(Object.values(netErrors).map((kind) => [kind.name, kind]));

/**
 * What a Worker threw, as it threw it: an error of the library's kinds (an
 * `AddressInUseError`, say), which its clone made a plain `Error`, is made that kind again,
 * so that a caller can tell it by its class.
 */
function revived(error: unknown, name: string | undefined): unknown {
  const kind = name === undefined ? undefined : NET_ERRORS.get(name);
  if (kind === undefined || !(error instanceof Error) || error.constructor === kind) return error;
  const again = new kind(error.message, "cause" in error ? { cause: error.cause } : undefined);
  again.stack = error.stack;
  return again;
}

/**
 * The message of what a Worker threw, whatever it threw, to follow another's colon: with
 * no period at its end (Deno's own messages have one), and a "Cannot" at its start in
 * lower case ("Cannot serve in a worker: cannot start server: ...").
 */
function messageOf(error: unknown): string {
  const message = error instanceof Error ? error.message : printable(error);
  return message.replace(/(?<!\.)\.$/, "").replace(/^Cannot /, "cannot ");
}

/**
 * Resolves once `state`'s Worker has stopped, or was given up on after `ms` milliseconds
 * (terminated and reported); never rejects.
 */
async function stoppedWithin(state: WorkerState, ms: number): Promise<void> {
  // setTimeout fires at once past 2^31 - 1 ms (about 25 days): that long is for ever.
  if (ms > 2 ** 31 - 1) return await state.stopped;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      // One more turn of the event loop first: on a busy main thread, the report of a
      // Worker that stopped in time may be queued behind this timer.
      timer = setTimeout(() => {
        try {
          state.giveUp(ms);
        } finally {
          resolve(); // whatever happens in reporting (see `report`), nobody waits for ever
        }
      }, 0);
    }, ms);
  });
  try {
    await Promise.race([state.stopped, late]);
  } finally {
    clearTimeout(timer);
  }
}
