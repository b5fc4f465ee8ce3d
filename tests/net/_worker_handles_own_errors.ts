// A handler for the serveWorkers tests whose module handles its own stray errors, as a Deno
// Worker may: global listeners that call `preventDefault()` keep a plain Worker going. A
// line "throw" has it throw from a timer, "reject" leave a promise rejection to those
// listeners; every line is answered with how many they have handled so far.
import type { Connection, Coroutine } from "../../mod.ts";

const scope = globalThis as unknown as {
  addEventListener(type: string, listener: (event: Event) => void): void;
};
let handled = 0;
scope.addEventListener("error", (event) => {
  event.preventDefault();
  handled++;
});
scope.addEventListener("unhandledrejection", (event) => {
  event.preventDefault();
  handled++;
});

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
