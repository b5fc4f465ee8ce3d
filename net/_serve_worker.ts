// The program each Worker of `serveWorkers` runs: it imports the handler's module, serves
// with `server` on a shared port (`reusePort`) in a scheduler of its own, and tells the
// main thread when it listens and when it has stopped. Shutdown ends the run, which kills
// the server: the listener closes and every handler's `finally` runs.
//
// Code in the handler's module can end its Worker outside any connection, where no server
// catches it: an error thrown from a timer, a rejection nobody handles, `close()`,
// `Deno.exit()`. Left alone, Deno would end the Worker on the spot and tell the main thread
// at most a line of text (nothing at all for `close` and `exit`). So the Worker watches for
// these itself: it tells the main thread the error at once, stops serving the way
// shutdown does, says it has stopped, and closes.
//
// The same watch runs while the Worker is asked to stop: what goes wrong then (the module
// throws meanwhile, or a handler's cleanup can never end and the run ends in a deadlock)
// did not stop it, but is reported all the same, as having happened while it stopped.
//
// This program takes over the Worker that loads it (its first message, `Event.prototype`,
// `EventTarget.prototype.addEventListener`), so only `serveWorkers` loads it, by URL:
// nothing imports it. It talks to the main thread over a channel of their own
// (`WorkerStart.channel`); the Worker's global messages are the module's.
import { run } from "../scheduler/mod.ts";
import { useBudget } from "./_fd_guard.ts";
import { server } from "./server.ts";
import type { Connection } from "./connection.ts";
import type { Coroutine } from "../scheduler/mod.ts";
import { printable, SHUTDOWN, type WorkerReport, type WorkerStart } from "./_worker_protocol.ts";

interface WorkerScope {
  onmessage: ((event: MessageEvent) => void) | null;
  addEventListener(type: "error", listener: (event: ErrorEvent) => void): void;
  addEventListener(
    type: "unhandledrejection",
    listener: (event: PromiseRejectionEvent) => void,
  ): void;
  close(): void;
}

async function serveInWorker(scope: WorkerScope, start: WorkerStart): Promise<void> {
  const stop = new AbortController();
  let asked = false;
  const channel = start.channel;
  channel.onmessage = ({ data }) => {
    if (data !== SHUTDOWN) return;
    asked = true;
    stop.abort();
  };
  // Told at once, and never throws: the main thread may terminate a Worker that takes too
  // long to stop, and whatever it was not told by then is lost.
  const tell = (error: unknown): void => post(channel, { trouble: cloneable(error), asked });
  // The first failure stops the Worker unasked, unless it was asked already; every one is
  // reported, those that come while it stops too.
  const fail = (error: unknown): void => {
    tell(error);
    stop.abort();
  };
  // An error event's error is told before the module's own listeners of it run: one that
  // throws, or calls `Deno.exit`, ends the Worker on the spot, and it would be lost. One
  // that handles it (as a module may, to keep its Worker going, as in any Deno Worker) has
  // the main thread told so at once. A listener kept after the module's (see `keepLast`)
  // prevents the default of an event that none of them handled and that Node's `process`
  // will not take after the dispatch: a Worker that fails must live until its server has
  // stopped. Until then the event is left as the module's listeners expect to find it.
  // Once the dispatch is over, the main thread is told if nothing handled it, and the
  // Worker stops: from a microtask, so that what else failed in the same turn is told
  // first and fails a start together.
  let events = 0;
  const lastListeners = new WeakMap<Event, () => void>();
  const tellAtOnce = (event: Event, error: unknown): void => {
    if (event.defaultPrevented || lastListeners.has(event)) return; // handled, or told
    const unless = ++events;
    let decided = false;
    let preventedHere = false;
    post(channel, { trouble: cloneable(error), asked, unless });
    const handled = (): void => {
      if (decided) return;
      decided = true;
      watching.delete(event);
      post(channel, { handled: unless });
    };
    watching.set(event, handled);
    lastListeners.set(event, () => {
      if (decided || event.defaultPrevented || takenByProcess(event)) return;
      preventedHere = true;
      preventDefault.call(event);
    });
    // Also where the last listener did not run: a listener stopped the propagation.
    queueMicrotask(() => {
      if (decided) return;
      if (!preventedHere && (event.defaultPrevented || takenByProcess(event))) return handled();
      decided = true;
      watching.delete(event);
      post(channel, { unhandled: unless });
      stop.abort();
    });
  };
  const lastListener = (event: Event): void => lastListeners.get(event)?.();
  scope.addEventListener("error", (event) => tellAtOnce(event, event.error ?? event.message));
  scope.addEventListener("unhandledrejection", (event) => tellAtOnce(event, event.reason));
  keepLast({ error: lastListener, unhandledrejection: lastListener });
  const close = scope.close.bind(scope);
  // The Worker closes once its server has stopped; the error gives where it was called.
  scope.close = () => fail(new Error("close() was called"));
  const exit = Deno.exit;
  // `exit` must not return, so this one cannot wait for the server: it reports, and the
  // listener closes with the Worker, a moment later.
  (Deno as { exit: typeof Deno.exit }).exit = (code) => {
    tell(new Error(`Deno.exit(${code ?? ""}) was called`));
    post(channel, { stopped: true });
    return exit(code);
  };
  // A module that never finishes loading must not keep its Worker from stopping.
  const aborted = new Promise<never>((_, reject) => {
    stop.signal.addEventListener("abort", () => reject(stop.signal.reason), { once: true });
  });
  aborted.catch(() => {}); // awaited only while the module loads
  try {
    useBudget(start.budget);
    const module = await Promise.race([import(start.module), aborted]);
    const handler = module[start.exportName] as (conn: Connection) => Coroutine<unknown>;
    if (typeof handler !== "function") {
      throw new TypeError(
        `${start.module} exports no function named ${start.exportName}`,
      );
    }
    await run(
      server(start.host, start.port, handler, {
        ...start.options,
        reusePort: true,
        onListen: (addr) => post(channel, { listening: (addr as Deno.NetAddr).port }),
      }),
      { signal: stop.signal },
    );
  } catch (error) {
    // The stop's reason is how the run ends when the Worker is asked to stop, or must. What
    // the run chained to it went wrong as it ended (a handler's cleanup that can never end,
    // say): not to be dropped.
    for (const each of unchain(error)) {
      if (!(stop.signal.aborted && each === stop.signal.reason)) tell(each);
    }
  }
  // Closing a listener drops its socket once its cancelled accept is polled: let the
  // event loop turn, so that the port is free when the main thread hears of the stop.
  await new Promise((resolve) => setTimeout(resolve, 0));
  post(channel, { stopped: true });
  // Module code left to run (a timer) could fail with nobody left to hear of it.
  close();
}

/**
 * The errors in a chain of `SuppressedError`s (as a run that fails as it ends rejects
 * with), oldest first: a `SuppressedError` arrives across as a plain `Error`, its links lost.
 */
function unchain(error: unknown): unknown[] {
  if (!(error instanceof SuppressedError)) return [error];
  return [...unchain(error.suppressed), ...unchain(error.error)];
}

/**
 * Whether Node's `process` will take `event` once its dispatch is over: an unhandled
 * rejection goes to `process.on("unhandledRejection")` listeners then, and the Worker goes
 * on. (Its `uncaughtException` listeners listen for `error` events like any other.)
 */
function takenByProcess(event: Event): boolean {
  if (event.type !== "unhandledrejection") return false;
  return (nodeProcess?.listenerCount?.("unhandledRejection") ?? 0) > 0;
}

/**
 * Adds `listeners` to the Worker's global scope, and keeps each the last of its type
 * however many the module adds later (directly, through `onerror`, or through Node's
 * `process.on`), so that it sees what they all did with an event. A listener added during
 * a dispatch is left out of that dispatch, which the caller must allow for.
 */
function keepLast(listeners: Record<string, (event: Event) => void>): void {
  const add = EventTarget.prototype.addEventListener;
  const remove = EventTarget.prototype.removeEventListener;
  const lasts = new Map(Object.entries(listeners));
  for (const [type, listener] of lasts) add.call(globalThis, type, listener);
  Object.defineProperty(EventTarget.prototype, "addEventListener", {
    value: function (
      this: EventTarget | undefined,
      type: string,
      listener: EventListenerOrEventListenerObject | null,
      options?: boolean | AddEventListenerOptions,
    ): void {
      add.call(this, type, listener, options);
      // Called unqualified, as a global function, `this` is undefined.
      const target = this ?? globalThis;
      const last = target === globalThis ? lasts.get(type) : undefined;
      if (last === undefined || listener === last) return;
      remove.call(target, type, last);
      add.call(target, type, last);
    },
    writable: true,
    configurable: true,
  });
}

/** Error events being watched, each with what marks it handled (see `tellAtOnce`). */
const watching = new WeakMap<Event, () => void>();
/** The real `preventDefault`: the Worker's own call must not count as handling. */
const preventDefault = Event.prototype.preventDefault;

/**
 * Sees every way a module can handle an event while it is watched: `preventDefault()`,
 * called on the event or through `Event.prototype`, and `returnValue = false`. Only in a
 * Worker of `serveWorkers`, before the module loads.
 */
function watchHandling(): void {
  Object.defineProperty(Event.prototype, "preventDefault", {
    value: function (this: Event): void {
      watching.get(this)?.();
      preventDefault.call(this);
    },
    writable: true,
    configurable: true,
  });
  const returnValue = Object.getOwnPropertyDescriptor(Event.prototype, "returnValue");
  const set = returnValue?.set;
  if (set === undefined) return;
  Object.defineProperty(Event.prototype, "returnValue", {
    ...returnValue,
    set(this: Event, value: boolean): void {
      if (!value) watching.get(this)?.();
      set.call(this, value);
    },
  });
}

/** Posts `report`; one that cannot be posted (see `cloneable`) is told as a plain error. */
function post(channel: MessagePort, report: WorkerReport): void {
  try {
    channel.postMessage(report);
  } catch {
    const trouble = new Error(UNPRINTABLE);
    channel.postMessage("trouble" in report ? { ...report, trouble } : { trouble, asked: false });
  }
}

const UNPRINTABLE = "a value that can be neither cloned nor printed was thrown";

/**
 * `error`, or, if it cannot be posted (it holds a function, say) or printed once posted,
 * an `Error` with its message and stack that can. Never throws, whatever was thrown (a
 * revoked proxy, say).
 */
function cloneable(error: unknown): unknown {
  try {
    const copy = structuredClone(error);
    // What arrives must be printable too: the main thread makes a message of it.
    if (!(copy instanceof Error)) String(copy);
    return error;
  } catch {
    try {
      const copy = new Error(error instanceof Error ? String(error.message) : printable(error));
      if (error instanceof Error) copy.stack = String(error.stack);
      return copy;
    } catch {
      return new Error(UNPRINTABLE);
    }
  }
}

/**
 * Node's `process`, which Deno makes on first use. Made here, before the module loads:
 * made during an event's dispatch, it would run the microtasks queued so far.
 */
let nodeProcess: { listenerCount?(name: string): number } | undefined;

if ("WorkerGlobalScope" in globalThis) {
  nodeProcess = (globalThis as { process?: typeof nodeProcess }).process;
  watchHandling();
  const scope = globalThis as unknown as WorkerScope;
  // The start is the one message for this program on the Worker's own channel: the rest
  // of that channel is the module's.
  scope.onmessage = ({ data }) => {
    scope.onmessage = null;
    void serveInWorker(scope, data as WorkerStart);
  };
}
