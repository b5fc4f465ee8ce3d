// A module for the serveWorkers tests whose first Worker fails while the others still load
// (they take 1,500 ms). Once it listens, as the Worker's name ends in "#how" (the test
// passes it in the module URL's hash): "exit", a timer throws "first: thrown from a timer"
// and the module's own error listener calls `Deno.exit(3)`; "close", the same with
// `close()`; "two", two promises are rejected in one turn ("A", "B"), neither handled;
// "both", a timer throws "first: thrown from a timer" while the second Worker, busy loading
// for 1,000 ms (where no message can reach it), then fails to load ("second: the load").
const name = (globalThis as unknown as { name: string }).name;
const how = new URL(import.meta.url).hash.slice(1);
if (name === "bluelet-worker-1") {
  if (how === "exit") addEventListener("error", () => Deno.exit(3));
  if (how === "close") {
    addEventListener("error", () => (globalThis as unknown as { close(): void }).close());
  }
  setTimeout(() => {
    if (how === "two") {
      Promise.reject(new Error("A"));
      Promise.reject(new Error("B"));
    } else throw new Error("first: thrown from a timer");
  }, 300);
} else if (how === "both") {
  const until = performance.now() + 1000;
  while (performance.now() < until) {
    // Busy: the shutdown that the first Worker's failure brings cannot be heard meanwhile.
  }
  throw new Error("second: the load");
} else {
  await new Promise((resolve) => setTimeout(resolve, 1500));
}

/** Never called: the start fails first. */
export function* handler(): Generator<never, void, unknown> {}
