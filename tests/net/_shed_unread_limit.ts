// Run by server_test.ts with no permissions, so that the descriptor limit cannot be read:
// serves connections from a fake accept source that fails for want of descriptors twice
// (as if other descriptors were opened in between), and prints what onError got.
import { type AcceptSource, serveOn } from "../../net/_serve.ts";
import { type Connection, type Coroutine, Event, run, sleep, spawn } from "../../mod.ts";
import { memoryPair } from "../../testing/mod.ts";

const outOfDescriptors = () =>
  Object.assign(new Error("Too many open files (os error 24)"), { code: "EMFILE" });
const ends: Event[] = [];
let accepts = 0;
const source: AcceptSource = {
  addr: { transport: "tcp", hostname: "127.0.0.1", port: 1 },
  closed: false,
  *accept(): Coroutine<Connection> {
    yield* sleep(0);
    accepts++;
    if (accepts === 101 || accepts === 110) throw outOfDescriptors();
    if (accepts > 110) yield* sleep(1e9);
    return memoryPair()[0];
  },
  close() {
    (this as { closed: boolean }).closed = true;
  },
};
const messages: string[] = [];
await run(function* () {
  const controller = new AbortController();
  yield* spawn(serveOn(source, {
    handler: function* () {
      const end = new Event();
      ends.push(end);
      yield* end.wait();
    },
    onError: (error) => messages.push((error as Error).message),
    maxConnections: Infinity,
    idleTimeout: Infinity,
    gracePeriod: 0,
    signal: controller.signal,
    descriptors: true,
  }));
  for (let i = 0; i < 400 && messages.length < 1; i++) yield* sleep(5);
  for (const end of ends.slice(0, 20)) end.set(); // room under the budget learnt
  for (let i = 0; i < 400 && messages.length < 2; i++) yield* sleep(5);
  controller.abort();
}());
for (const message of messages) console.log(message);
