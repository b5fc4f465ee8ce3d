// Run by serve_workers_test.ts in a process of its own: serves in two Workers with no
// `onWorkerError`, has one die (an error thrown from a timer in the handler's module),
// serves a client with the other, shuts down, and must then exit by itself. What
// `console.error` logs passes through to stderr.
import { connect, run, serveWorkers } from "../../mod.ts";
import { text } from "./_helpers.ts";

const logged = Promise.withResolvers<void>();
const log = console.error;
console.error = (...data: unknown[]) => {
  log(...data);
  logged.resolve();
};

function ask(port: number, line: string): Promise<string> {
  return run(function* () {
    using conn = yield* connect("127.0.0.1", port);
    yield* conn.sendall(`${line}\n`);
    return text(yield* conn.readline()).trim();
  }());
}

const workers = await serveWorkers(new URL("./_worker_dies.ts", import.meta.url), {
  workers: 2,
});
const victim = await ask(workers.port, "throw");
await logged.promise;
const serving = workers.serving;
const survivor = await ask(workers.port, "who?");
await workers.shutdown();
const by = survivor === victim ? "the dead one" : "the other";
console.log(`one died, ${serving} serving, served by ${by}, shut down`);
