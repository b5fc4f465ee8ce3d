// What `serveWorkers` (net/serve_workers.ts) and each of its Workers (net/_serve_worker.ts)
// say to each other. Kept apart from the Worker's program, which takes over the Worker that
// loads it: importing bluelet must leave a user's own Workers alone.
import type { ServerOptions } from "./server.ts";

/** What the main thread sends a Worker first. */
export interface WorkerStart {
  module: string;
  exportName: string;
  host: string;
  port: number;
  options: Pick<ServerOptions, "maxConnections" | "idleTimeout">;
  /** This Worker's share of the process's descriptor budget (see net/_fd_guard.ts). */
  budget: number;
  /** How many Workers share the process's descriptors, this one included. */
  sharers: number;
  /**
   * The Worker's end of a channel of their own, for its reports and the shutdown: the
   * Worker's global messages belong to the module, which may post anything.
   */
  channel: MessagePort;
}

/**
 * What a Worker reports: it listens; something went wrong (each error as it comes, copied
 * across by structured clone, so that none is lost if the Worker is then terminated; with
 * its `name`, which the clone keeps only for the built-in kinds of error); it
 * has stopped. `asked` says whether it had been asked to stop before that error: the first
 * error of one that was not is why it stopped, or failed to start.
 */
export type WorkerReport =
  | { listening: number }
  | { trouble: unknown; name: string | undefined; asked: boolean }
  | { stopped: true }
  // An error event's error, told before its listeners have all run (`unless` numbers it),
  // then whether one of them handled it: a later listener may end the Worker on the spot.
  | { trouble: unknown; name: string | undefined; asked: boolean; unless: number }
  | { handled: number }
  | { unhandled: number }
  | { outOfDescriptors: true };

/** What the main thread sends to stop a Worker. */
export const SHUTDOWN = "shutdown";

/**
 * What the main thread sends the other Workers when one reports `outOfDescriptors`: hold
 * for a while (see `DescriptorGuard.hold`).
 */
export const HOLD = "hold";

/** `String(value)`, or its tag where that throws (an object with no prototype, say). */
export function printable(value: unknown): string {
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
