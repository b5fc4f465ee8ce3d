// deno run --allow-net bench/_kv_plain.ts [--port 0]
//
// The benchmark's peer for examples/kv.ts: the same server written with plain `Deno.listen`
// and async/await. It shares kv's parser and command layer, so the two differ only in how
// connections are served: an async function per connection here, a coroutine on the
// bluelet scheduler there. It is a peer for SET/GET throughput, not a full server: blocking
// pops are refused, and subscribers get no messages.
import { Database } from "../examples/_kv_db.ts";
import { RequestParser } from "../examples/_kv_resp.ts";

async function serveClient(conn: Deno.TcpConn, db: Database): Promise<void> {
  conn.setNoDelay(true);
  const client = db.connect();
  const parser = new RequestParser();
  const buffer = new Uint8Array(16 * 1024);
  try {
    while (!client.closeAfterReply) {
      const n = await conn.read(buffer);
      if (n === null) return;
      parser.feed(buffer.subarray(0, n), true); // the buffer is read into again
      for (;;) {
        const args = client.nextRequest(parser);
        if (args === null) break;
        if (client.execute(args) >= 0) {
          db.endBlock(client, false);
          client.out.error("ERR blocking commands are not supported by this peer");
        }
        if (client.closeAfterReply) break;
      }
      const out = client.out.bytes();
      for (let written = 0; written < out.length;) {
        written += await conn.write(out.subarray(written));
      }
      client.out.clear();
    }
  } catch {
    // A reset or broken pipe ends this client only.
  } finally {
    db.disconnect(client);
    conn.close();
  }
}

if (import.meta.main) {
  const at = Deno.args.indexOf("--port");
  const port = at >= 0 ? Number(Deno.args[at + 1]) : 6381;
  const db = new Database();
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  console.log(`listening on 127.0.0.1:${listener.addr.port}`);
  const stop = () => {
    listener.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  for await (const conn of listener) serveClient(conn, db);
}
