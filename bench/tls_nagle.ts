// deno run -A bench/tls_nagle.ts [--rounds 50]
//
// The cost of a reply written in two `sendall`s (head, then body), per round trip, over
// TCP and over TLS. Deno 2.9.6 gives no `setNoDelay` on an accepted TLS connection, so
// without coalescing the second write waits for the client's delayed ACK (about 40 ms).
import {
  connect,
  type Connection,
  type Coroutine,
  kill,
  run,
  server,
  spawn,
  yieldNow,
} from "../mod.ts";
import { makeCertificate } from "../tests/net/_helpers.ts";

const rounds = Number(Deno.args[Deno.args.indexOf("--rounds") + 1]) || 50;

/** Answers each request line with a head and a body, in two writes. */
function* twoWrites(conn: Connection): Coroutine<void> {
  for (;;) {
    const line = yield* conn.readline();
    if (line.length === 0) return;
    yield* conn.sendall("HEAD 4\n");
    yield* conn.sendall("body\n");
  }
}

function* measure(tls?: { cert: string; key: string }): Coroutine<number> {
  let port = 0;
  const task = yield* spawn(server("127.0.0.1", 0, twoWrites, {
    tls,
    onListen: (addr) => port = (addr as Deno.NetAddr).port,
  }));
  yield* yieldNow();
  using conn = yield* connect(tls ? "localhost" : "127.0.0.1", port, {
    tls: tls && { caCerts: [tls.cert] },
  });
  const started = performance.now();
  for (let i = 0; i < rounds; i++) {
    yield* conn.sendall("get\n");
    yield* conn.readline();
    yield* conn.readline();
  }
  const ms = (performance.now() - started) / rounds;
  yield* kill(task);
  return ms;
}

const cert = await makeCertificate();
const tcp = await run(measure());
const tls = await run(measure(cert));
console.log(`two writes per reply, ${rounds} round trips:`);
console.log(`  TCP ${tcp.toFixed(2)} ms per round trip`);
console.log(`  TLS ${tls.toFixed(2)} ms per round trip`);
