// A way back to Deno's event loop that lets it poll sockets, for a kernel that kept it busy.
// Deno polls sockets when it has nothing else to run and parks in `epoll`, or about every
// 60th turn of its loop. A `setTimeout(0)` makes it park, but Deno 2.9.6 fires it after
// about 2 ms, which a busy kernel then spends idle. Waiting on the background compile of an
// empty WebAssembly module makes it park just the same, until the compile ends: about
// 30 µs. Without WebAssembly (`--jitless`), or if the compile fails, the timer does it.

/** The smallest WebAssembly module: the magic number and the version, nothing else. */
const EMPTY_MODULE = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);

/** Calls `callback` once Deno's event loop has polled sockets; it cannot be called off. */
export function afterIoPoll(callback: () => void): void {
  const wasm = (globalThis as { WebAssembly?: typeof WebAssembly }).WebAssembly;
  if (wasm === undefined) {
    setTimeout(callback, 0);
    return;
  }
  wasm.compile(EMPTY_MODULE).then(callback, () => setTimeout(callback, 0));
}
