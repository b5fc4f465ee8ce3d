// A handler for the serveWorkers tests whose Workers but the first take 600 ms to load, so
// that a test can reach the first while `serveWorkers` is still starting. The handler is
// _worker_dies.ts's.
const name = (globalThis as unknown as { name: string }).name;
if (name !== "bluelet-worker-1") await new Promise((resolve) => setTimeout(resolve, 600));

export { handler } from "./_worker_dies.ts";
