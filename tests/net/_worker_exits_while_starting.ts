// A module for the serveWorkers tests whose first Worker fails while the others still load
// (they take 1,500 ms): once it listens, a timer throws "first: thrown from a timer", and
// the module's own error listener then calls `Deno.exit(3)`.
const name = (globalThis as unknown as { name: string }).name;
if (name === "bluelet-worker-1") {
  addEventListener("error", () => Deno.exit(3));
  setTimeout(() => {
    throw new Error("first: thrown from a timer");
  }, 300);
} else {
  await new Promise((resolve) => setTimeout(resolve, 1500));
}

/** Never called: the start fails first. */
export function* handler(): Generator<never, void, unknown> {}
