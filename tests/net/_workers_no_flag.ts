// Run by serve_workers_test.ts in a process of its own, without `--unstable-net` (and
// without the repository's deno.json, which turns it on): serveWorkers must throw, not
// end the process.
import { serveWorkers } from "../../mod.ts";

try {
  const workers = await serveWorkers(new URL("./_worker_handler.ts", import.meta.url), {
    workers: 1,
  });
  await workers.shutdown();
  console.log("started (wrong)");
} catch (error) {
  console.log(`${(error as Error).name}: ${(error as Error).message}`);
}
