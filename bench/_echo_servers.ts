// The echo servers the echo benchmarks compare (bench/echo_bench.ts, bench/echo_load.ts):
// bluelet's echoer in each style, and the same server with plain `Deno.listen`. `handler`
// is also the module export `serveWorkers` runs in its Workers.
import { type Connection, type Coroutine, recvInto } from "../mod.ts";

/** The bluelet echo server, as a user would write it (Bluelet style). */
export function* handler(conn: Connection): Coroutine<void> {
  while (true) {
    const data = yield conn.recv(16 * 1024);
    if (data.length === 0) break;
    yield conn.sendall(data);
  }
}

/** The same, typed style: `yield*` runs each socket event in the echoer's own frame. */
export function* typedEchoer(conn: Connection): Coroutine<void> {
  while (true) {
    const data = yield* conn.recv(16 * 1024);
    if (data.length === 0) break;
    yield* conn.sendall(data);
  }
}

/** The same, reading into one array per connection: no copy, no allocation per read. */
export function* intoEchoer(conn: Connection): Coroutine<void> {
  const buffer = new Uint8Array(16 * 1024);
  while (true) {
    const n = yield* recvInto(conn, buffer);
    if (n === 0) break;
    yield* conn.sendall(buffer.subarray(0, n));
  }
}

/** The same server with plain Deno async/await. */
export function plainServer(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  (async () => {
    for await (const conn of listener) {
      conn.setNoDelay(true);
      (async () => {
        const buffer = new Uint8Array(16 * 1024);
        try {
          while (true) {
            const n = await conn.read(buffer);
            if (n === null) break;
            let sent = 0;
            while (sent < n) sent += await conn.write(buffer.subarray(sent, n));
          }
        } catch {
          // The client went away.
        } finally {
          conn.close();
        }
      })();
    }
  })();
  return listener.addr.port;
}
