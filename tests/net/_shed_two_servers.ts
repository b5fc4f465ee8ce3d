// Run by server_test.ts with no permissions (the descriptor limit cannot be read): two
// servers of one process each hold 50 connections from a fake accept source, and both
// fail for want of descriptors in the same moment. Prints what onError got, and exits.
import { type AcceptSource, serveOn } from "../../net/_serve.ts";
import { type Connection, type Coroutine, Event, run, sleep, spawn } from "../../mod.ts";
import { memoryPair } from "../../testing/mod.ts";

const outOfDescriptors = () =>
  Object.assign(new Error("Too many open files (os error 24)"), { code: "EMFILE" });
const held = new Event(); // set once both hold their 50
let holding = 0;

function source(): AcceptSource {
  let accepts = 0;
  return {
    addr: { transport: "tcp", hostname: "127.0.0.1", port: 1 },
    closed: false,
    *accept(): Coroutine<Connection> {
      accepts++;
      if (accepts <= 50) {
        if (++holding === 100) held.set();
        return memoryPair()[0];
      }
      yield* held.wait();
      if (accepts === 51) throw outOfDescriptors();
      yield* sleep(1e9);
      throw new Error("unreachable");
    },
    close() {
      (this as { closed: boolean }).closed = true;
    },
  };
}

const messages: string[] = [];
await run(function* () {
  for (let i = 0; i < 2; i++) {
    yield* spawn(serveOn(source(), {
      handler: function* () {
        yield* new Event().wait();
      },
      onError: (error) => messages.push((error as Error).message),
      maxConnections: Infinity,
      idleTimeout: Infinity,
      gracePeriod: 0,
      signal: undefined,
      descriptors: true,
    }));
  }
  for (let i = 0; i < 100 && messages.length < 2; i++) yield* sleep(5);
  yield* sleep(20); // a third report would come now
  for (const message of messages) console.log(message);
  Deno.exit(0); // the servers hold their fake connections for good
}());
