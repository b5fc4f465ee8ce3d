// A handler for the serveWorkers tests whose Worker dies when asked, the ways code in a
// handler's module can end one outside any connection: a line "throw" has it throw from a
// timer, "reject" leave a promise rejection unhandled, "close" call `close()`, "exit" call
// `Deno.exit(3)`, "odd" throw a value that can be neither cloned nor printed,
// "unprintable" one that can be cloned but not printed, "throw, then hang" throw from a
// timer and hang in its cleanup, "revoked" leave a rejection with a
// revoked proxy unhandled; "dispatch" does not die: it dispatches `error` and
// `unhandledrejection` events of its own on the global scope, as an event bus might. Every
// line is first answered with the name of the Worker that serves it.
//
// The module URL's hash can give it global `error` and `unhandledrejection` listeners of
// its own that hear of the error and leave it unhandled: "#stops" calls
// `stopImmediatePropagation()`; "#adds" adds a listener during the dispatch (one added
// with `once` that adds itself again); "#lazy" makes a global that Deno makes on first use
// (`Buffer`), which runs the microtasks queued so far; "#late" does that too, and calls
// `preventDefault()` from a microtask, once the dispatch is over, too late for Deno;
// "#passive" calls `preventDefault()` in a passive listener, which Deno ignores; "#drops"
// removes the `process.on("unhandledRejection")` listener it had, so that nothing takes
// the rejection; "#redispatches" makes that global, and dispatches the event again, on a
// target of its own whose listener calls `preventDefault()`, too late for Deno. Other
// hashes do what some modules do to the globals: "#wraps" wraps `dispatchEvent`;
// "#binds" wraps it through Node's `AsyncLocalStorage`; "#emits" wraps it in a function
// named `emit` that sends every event through a Node `EventEmitter`; "#buses" sends every
// event through an `EventTarget` of its own as the detail of another; "#deprecates" wraps
// it with Node's `util.deprecate`; "#freezes" freezes
// `Error`; "#limits" makes `Error.stackTraceLimit` read-only; "#short" makes it read-only at
// 8, fewer frames than its own listener takes; "#hides" makes `Error.prepareStackTrace` a
// getter that throws; "#replaces" replaces `ErrorEvent` and `PromiseRejectionEvent` with
// classes of its own.
import { AsyncLocalStorage } from "node:async_hooks";
import { EventEmitter } from "node:events";
import process from "node:process";
import { deprecate } from "node:util";
import { type Connection, type Coroutine, until } from "../../mod.ts";

const makeLazyGlobal = () => void (globalThis as { Buffer?: unknown }).Buffer;
const onProcessRejection = () => {};
const how = new URL(import.meta.url).hash.slice(1);
const listener = {
  stops: (event: Event) => event.stopImmediatePropagation(),
  adds: function again(event: Event) {
    addEventListener(event.type, again, { once: true });
  },
  lazy: makeLazyGlobal,
  late: (event: Event) => {
    makeLazyGlobal();
    queueMicrotask(() => event.preventDefault());
  },
  passive: (event: Event) => event.preventDefault(),
  drops: () => void process.off("unhandledRejection", onProcessRejection),
  redispatches: (event: Event) => {
    makeLazyGlobal();
    queueMicrotask(() => {
      const bus = new EventTarget();
      bus.addEventListener(event.type, (again) => again.preventDefault());
      bus.dispatchEvent(event);
    });
  },
}[how];
if (listener !== undefined) {
  const options = { once: true, passive: how === "passive" };
  addEventListener("error", listener, options);
  addEventListener("unhandledrejection", listener, options);
}
if (how === "drops") process.on("unhandledRejection", onProcessRejection);
if (how === "wraps") {
  const dispatch = EventTarget.prototype.dispatchEvent;
  EventTarget.prototype.dispatchEvent = function dispatchEvent(this: EventTarget, event) {
    return dispatch.call(this, event);
  };
}
if (how === "binds") {
  const context = new AsyncLocalStorage<string>();
  const dispatch = EventTarget.prototype.dispatchEvent;
  EventTarget.prototype.dispatchEvent = function (this: EventTarget, event) {
    return context.run("dispatching", () => dispatch.call(this, event));
  };
}
if (how === "emits") {
  const bus = new EventEmitter();
  const dispatch = EventTarget.prototype.dispatchEvent;
  let result = true;
  bus.on("event", (target: EventTarget, event: Event) => result = dispatch.call(target, event));
  EventTarget.prototype.dispatchEvent = function emit(this: EventTarget, event) {
    bus.emit("event", this, event);
    return result;
  };
}
if (how.startsWith("buses")) {
  const bus = new EventTarget();
  const dispatch = EventTarget.prototype.dispatchEvent;
  let result = true;
  bus.addEventListener("relay", (relay) => {
    const { target, event } = (relay as CustomEvent<{ target: EventTarget; event: Event }>).detail;
    result = dispatch.call(target, event);
  });
  EventTarget.prototype.dispatchEvent = function (this: EventTarget, event) {
    if (this === bus) return dispatch.call(this, event);
    dispatch.call(bus, new CustomEvent("relay", { detail: { target: this, event } }));
    return result;
  };
}
// With "#buses-reports", its rejection listener handles the rejection, then reports an
// error of its own with `reportError`, which nothing handles.
if (how === "buses-reports") {
  addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    reportError(new Error("reported while handling"));
  });
}
if (how === "deprecates") {
  const scope = globalThis as { dispatchEvent: (event: Event) => boolean };
  scope.dispatchEvent = deprecate(scope.dispatchEvent.bind(globalThis), "dispatchEvent");
}
// With "#replays", its rejection listener handles the rejection and keeps the event; a line
// "replay" dispatches it again on a target of its own, whose listener throws "B".
let kept: Event | undefined;
if (how === "replays") {
  addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    kept = event;
  });
}
if (how === "freezes") Object.freeze(Error);
if (how === "limits" || how === "short") {
  const value = how === "limits" ? 10 : 8;
  Object.defineProperty(Error, "stackTraceLimit", { value, writable: false });
}
if (how === "hides") {
  Object.defineProperty(Error, "prepareStackTrace", {
    get() {
      throw new Error("not for you");
    },
  });
}
if (how === "replaces") {
  const scope = globalThis as { ErrorEvent: unknown; PromiseRejectionEvent: unknown };
  scope.ErrorEvent = class extends ErrorEvent {};
  scope.PromiseRejectionEvent = class extends PromiseRejectionEvent {};
}

/**
 * Dispatches `error` and `unhandledrejection` events of its own, of every shape: not
 * cancelable (nothing can prevent their default), cancelable as Deno's are, and a plain
 * event of that type (as Bluebird's warnings are); some by code of its own, some by a
 * timer, a promise reaction or a built-in. Calls `done` once they have all been.
 */
function dispatchOwn(done: () => void): void {
  for (const cancelable of [false, true]) {
    const error = new Error("an event of its own");
    dispatchEvent(new ErrorEvent("error", { error, cancelable }));
    const promise = Promise.resolve();
    const reason = "own";
    dispatchEvent(new PromiseRejectionEvent("unhandledrejection", { promise, reason, cancelable }));
  }
  dispatchEvent(new CustomEvent("unhandledrejection", { cancelable: true, detail: "own" }));
  const error = new Error("an event of its own");
  const event = () => new ErrorEvent("error", { error, cancelable: true });
  const dispatch = dispatchEvent.bind(globalThis);
  // Deep in calls of its own, as in a framework, unless the stack is kept short.
  const deep = (depth: number): unknown => depth === 0 ? dispatch(event()) : deep(depth - 1);
  if (how === "") deep(300);
  // An event of its own from the message of an error Deno reports: Deno's code calls the
  // module's getter as it builds its event.
  const reported = new Error();
  Object.defineProperty(reported, "message", {
    get: () => (dispatch(event()), "its message"),
  });
  addEventListener("error", (heard) => heard.error === reported && heard.preventDefault());
  reportError(reported);
  [event()].forEach(dispatch);
  void Promise.resolve(event()).then(dispatch);
  setTimeout(
    (last: Event) => {
      dispatch(last);
      done();
    },
    0,
    event(),
  );
}

const decoder = new TextDecoder();

/** Replies to every line with this Worker's name, then does what the line asks. */
export function* handler(conn: Connection): Coroutine<void> {
  const name = (globalThis as unknown as { name: string }).name;
  for (;;) {
    const line = decoder.decode(yield* conn.readline()).trim();
    if (line === "") return;
    yield* conn.sendall(`${name}\n`);
    // Outside the handler's thread, where no server can catch them.
    if (line === "throw") {
      setTimeout(() => {
        throw new Error("thrown from a timer");
      });
    } else if (line === "reject") {
      setTimeout(() => void Promise.reject(new Error("rejected, unhandled")));
    } else if (line === "close") {
      setTimeout(() => (globalThis as unknown as { close(): void }).close());
    } else if (line === "exit") {
      setTimeout(() => Deno.exit(3));
    } else if (line === "odd") {
      // Neither cloneable (a function) nor printable (no prototype, so no toString).
      setTimeout(() => {
        throw Object.assign(Object.create(null), { run() {} });
      });
    } else if (line === "throw, then hang") {
      // Its Worker stops unasked, and this handler's cleanup never ends: only the Worker's
      // stop timeout can end it.
      setTimeout(() => {
        throw new Error("thrown from a timer");
      });
      const never = () => until(new Promise<void>(() => {}));
      try {
        yield* never();
      } finally {
        yield* never();
      }
    } else if (line === "unprintable") {
      // Cloned whole, but the copy cannot be made a string either: no toString, no valueOf.
      setTimeout(() => {
        throw { toString: null, valueOf: null };
      });
    } else if (line === "dispatch") {
      // From a timer, as an event bus would: a stack short enough to tell them by, even
      // where `Error.stackTraceLimit` is fixed at its default. The next line is read once
      // they have all been dispatched.
      yield* until(new Promise<void>((done) => setTimeout(() => dispatchOwn(done))));
    } else if (line === "replay") {
      setTimeout(() => {
        const target = new EventTarget();
        target.addEventListener("unhandledrejection", () => {
          throw new Error("B");
        });
        target.dispatchEvent(kept!);
      });
    } else if (line === "revoked") {
      // Nothing at all can be asked of it: every look throws.
      const { proxy, revoke } = Proxy.revocable({}, {});
      revoke();
      setTimeout(() => void Promise.reject(proxy));
    }
  }
}
