// A handler for the serveWorkers tests: answers each line with the name of the Worker that
// serves it, and says in a line of its own when its `finally` ran.
import type { Connection, Coroutine } from "../../mod.ts";

const encoder = new TextEncoder();

/** Replies to every line with this Worker's name; says "bye" as it ends. */
export function* handler(conn: Connection): Coroutine<void> {
  const name = (globalThis as unknown as { name: string }).name;
  try {
    for (;;) {
      const line = yield* conn.readline();
      if (line.length === 0) return;
      yield* conn.sendall(encoder.encode(`${name}\n`));
    }
  } finally {
    if (!conn.closed) yield* conn.sendall("bye\n");
  }
}
