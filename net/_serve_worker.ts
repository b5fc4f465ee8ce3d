// The program each Worker of `serveWorkers` runs: it imports the handler's module, serves
// with `server` on a shared port (`reusePort`) in a scheduler of its own, and tells the
// main thread when it listens and when it has stopped. Shutdown ends the run, which kills
// the server: the listener closes and every handler's `finally` runs.
import { run } from "../scheduler/mod.ts";
import { useBudget } from "./_fd_guard.ts";
import { server, type ServerOptions } from "./server.ts";
import type { Connection } from "./connection.ts";
import type { Coroutine } from "../scheduler/mod.ts";

/** What the main thread sends a Worker first. */
export interface WorkerStart {
  module: string;
  exportName: string;
  host: string;
  port: number;
  options: Pick<ServerOptions, "maxConnections" | "idleTimeout">;
  /** This Worker's share of the process's descriptor budget (see net/_fd_guard.ts). */
  budget: number;
}

/** What a Worker reports: it listens, it stopped, or it failed to start or serve. */
export type WorkerReport =
  | { listening: number }
  | { stopped: true }
  | { error: string };

/** What the main thread sends to stop a Worker. */
export const SHUTDOWN = "shutdown";

interface WorkerScope {
  onmessage: ((event: MessageEvent) => void) | null;
  postMessage(report: WorkerReport): void;
}

async function serveInWorker(scope: WorkerScope, start: WorkerStart): Promise<void> {
  const stop = new AbortController();
  scope.onmessage = ({ data }) => {
    if (data === SHUTDOWN) stop.abort();
  };
  try {
    useBudget(start.budget);
    const module = await import(start.module);
    const handler = module[start.exportName] as (conn: Connection) => Coroutine<unknown>;
    if (typeof handler !== "function") {
      throw new TypeError(
        `${start.module} exports no function named ${start.exportName}`,
      );
    }
    await run(
      server(start.host, start.port, handler, {
        ...start.options,
        reusePort: true,
        onListen: (addr) => scope.postMessage({ listening: (addr as Deno.NetAddr).port }),
      }),
      { signal: stop.signal },
    );
  } catch (error) {
    if (!stop.signal.aborted) {
      scope.postMessage({ error: error instanceof Error ? error.message : String(error) });
      return;
    }
  }
  // Closing a listener drops its socket once its cancelled accept is polled: let the
  // event loop turn, so that the port is free when the main thread hears of the stop.
  await new Promise((resolve) => setTimeout(resolve, 0));
  scope.postMessage({ stopped: true });
}

if ("WorkerGlobalScope" in globalThis) {
  const scope = globalThis as unknown as WorkerScope;
  scope.onmessage = ({ data }) => void serveInWorker(scope, data as WorkerStart);
}
