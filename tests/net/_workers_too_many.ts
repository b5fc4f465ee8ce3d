// Run by serve_workers_test.ts under a low `ulimit -n`: asks for more Workers than the
// descriptors left can start (each opens several of its own), and prints how the start
// ended. Creating a Worker past the limit aborts the whole process in Deno 2.9.6.
import { serveWorkers } from "../../mod.ts";

const count = Number(Deno.args[0]);
try {
  const workers = await serveWorkers(new URL("./_worker_handler.ts", import.meta.url), {
    workers: count,
  });
  console.log(`started ${workers.workers}`);
  await workers.shutdown();
} catch (error) {
  console.log(`refused ${(error as Error).name}: ${(error as Error).message}`);
}
