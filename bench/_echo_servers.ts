// The echo servers the echo benchmarks compare (bench/echo_bench.ts, bench/echo_load.ts):
// bluelet's echoer in each style, and the same server with plain `Deno.listen`. `handler`
// is also the module export `serveWorkers` runs in its Workers. Two more take the library
// apart layer by layer, to show where its cost is: the same echo as a generator per
// connection driven by a dozen lines of promise trampoline (no bluelet at all), and on
// bluelet's kernel with each thread yielding Deno's own read and write promises (no net/).
import { type Connection, type Coroutine, recvInto, run, spawn } from "../mod.ts";

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

/** The echo as a generator that yields Deno's promises: what the two layered servers run. */
function* rawEchoer(conn: Deno.Conn): Generator<Promise<number | null>, void, number | null> {
  const buffer = new Uint8Array(16 * 1024);
  try {
    while (true) {
      const n = yield conn.read(buffer);
      if (n === null) break;
      let sent = 0;
      while (sent < n) sent += (yield conn.write(buffer.subarray(sent, n)))!;
    }
  } finally {
    conn.close();
  }
}

/**
 * A floor, not a peer: `rawEchoer` per connection, resumed by each promise's reaction (no
 * scheduler, no cancellation, no fairness). What generators cost against async functions.
 */
export function trampolineServer(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const drive = (echoer: ReturnType<typeof rawEchoer>) => {
    const resume = (ok: boolean, value: unknown) => {
      let result;
      try {
        result = ok ? echoer.next(value as number | null) : echoer.throw(value);
      } catch {
        return; // The client went away.
      }
      if (!result.done) {
        result.value.then((v) => resume(true, v), (e) => resume(false, e));
      }
    };
    resume(true, null);
  };
  (async () => {
    for await (const conn of listener) {
      conn.setNoDelay(true);
      drive(rawEchoer(conn));
    }
  })();
  return listener.addr.port;
}

/**
 * A layer: `rawEchoer` as bluelet threads (the kernel waits on Deno's promises; no net/).
 * What the kernel costs on its own, against `trampolineServer`.
 */
export function kernelServer(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  run(function* (): Coroutine<void> {
    while (true) {
      const conn = (yield listener.accept()) as Deno.TcpConn;
      conn.setNoDelay(true);
      yield* spawn(function* (): Coroutine<void> {
        try {
          yield* rawEchoer(conn) as Coroutine<void>;
        } catch {
          // The client went away.
        }
      }());
    }
  }()).catch((error) => console.error(error));
  return listener.addr.port;
}
