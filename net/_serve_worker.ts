// The program each Worker of `serveWorkers` runs: it imports the handler's module, serves
// with `server` on a shared port (`reusePort`) in a scheduler of its own, and tells the
// main thread when it listens and when it has stopped. Shutdown ends the run, which kills
// the server: the listener closes and every handler's `finally` runs.
//
// Code in the handler's module can end its Worker outside any connection, where no server
// catches it: an error thrown from a timer, a rejection nobody handles, `close()`,
// `Deno.exit()`. Left alone, Deno would end the Worker on the spot and tell the main thread
// at most a line of text (nothing at all for `close` and `exit`). So the Worker watches for
// these itself: it stops serving the way shutdown does, then hands the main thread the
// error and closes.
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

/**
 * What a Worker reports: it listens, it stopped when asked, or it failed to start or
 * stopped serving unasked, with what it threw (copied across by structured clone).
 */
export type WorkerReport =
  | { listening: number }
  | { stopped: true }
  | { failed: unknown };

/** What the main thread sends to stop a Worker. */
export const SHUTDOWN = "shutdown";

interface WorkerScope {
  onmessage: ((event: MessageEvent) => void) | null;
  postMessage(report: WorkerReport): void;
  addEventListener(type: "error", listener: (event: ErrorEvent) => void): void;
  addEventListener(
    type: "unhandledrejection",
    listener: (event: PromiseRejectionEvent) => void,
  ): void;
  close(): void;
}

async function serveInWorker(scope: WorkerScope, start: WorkerStart): Promise<void> {
  const stop = new AbortController();
  scope.onmessage = ({ data }) => {
    if (data === SHUTDOWN) stop.abort();
  };
  // Why the Worker stops unasked, once it must: the first failure is the one reported.
  let failure: { error: unknown } | null = null;
  const fail = (error: unknown): void => {
    failure ??= { error };
    stop.abort();
  };
  scope.addEventListener("error", (event) => {
    unlessHandled(event, () => fail(event.error ?? event.message));
  });
  scope.addEventListener("unhandledrejection", (event) => {
    unlessHandled(event, () => fail(event.reason));
  });
  const close = scope.close.bind(scope);
  // The Worker closes once its server has stopped; the error gives where it was called.
  scope.close = () => fail(new Error("close() was called"));
  const exit = Deno.exit;
  // `exit` must not return, so this one cannot wait for the server: it reports, and the
  // listener closes with the Worker, a moment later.
  (Deno as { exit: typeof Deno.exit }).exit = (code) => {
    post(scope, { failed: new Error(`Deno.exit(${code ?? ""}) was called`) });
    return exit(code);
  };
  // A module that never finishes loading must not keep its Worker from stopping.
  const aborted = new Promise<never>((_, reject) => {
    stop.signal.addEventListener("abort", () => reject(stop.signal.reason), { once: true });
  });
  aborted.catch(() => {}); // awaited only while the module loads
  try {
    useBudget(start.budget);
    const module = await Promise.race([import(start.module), aborted]);
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
    // An abort is how the run ends when the Worker is asked to stop, or must.
    if (!stop.signal.aborted) failure ??= { error };
  }
  // Closing a listener drops its socket once its cancelled accept is polled: let the
  // event loop turn, so that the port is free when the main thread hears of the stop.
  await new Promise((resolve) => setTimeout(resolve, 0));
  finish(scope, failure, close);
}

/**
 * Calls `fail` once the event has been dispatched, unless another listener of the Worker
 * handled it, as a module may to keep its Worker going (by `preventDefault()`, as in any
 * Deno Worker), whether it was added before this one or after. The default is prevented
 * meanwhile: a Worker that fails must live until its server has stopped.
 */
function unlessHandled(event: Event, fail: () => void): void {
  let handled = event.defaultPrevented;
  const preventDefault = event.preventDefault.bind(event);
  // Listeners added after this one run after it: their call is seen through this.
  Object.defineProperty(event, "preventDefault", {
    value: () => {
      handled = true;
      preventDefault();
    },
  });
  preventDefault();
  queueMicrotask(() => {
    if (!handled) fail();
  });
}

/** Tells the main thread how the Worker stopped; one that failed then closes. */
function finish(scope: WorkerScope, failure: { error: unknown } | null, close: () => void): void {
  if (failure === null) {
    scope.postMessage({ stopped: true });
    return;
  }
  post(scope, { failed: failure.error });
  close();
}

/** Posts a report; an error that cannot be cloned (it holds a function, say) is copied. */
function post(scope: WorkerScope, report: { failed: unknown }): void {
  try {
    scope.postMessage(report);
  } catch {
    const error = report.failed;
    const copy = new Error(error instanceof Error ? error.message : String(error));
    if (error instanceof Error) copy.stack = error.stack;
    scope.postMessage({ failed: copy });
  }
}

if ("WorkerGlobalScope" in globalThis) {
  const scope = globalThis as unknown as WorkerScope;
  scope.onmessage = ({ data }) => void serveInWorker(scope, data as WorkerStart);
}
