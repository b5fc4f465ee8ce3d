// A Worker of a user's own (not one of serveWorkers') that imports bluelet and answers
// messages: bluelet must leave it alone. It first says whether importing bluelet changed
// `Event.prototype.preventDefault`, then echoes every message.
const before = Event.prototype.preventDefault;
await import("../../mod.ts");
self.addEventListener("message", (event) => {
  self.postMessage({ echo: (event as MessageEvent).data });
});
self.postMessage({ patched: Event.prototype.preventDefault !== before });
