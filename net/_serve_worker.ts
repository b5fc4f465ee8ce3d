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
// To tell Deno's error events from the module's own, it reports an error and a rejection
// of its own as it starts, before the module loads, and learns which of Deno's functions
// dispatch them.
//
// This program takes over the Worker that loads it (its first message, `Event.prototype`),
// so only `serveWorkers` loads it, by URL: nothing imports it. It talks to the main
// thread over a channel of their own (`WorkerStart.channel`); the Worker's global messages
// are the module's.
import { run } from "../scheduler/mod.ts";
import { descriptorGuard, useBudget } from "./_fd_guard.ts";
import { server } from "./server.ts";
import type { Connection } from "./connection.ts";
import type { Coroutine } from "../scheduler/mod.ts";
import {
  HOLD,
  printable,
  SHUTDOWN,
  type WorkerReport,
  type WorkerStart,
} from "./_worker_protocol.ts";

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
    if (data === HOLD) return descriptorGuard().hold();
    if (data !== SHUTDOWN) return;
    asked = true;
    stop.abort();
  };
  // Told at once, and never throws: the main thread may terminate a Worker that takes too
  // long to stop, and whatever it was not told by then is lost.
  const tell = (error: unknown): void =>
    post(channel, { trouble: cloneable(error), name: nameOf(error), asked });
  // The first failure stops the Worker unasked, unless it was asked already; every one is
  // reported, those that come while it stops too.
  const fail = (error: unknown): void => {
    tell(error);
    stop.abort();
  };
  // An error event's error is told before the module's own listeners of it run: one that
  // throws, or calls `Deno.exit`, ends the Worker on the spot, and it would be lost. One
  // that handles it (as a module may, to keep its Worker going, as in any Deno Worker) has
  // the main thread told so at once; once the dispatch is over, the main thread is told
  // if none did, and the Worker stops. Its default is prevented meanwhile, whatever the
  // module's listeners do (a Worker that fails must live until its server has stopped),
  // but hidden from the module (see `watchHandling`): it finds the event as Deno
  // dispatches it, and Deno hands a rejection that Node's `process` listens for to it.
  let events = 0;
  const failUnlessHandled = (event: Event, error: unknown, here: Stack): void => {
    // Told already: dispatched again, by the module, so Deno's dispatch is over (see
    // `heard`).
    if (watching.has(event)) return void heard.delete(event);
    // Prevented before its dispatch (only a module's own event can be: this listener is
    // the first on the global scope).
    if (event.defaultPrevented) return;
    // An event the module made and dispatched itself (an event bus, say) never ends a
    // Worker, unless the stack cannot tell (see `dispatchedByDeno`); Deno's own are
    // cancelable, of their proper class, and dispatched by Deno.
    if (!event.cancelable || !dispatchedByDeno(event, here)) return;
    heard.add(event);
    const unless = ++events;
    post(channel, { trouble: cloneable(error), name: nameOf(error), asked, unless });
    const watch: Watch = {
      handled: false,
      decided: false,
      putOff: false,
      onHandled: () => {
        watch.decided = true;
        post(channel, { handled: unless });
      },
    };
    watching.set(event, watch);
    preventDefault.call(event);
    const verdict = (): void => {
      // Run by a microtask checkpoint inside a listener (one that made a global Deno makes
      // on first use, say): the other listeners are still to come.
      if (event.eventPhase !== NONE) return void setTimeout(verdict, 0);
      // Deno's dispatch of it is over: a later one is the module's (see `heard`).
      heard.delete(event);
      if (watch.decided) return;
      // Or inside Deno's hand-off to `process`, whose own listener did that: `process`
      // prevents the default once its listeners have run.
      if (takenByProcess(event) && !watch.putOff) {
        watch.putOff = true;
        return void setTimeout(verdict, 0);
      }
      watch.decided = true;
      post(channel, { unhandled: unless });
      stop.abort();
    };
    queueMicrotask(verdict);
  };
  scope.addEventListener("error", (event) => {
    failUnlessHandled(event, event.error ?? event.message, stackHere());
  });
  scope.addEventListener("unhandledrejection", (event) => {
    failUnlessHandled(event, event.reason, stackHere());
  });
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
    useBudget(start.budget, start.sharers);
    descriptorGuard().onOutOfDescriptors = () => post(channel, { outOfDescriptors: true });
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

/** What the Worker knows of an error event it watches (see `failUnlessHandled`). */
interface Watch {
  /** Whether the module (or Node's `process`) handled it. */
  handled: boolean;
  /** Whether the main thread has been told its verdict: handled or not. */
  decided: boolean;
  /** Whether the verdict was put off to a later turn. */
  putOff: boolean;
  /** Tells the main thread that it was handled. */
  onHandled: () => void;
}

/** Error events being watched. */
const watching = new WeakMap<Event, Watch>();
/** The real `preventDefault`: the Worker's own call must not count as handling. */
const preventDefault = Event.prototype.preventDefault;

/** What V8 gives of a stack frame, to `Error.prepareStackTrace`. */
interface CallSite {
  getFunctionName(): string | null;
  getFileName(): string | null;
}

/** A stack frame: its function's name, without its receiver (`Object.emit` is `emit`). */
interface Frame {
  name: string;
  file: string;
}

// Taken as this program loads, before the module can replace them.
const NativeError = Error;
const NativeErrorEvent = ErrorEvent;
const NativePromiseRejectionEvent = PromiseRejectionEvent;
const NONE = Event.NONE;

/**
 * The functions of Deno's that dispatch the error events it reports: in Deno 2,
 * `reportException` (an uncaught error, `reportError`) and
 * `processUnhandledPromiseRejection`; and any other that `learnDispatchers` finds.
 */
const denoDispatchers = new Set(["reportException", "processUnhandledPromiseRejection"]);
/**
 * Deno's code that runs a function it is given, which a module may wrap `dispatchEvent` in
 * (`AsyncLocalStorage.run`, a domain, an `EventEmitter`): passed over by the short guess
 * of `dispatchedByDeno`.
 */
const WRAPPERS = /^ext:deno_node\/(async_hooks|domain|_events|events)\b/;
/**
 * Deno's code that hands an event it reports to Node's `process`: below it, a dispatch was
 * the doing of the module's `process` listener.
 */
const HANDOFFS = new Set(["nodeProcessUnhandledRejectionCallback"]);
/** How many frames are read first, if `Error.stackTraceLimit` can be set; then all. */
const FRAMES = 32;
/**
 * Deno's error events the Worker has heard whose dispatch by Deno is not over yet: each
 * has its dispatcher on the stack (see `dispatchedByDeno`), and handling it counts (see
 * `watchHandling`).
 */
const heard = new Set<Event>();

/** A function's name without its receiver: `Object.emit [as emit]` is `emit`. */
const bare = (name: string): string => name.replace(/ \[as .*\]$/, "").replace(/^.*\./, "");

/** Makes V8 give a stack as frames (see `Error.prepareStackTrace`). */
const asFrames = (_: Error, sites: CallSite[]): Frame[] =>
  sites.map((site) => ({
    name: bare(site.getFunctionName() ?? ""),
    file: site.getFileName() ?? "",
  }));

/** A stack taken where an error event is heard, and the limit it was taken to. */
interface Stack {
  error: Error | undefined;
  limit: number;
  /** Whether that limit was the module's, not one set here. */
  fixed: boolean;
}

/**
 * Takes the stack at its caller, to as many frames as `Error.stackTraceLimit` can be set
 * to; their names are read later (see `frames`), as V8 allows. Called right in a listener,
 * so that few of the Worker's own frames take up a limit the module fixed. Never throws,
 * whatever the module did to `Error` (froze it, made a property read-only or a getter
 * that throws).
 */
function stackHere(depth = FRAMES): Stack {
  const error = NativeError as unknown as Record<string, unknown>;
  let limit: unknown;
  try {
    limit = error.stackTraceLimit;
  } catch {
    return { error: undefined, limit: 0, fixed: true };
  }
  const raised = setOn(error, "stackTraceLimit", depth);
  let here: Error | undefined;
  try {
    here = new NativeError();
  } catch {
    here = undefined;
  }
  if (raised) setOn(error, "stackTraceLimit", limit);
  const fixed = typeof limit === "number" ? limit : 10;
  return { error: here, limit: raised ? depth : fixed, fixed: !raised };
}

/** Sets `object[name]`, saying whether it took; never throws. */
function setOn(object: Record<string, unknown>, name: string, value: unknown): boolean {
  try {
    object[name] = value;
    return object[name] === value;
  } catch {
    return false;
  }
}

/**
 * The frames of a stack that `stackHere` took, innermost first, and whether its limit cut
 * it short; null if they cannot be read. Never throws, whatever the module did to `Error`
 * (with a `prepareStackTrace` of its own that cannot be replaced, V8's text is read, if
 * that is what it gives).
 */
function frames(stack: Stack): { frames: Frame[]; cut: boolean } | null {
  const error = NativeError as unknown as Record<string, unknown>;
  if (stack.error === undefined) return null;
  let prepareStackTrace: unknown;
  try {
    prepareStackTrace = error.prepareStackTrace;
  } catch {
    return null;
  }
  const structured = setOn(error, "prepareStackTrace", asFrames);
  let taken: unknown;
  try {
    taken = stack.error.stack;
  } catch {
    taken = undefined;
  }
  if (structured) setOn(error, "prepareStackTrace", prepareStackTrace);
  try {
    let list: Frame[];
    if (structured && Array.isArray(taken)) list = taken;
    else if (typeof taken === "string") {
      // V8's text: "    at name (file:line:column)", or "    at file:line:column".
      list = taken.split("\n").slice(1).map((line) => {
        const [, name = "", file = ""] = /^\s*at (?:(.*?) \()?(.*?)(?::\d+)*\)?$/.exec(line) ?? [];
        return { name: bare(name), file };
      });
    } else return null;
    return { frames: list, cut: list.length >= stack.limit };
  } catch {
    return null;
  }
}

/**
 * Whether the error event being dispatched is one of Deno's own: an `ErrorEvent` or a
 * `PromiseRejectionEvent` dispatched by Deno's code (an uncaught error, an unhandled
 * rejection, `reportError`), not by the module (its own code, a timer or a promise
 * reaction it set, a callback of its own while Deno reports an error). Told by the stack
 * `here`, where the event was heard. When it cannot tell (cut short by a limit the module
 * fixed, say), the event counts as Deno's.
 */
function dispatchedByDeno(event: Event, here: Stack): boolean {
  if (!(event instanceof NativeErrorEvent || event instanceof NativePromiseRejectionEvent)) {
    return false;
  }
  for (const done of heard) if (done.eventPhase === NONE) heard.delete(done);
  for (let stack = frames(here);; stack = frames(here = stackHere(Infinity))) {
    const at = stack?.frames.findIndex((frame) => isDenos(frame, "dispatchEvent")) ?? -1;
    if (stack === null || at < 0) return true;
    // Below, past the module's code and whatever of Deno's it ran it through: one of Deno's
    // dispatchers dispatching this event. Each Deno event the Worker heard and is still
    // being dispatched has one of its own further down (a listener of it may be relaying
    // an event of its own), so this event is Deno's only if there are more. A dispatcher
    // does not count where it called Deno's core instead (to format an error, which runs
    // the module's getters); Node's `process` hand-off runs the module's listeners.
    let dispatchers = 0;
    let previous: Frame | undefined;
    for (const frame of stack.frames.slice(at + 1)) {
      if (HANDOFFS.has(frame.name) && isDenos(frame)) return false;
      if (denoDispatchers.has(frame.name) && isDenos(frame)) {
        const called = previous === undefined || !previous.file.startsWith("ext:core/");
        if (called && ++dispatchers > heard.size) return true;
      }
      previous = frame;
    }
    if (!stack.cut) return false;
    // Cut short by a limit the module fixed, so no dispatcher may be in sight: a guess, by
    // the first of Deno's frames below that is not a wrapper. By the first look: look again.
    if (here.fixed) {
      const below = stack.frames.slice(at + 1);
      const first = below.find((frame) => isDenos(frame) && !WRAPPERS.test(frame.file));
      return first === undefined || denoDispatchers.has(first.name);
    }
  }
}

/** Whether `frame` is in Deno's own code (and its function is named `name`, if given). */
function isDenos(frame: Frame, name?: string): boolean {
  const own = frame.file.startsWith("ext:") || frame.file.startsWith("node:");
  return own && (name === undefined || frame.name === name);
}

/**
 * Learns which of Deno's functions dispatch the error events it reports, from an error
 * and a rejection that the Worker reports itself (and handles) before the module loads.
 */
function learnDispatchers(): Promise<void> {
  const probe = new NativeError("serveWorkers probe");
  let rejectionSeen: () => void;
  const seen = new Promise<void>((resolve) => rejectionSeen = resolve);
  const listener = (event: Event): void => {
    const reason = (event as ErrorEvent).error ?? (event as PromiseRejectionEvent).reason;
    if (reason !== probe) return;
    preventDefault.call(event);
    const stack = frames(stackHere())?.frames ?? [];
    const caller = stack[stack.findIndex((frame) => isDenos(frame, "dispatchEvent")) + 1];
    if (caller !== undefined && isDenos(caller) && caller.name) denoDispatchers.add(caller.name);
    if (event.type === "unhandledrejection") rejectionSeen();
  };
  addEventListener("error", listener);
  addEventListener("unhandledrejection", listener);
  reportError(probe);
  const rejected = Promise.reject(probe);
  // A rejection is reported once the microtasks run out; a second's wait bounds that.
  let timer: ReturnType<typeof setTimeout>;
  const bound = new Promise<void>((resolve) => timer = setTimeout(resolve, 1000));
  return Promise.race([seen, bound]).finally(() => {
    clearTimeout(timer);
    removeEventListener("error", listener);
    removeEventListener("unhandledrejection", listener);
    rejected.catch(() => {}); // not reported yet (never seen so far): never, then
  });
}

/**
 * Whether Deno hands `event` to Node's `process` once its dispatch is over, unless its
 * default was prevented: an unhandled rejection, when `process` has `unhandledRejection`
 * or `uncaughtException` listeners, or a capture callback. (Those hear of `error` events
 * through a listener like any other.)
 */
function takenByProcess(event: Event): boolean {
  if (event.type !== "unhandledrejection" || nodeProcess === undefined) return false;
  return nodeProcess.listenerCount("unhandledRejection") > 0 ||
    nodeProcess.listenerCount("uncaughtException") > 0 ||
    nodeProcess.hasUncaughtExceptionCaptureCallback?.() === true;
}

/**
 * Whether `event` is in a passive listener now, whose `preventDefault()` Deno ignores. Read
 * from Deno's own flag on the event, if it has one by that name; without it, such a call
 * counts as handling.
 */
function inPassiveListener(event: Event): boolean {
  const flag = Object.getOwnPropertySymbols(event)
    .find((symbol) => symbol.description === "[[inPassiveListener]]");
  return flag !== undefined && (event as unknown as Record<symbol, unknown>)[flag] === true;
}

/**
 * Node's `process`, which Deno makes on first use. Made as this program starts, before
 * the module loads: made during an event's dispatch, it would run the microtasks queued
 * so far, verdicts among them.
 */
let nodeProcess: {
  listenerCount(name: string): number;
  hasUncaughtExceptionCaptureCallback?(): boolean;
} | undefined;

/**
 * Sees every way a module can handle an event while it is watched: `preventDefault()`,
 * called on the event or through `Event.prototype`, and `returnValue = false`, where Deno
 * would heed them; and hides from the module that the Worker prevented the event's
 * default (`defaultPrevented`, `returnValue`). Only in a Worker of `serveWorkers`, before
 * the module loads.
 */
function watchHandling(): void {
  const handle = (event: Event): void => {
    const watch = watching.get(event);
    if (watch === undefined || watch.decided || inPassiveListener(event)) return;
    // Once the dispatch is over, Deno has decided, except for what it hands to `process`;
    // a dispatch of the module's own (again, or on another target) comes after.
    const heeded = event.eventPhase === NONE
      ? takenByProcess(event)
      : heard.has(event) && event.currentTarget === globalThis;
    if (!heeded) return;
    watch.handled = true;
    watch.onHandled();
  };
  // What `defaultPrevented` reads as, for a watched event: what the module's own doings
  // make it, during the dispatch and after the verdict. In between, right after the
  // dispatch, Deno reads it to decide: if it reads false, Deno hands the rejection to
  // `process` (which prevents the default itself) or, with no taker, ends the Worker.
  const prevented = (event: Event, watch: Watch): boolean => {
    if (watch.handled || event.eventPhase !== NONE || watch.decided) return watch.handled;
    return !takenByProcess(event);
  };
  Object.defineProperty(Event.prototype, "preventDefault", {
    value: function (this: Event): void {
      handle(this);
      preventDefault.call(this);
    },
    writable: true,
    configurable: true,
  });
  const defaultPrevented = Object.getOwnPropertyDescriptor(Event.prototype, "defaultPrevented");
  const getPrevented = defaultPrevented?.get;
  if (getPrevented !== undefined) {
    Object.defineProperty(Event.prototype, "defaultPrevented", {
      ...defaultPrevented,
      get(this: Event): boolean {
        const watch = watching.get(this);
        return watch === undefined ? getPrevented.call(this) : prevented(this, watch);
      },
    });
  }
  const returnValue = Object.getOwnPropertyDescriptor(Event.prototype, "returnValue");
  const getReturn = returnValue?.get;
  const setReturn = returnValue?.set;
  if (getReturn === undefined || setReturn === undefined) return;
  Object.defineProperty(Event.prototype, "returnValue", {
    ...returnValue,
    get(this: Event): boolean {
      const watch = watching.get(this);
      return watch === undefined ? getReturn.call(this) : !prevented(this, watch);
    },
    set(this: Event, value: boolean): void {
      if (!value) handle(this);
      setReturn.call(this, value);
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
 * The name of a library error (`AddressInUseError`), for the main thread to make it again.
 * Only the library's own, from whichever copy of it the module imported (another URL or
 * version than this one's, whose NetError is another class, of the same name): a module's
 * error that is merely named so stays what it is.
 */
function nameOf(error: unknown): string | undefined {
  try {
    if (!(error instanceof Error)) return undefined;
    for (let p = Object.getPrototypeOf(error); p !== null; p = Object.getPrototypeOf(p)) {
      if (p.constructor?.name === "NetError") return String(error.name);
    }
    return undefined;
  } catch {
    return undefined; // a getter that throws, a revoked Proxy
  }
}

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

if ("WorkerGlobalScope" in globalThis) {
  nodeProcess = (globalThis as { process?: typeof nodeProcess }).process;
  const learned = learnDispatchers();
  watchHandling();
  const scope = globalThis as unknown as WorkerScope;
  // The start is the one message for this program on the Worker's own channel: the rest
  // of that channel is the module's.
  scope.onmessage = ({ data }) => {
    scope.onmessage = null;
    void learned.then(() => serveInWorker(scope, data as WorkerStart));
  };
}
