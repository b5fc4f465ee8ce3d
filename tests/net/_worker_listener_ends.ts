// A handler for the serveWorkers tests whose module has an error listener of its own that
// ends the Worker on the spot, while an error is being dispatched: a line "throw" has the
// listener throw, "exit" has it call `Deno.exit(3)`, and "handle, then close" has it
// handle the error (`preventDefault()`) and then call `close()`. After the reply, a timer
// throws "first: thrown from a timer", which the listener then hears of.
import type { Connection, Coroutine } from "../../mod.ts";

const decoder = new TextDecoder();
let how = "";

addEventListener("error", (event) => {
  if (how === "throw") throw new Error("the module's error listener threw");
  if (how === "exit") Deno.exit(3);
  if (how === "handle, then close") {
    event.preventDefault();
    (globalThis as unknown as { close(): void }).close();
  }
});

/** Replies with this Worker's name, then has a timer throw, which the listener hears of. */
export function* handler(conn: Connection): Coroutine<void> {
  const name = (globalThis as unknown as { name: string }).name;
  how = decoder.decode(yield* conn.readline()).trim();
  yield* conn.sendall(`${name}\n`);
  setTimeout(() => {
    throw new Error("first: thrown from a timer");
  });
  yield* conn.readline();
}
