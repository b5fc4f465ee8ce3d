// A handler for the serveWorkers tests whose module has an error listener of its own that
// ends the Worker on the spot, while an error is being dispatched: a line "throw" has the
// listener throw, "exit" has it call `Deno.exit(3)`, "handle, then close" has it handle
// the error (`preventDefault()`) and then call `close()`, "handle, then throw" handle it
// and then throw, "handle, then report" handle it and then `reportError` another (which
// Deno does not dispatch while one is: it ends the Worker). Two more only handle it, the
// other ways Deno allows: "returnValue" sets `event.returnValue = false`, "prototype"
// calls `Event.prototype.preventDefault`. After the reply, a timer throws "first: thrown
// from a timer", which the listener hears of; a Worker still alive then says "heard".
// ("who?" gets the reply alone.)
import { type Connection, type Coroutine, until } from "../../mod.ts";

const decoder = new TextDecoder();
let how = "";
const heard = Promise.withResolvers<void>();

addEventListener("error", (event) => {
  if (how === "throw") throw new Error("the module's error listener threw");
  if (how === "exit") Deno.exit(3);
  if (how === "handle, then close") {
    event.preventDefault();
    (globalThis as unknown as { close(): void }).close();
  }
  if (how === "handle, then throw") {
    event.preventDefault();
    throw new Error("the module's error listener threw");
  }
  if (how === "handle, then report") {
    event.preventDefault();
    reportError(new Error("reported from the module's error listener"));
  }
  if (how === "returnValue") event.returnValue = false;
  if (how === "prototype") Event.prototype.preventDefault.call(event);
  heard.resolve();
});

/** Replies with this Worker's name, then has a timer throw, which the listener hears of. */
export function* handler(conn: Connection): Coroutine<void> {
  const name = (globalThis as unknown as { name: string }).name;
  how = decoder.decode(yield* conn.readline()).trim();
  yield* conn.sendall(`${name}\n`);
  if (how === "who?") return; // only the name
  setTimeout(() => {
    throw new Error("first: thrown from a timer");
  });
  yield* until(heard.promise);
  yield* conn.sendall("heard\n");
  yield* conn.readline();
}
