// Run by serve_workers_test.ts in a process of its own: serves in two Workers, has one
// client served, shuts down, and must then exit by itself, which it can only do if no
// Worker and no socket is left behind.
import { connect, run, serveWorkers } from "../../mod.ts";
import { text } from "./_helpers.ts";

const workers = await serveWorkers(new URL("./_worker_handler.ts", import.meta.url), {
  workers: 2,
});
const served = await run(function* () {
  using conn = yield* connect("127.0.0.1", workers.port);
  yield* conn.sendall("who?\n");
  return text(yield* conn.readline()).trim();
}());
await workers.shutdown();
console.log(`served by ${served.replace(/\d$/, "N")}, shut down`);
