// A handler for the serveWorkers tests whose module handles its own stray errors, as a Deno
// Worker may, in the way the module URL's hash names:
// - "" (none): global `error` and `unhandledrejection` listeners that call
//   `preventDefault()`, which keeps a plain Worker going;
// - "#checks": the same listeners, but each first looks whether the event was handled
//   already (`defaultPrevented`), as a well-behaved listener among others does;
// - "#lazy": listeners that call `preventDefault()` after making a global that Deno makes
//   on first use (`Buffer`), which runs the microtasks queued so far;
// - "#process": Node's `process.on("uncaughtException")` and
//   `process.on("unhandledRejection")`, whose listener also dispatches an `error` event of
//   its own (which must not count as Deno's);
// - "#uncaught": Node's `process.on("uncaughtException")` alone, which Node (and Deno)
//   hand unhandled rejections to as well;
// - "#capture": Node's `process.setUncaughtExceptionCaptureCallback()`;
// - "#uncaught-lazy": Node's `process.on("uncaughtException")` alone, whose listener makes a
//   global that Deno makes on first use (`Buffer`), which runs the microtasks queued so far;
// - "#adds": listeners that handle errors, and, for rejections, add a
//   `process.on("unhandledRejection")` listener during the dispatch (which Deno hands the
//   rejection to once the dispatch is over).
// A line "throw" has it throw from a timer, "reject" leave a promise rejection to those
// listeners; every line is answered with how many they have handled so far.
import process from "node:process";
import type { Connection, Coroutine } from "../../mod.ts";

const how = new URL(import.meta.url).hash.slice(1);
const scope = globalThis as unknown as {
  addEventListener(type: string, listener: (event: Event) => void): void;
};
let handled = 0;
if (how === "capture") {
  process.setUncaughtExceptionCaptureCallback(() => handled++);
} else if (how === "uncaught-lazy") {
  process.on("uncaughtException", () => {
    void (globalThis as { Buffer?: unknown }).Buffer;
    handled++;
  });
} else if (how === "process" || how === "uncaught") {
  // (Node's `process` hears of every `error` event on the global scope, its own too.)
  process.on("uncaughtException", (error) => error?.message === "its own" || handled++);
  if (how === "process") {
    process.on("unhandledRejection", () => {
      handled++;
      dispatchEvent(new ErrorEvent("error", { cancelable: true, error: new Error("its own") }));
    });
  }
} else if (how === "adds") {
  scope.addEventListener("error", (event) => {
    event.preventDefault();
    handled++;
  });
  scope.addEventListener("unhandledrejection", () => {
    if (process.listenerCount("unhandledRejection") === 0) {
      process.on("unhandledRejection", () => handled++);
    }
  });
} else {
  const handle = (event: Event): void => {
    if (how === "checks" && event.defaultPrevented) return;
    if (how === "lazy") void (globalThis as { Buffer?: unknown }).Buffer;
    event.preventDefault();
    handled++;
  };
  scope.addEventListener("error", handle);
  scope.addEventListener("unhandledrejection", handle);
}

const decoder = new TextDecoder();

/** Replies to every line with how many stray errors were handled, then does what it asks. */
export function* handler(conn: Connection): Coroutine<void> {
  for (;;) {
    const line = decoder.decode(yield* conn.readline()).trim();
    if (line === "") return;
    yield* conn.sendall(`handled ${handled}\n`);
    if (line === "throw") {
      setTimeout(() => {
        throw new Error("stray, but handled");
      });
    } else if (line === "reject") {
      setTimeout(() => void Promise.reject(new Error("rejected, but handled")));
    }
  }
}
