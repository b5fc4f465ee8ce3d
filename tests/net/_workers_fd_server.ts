// Run by serve_workers_test.ts under a low `ulimit -n`: serves the worker test handler in
// two Workers (or as many as the first argument says), prints `listening PORT budget N`
// (N: the process's budget, reckoned before the Workers start, so no smaller than the one
// they share; Infinity without --allow-all), and stops on SIGTERM.
import { serveWorkers } from "../../mod.ts";
import { connectionBudget } from "../../net/_fd_guard.ts";

const budget = connectionBudget();
const workers = await serveWorkers(new URL("./_worker_handler.ts", import.meta.url), {
  workers: Number(Deno.args[0] ?? 2),
});
Deno.addSignalListener("SIGTERM", async () => {
  await workers.shutdown();
  console.log("stopped");
  Deno.exit(0); // the signal listener would keep the process alive
});
console.log(`listening ${workers.port} budget ${budget}`);
