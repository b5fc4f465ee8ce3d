// The echo handler bench/echo_bench.ts serves with `serveWorkers`: Workers import the
// handler from a module.
import type { Connection, Coroutine } from "../mod.ts";

/** Sends back whatever it reads. */
export function* handler(conn: Connection): Coroutine<void> {
  while (true) {
    const data = yield conn.recv(16 * 1024);
    if (data.length === 0) break;
    yield conn.sendall(data);
  }
}
