// A Worker of a user's own (not one of serveWorkers') that imports bluelet and answers
// messages: bluelet must leave it alone. It first says whether importing bluelet changed
// `Event.prototype.preventDefault`, then echoes every message.
const scope = globalThis as unknown as {
  addEventListener(type: "message", listener: (event: MessageEvent) => void): void;
  postMessage(message: unknown): void;
};
const before = Event.prototype.preventDefault;
await import("../../mod.ts");
scope.addEventListener("message", (event) => scope.postMessage({ echo: event.data }));
scope.postMessage({ patched: Event.prototype.preventDefault !== before });
