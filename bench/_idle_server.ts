// An echo server for bench/idle_memory.ts, run in a process of its own: `bluelet` (the
// `server` helper) or `plain KIB` (`Deno.listen` with a buffer of KIB KiB per connection,
// which a pending read holds for as long as the peer is silent; 16 KiB by default). The
// bluelet echoer asks for at most 16 KiB per `recv`, as bench/echo_bench.ts's does. It
// prints its port, then answers each line on stdin with its resident memory in bytes,
// measured after a full garbage collection.
import { type Connection, type Coroutine, run, server } from "../mod.ts";

function* echoer(conn: Connection): Coroutine<void> {
  while (true) {
    const data = yield conn.recv(16 * 1024);
    if (data.length === 0) break;
    yield conn.sendall(data);
  }
}

function plain(bufferSize: number, onListen: (port: number) => void): void {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  onListen(listener.addr.port);
  (async () => {
    for await (const conn of listener) {
      (async () => {
        const buffer = new Uint8Array(bufferSize);
        try {
          for (;;) {
            const n = await conn.read(buffer);
            if (n === null) break;
            for (let sent = 0; sent < n;) sent += await conn.write(buffer.subarray(sent, n));
          }
        } catch {
          // The client went away.
        } finally {
          conn.close();
        }
      })();
    }
  })();
}

const gc = (globalThis as { gc?: () => void }).gc;
const onListen = (port: number) => console.log(port);
if (Deno.args[0] === "plain") plain(Number(Deno.args[1] ?? 16) * 1024, onListen);
else {
  run(server("127.0.0.1", 0, echoer, {
    onListen: (addr) => onListen((addr as Deno.NetAddr).port),
  }));
}
for await (const _ of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
  gc?.();
  console.log(Deno.memoryUsage().rss);
}
