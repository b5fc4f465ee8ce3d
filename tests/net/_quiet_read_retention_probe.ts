// Run by retention_test.ts with `--v8-flags=--expose-gc`: reads a quiet peer with a time
// limit, over and over (a heartbeat loop), and says how many of those reads are kept.
import { connect, Listener, moveOnAfter, type Operation, run } from "../../mod.ts";

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("Run with --v8-flags=--expose-gc");

const ROUNDS = 200;
const reads: WeakRef<object>[] = [];
await run(function* () {
  using listener = new Listener("127.0.0.1", 0);
  using client = yield* connect("127.0.0.1", (listener.addr as Deno.NetAddr).port);
  using conn = yield* listener.accept();
  // The first timed-out read leaves its OS read running; the later ones wait on it.
  for (let i = 0; i < ROUNDS; i++) {
    const read: Operation<Uint8Array> = conn.recv(10);
    reads.push(new WeakRef(read));
    yield* moveOnAfter(1, read);
  }
  // A WeakRef holds its target until the job that made it ends.
  yield* moveOnAfter(5, conn.recv(10));
  gc!();
  const kept = reads.filter((read) => read.deref() !== undefined).length;
  console.log(`timed-out reads of a quiet peer kept: ${kept > 2 ? kept : "at most two"}`);
  client.close();
}());
