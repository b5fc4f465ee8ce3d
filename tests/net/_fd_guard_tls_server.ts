// A TLS line echo server for fd_guard_test.ts, run under a low `ulimit -n`, with the
// certificate and key files named in its arguments and an idle limit of 100 ms. Prints
// `listening PORT budget N`, and shuts down gracefully on SIGTERM.
import { type Connection, type Coroutine, run, server } from "../../mod.ts";
import { descriptorGuard } from "../../net/_fd_guard.ts";

function* lineEcho(conn: Connection): Coroutine<void> {
  for (;;) {
    const line = yield* conn.readline();
    if (line.length === 0) return;
    yield* conn.sendall(line);
  }
}

const [certFile, keyFile] = Deno.args;
const shutdown = new AbortController();
Deno.addSignalListener("SIGTERM", () => shutdown.abort());
await run(server("127.0.0.1", 0, lineEcho, {
  tls: { cert: Deno.readTextFileSync(certFile), key: Deno.readTextFileSync(keyFile) },
  idleTimeout: 100,
  signal: shutdown.signal,
  gracePeriod: 1000,
  onListen: (addr) => {
    const port = (addr as Deno.NetAddr).port;
    console.log(`listening ${port} budget ${descriptorGuard().budget}`);
  },
}));
console.log("stopped");
Deno.exit(0); // the signal listener would keep the process alive
