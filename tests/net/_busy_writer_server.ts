// Run by busy_writer_test.ts as a process of its own, so that its writes to a client that
// keeps reading complete at once, as they do in production (a client in the same process
// reads only when the event loop turns). A client that says BIG gets 32 MiB in 64 KiB
// chunks, each made with 0.2 ms of work first; one that says SLO gets 14 chunks of 64 KiB,
// each made with 20 ms of work (slow steps); any other client is echoed.
import * as bluelet from "../../mod.ts";

const CHUNK = 64 * 1024;
const TOTAL = 32 * 1024 * 1024;

function busy(ms: number): void {
  const start = performance.now();
  while (performance.now() - start < ms); // a chunk's work: compressing it, say
}

await bluelet.run(bluelet.server("127.0.0.1", 0, function* (conn) {
  const first = yield* conn.recv(4);
  const ask = new TextDecoder().decode(first);
  if (ask === "BIG\n" || ask === "SLO\n") {
    const chunk = new Uint8Array(CHUNK);
    const [total, work] = ask === "BIG\n" ? [TOTAL, 0.2] : [14 * CHUNK, 20];
    for (let sent = 0; sent < total; sent += CHUNK) {
      busy(work);
      yield* conn.sendall(chunk);
    }
    return;
  }
  for (let data = first; data.length > 0; data = yield* conn.recv(64)) yield* conn.sendall(data);
}, { onListen: (addr) => console.log(`listening on port ${(addr as Deno.NetAddr).port}`) }));
