// Run by retention_test.ts with `--v8-flags=--expose-gc`: a long-lived thread subscribes
// over and over, and each subscription ends without `close()`: its broadcast closes, or it
// falls behind under "end". Prints how many of them are still kept while the thread lives.
import { Broadcast, LaggedError, run, sleep } from "../../mod.ts";

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("Run with --v8-flags=--expose-gc");

const ROUNDS = 200;
const ofClosed: WeakRef<object>[] = [];
const lagged: WeakRef<object>[] = [];

await run(function* () {
  for (let i = 0; i < ROUNDS; i++) {
    const topic = new Broadcast<number>({ capacity: 4 });
    const subscription = yield* topic.subscribe();
    ofClosed.push(new WeakRef(subscription));
    topic.close();
    if (!(yield* subscription.receive()).done) throw new Error("Expected the end");
  }
  const room = new Broadcast<number>({ capacity: 2, overflow: "end" });
  for (let i = 0; i < ROUNDS; i++) {
    const subscription = yield* room.subscribe();
    lagged.push(new WeakRef(subscription));
    for (let k = 0; k < 3; k++) room.tryPublish(k);
    try {
      while (!(yield* subscription.receive()).done) { /* drain */ }
    } catch (error) {
      if (!(error instanceof LaggedError)) throw error;
    }
  }
  // A WeakRef holds its target until the job that made it ends.
  yield* sleep(1);
  gc();
  // The generator's frame may still hold the last one of each loop.
  const kept = (refs: WeakRef<object>[]) => {
    const count = refs.filter((ref) => ref.deref() !== undefined).length;
    return count <= 1 ? "at most the last one" : `${count}`;
  };
  console.log(`of closed broadcasts: ${kept(ofClosed)} of ${ROUNDS} kept`);
  console.log(`lagged: ${kept(lagged)} of ${ROUNDS} kept`);
}());
