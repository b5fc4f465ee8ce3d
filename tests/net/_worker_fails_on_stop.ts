// A handler for the serveWorkers tests whose cleanup goes wrong when its Worker is shut
// down. The first line names how (several ways, space-separated, go wrong in that order);
// it is answered with the name of the Worker that serves it, and the handler then waits
// for the shutdown, whose kill runs its `finally`: "throw" has a timer throw meanwhile,
// "reject" leave a promise rejection unhandled, "stuck" wait on an event that nobody can
// set (the Worker's run then ends in a deadlock), "exit" call `Deno.exit(3)`, "hang"
// wait on a promise that never settles (the Worker never stops by itself).
import { type Connection, type Coroutine, Event, until } from "../../mod.ts";

const decoder = new TextDecoder();

/** Replies with this Worker's name, then fails as the first line asks once it is killed. */
export function* handler(conn: Connection): Coroutine<void> {
  const name = (globalThis as unknown as { name: string }).name;
  const ways = decoder.decode(yield* conn.readline()).trim().split(" ");
  try {
    // Sent inside the `try`: the client may ask for the shutdown as soon as it has the
    // reply, before this thread runs again, and the kill then lands on the send.
    yield* conn.sendall(`${name}\n`);
    while ((yield* conn.readline()).length > 0); // until the shutdown kills it
  } finally {
    for (const how of ways) yield* failAtStop(how);
  }
}

function* failAtStop(how: string): Coroutine<void> {
  if (how === "throw") {
    // Waits until the timer has thrown: the Worker is still stopping when it does.
    yield* until(afterTimer(() => {
      throw new Error("thrown from a timer while stopping");
    }));
  } else if (how === "reject") {
    yield* until(afterTimer(() => void Promise.reject(new Error("rejected while stopping"))));
  } else if (how === "stuck") {
    yield* new Event().wait();
  } else if (how === "exit") {
    Deno.exit(3);
  } else if (how === "hang") {
    yield* until(new Promise<void>(() => {}));
  }
}

/** Resolves as a timer runs `fn`, outside any thread, where no server can catch it. */
function afterTimer(fn: () => void): Promise<void> {
  return new Promise((resolve) =>
    setTimeout(() => {
      resolve();
      fn();
    })
  );
}
