// Errors that tell their story. The kernel drives each coroutine frame separately, so an
// error's own stack shows only the frames that were running when it was made, followed by
// the kernel's. Two moments add the rest, both on the error path only, so the happy path
// pays nothing:
//
// - When an error is thrown into a frame that waits in `yield* event` (the typed style),
//   the event's iterator's `throw` runs inside that frame: a stack captured there names
//   the frame's generator function and the line it waits on, and every frame delegating
//   to it with `yield*`.
// - When an error escapes a thread, the kernel adds which thread it was, and the chain of
//   threads that spawned it.
//
// With `run(op, { trace: true })`, events record where they were made, so threads also
// tell where they were spawned.

/** A native generator resumption: the line below which the kernel's own frames start. */
const RESUMPTION = /^\s*at \S+\.(?:next|throw|return) \(<anonymous>\)$/;
/** The story stops growing here, so an error rethrown in a loop cannot grow without bound. */
const MAX_STACK_LINES = 100;
/** The library's folders: frames in them are the library's, not the user's. */
const LIBRARY_DIRS = [new URL(".", import.meta.url).href, new URL("../net/", import.meta.url).href];
/** A stack line that names a frame. */
const AT = /^\s*at /;

/**
 * Appends `lines` (or what `lines()` gives, made only if needed) to `error.stack`, first
 * cutting the kernel's frames that follow the coroutine frames already there. Does nothing
 * for a value that is not an extensible `Error`, or once its story is long enough.
 */
export function addToStory(error: unknown, lines: readonly string[] | (() => string[])): void {
  if (!(error instanceof Error) || !Object.isExtensible(error)) return;
  const stack = error.stack;
  if (typeof stack !== "string") return;
  const kept = withoutKernelFrames(stack.split("\n"));
  if (kept.length >= MAX_STACK_LINES) return;
  const added = typeof lines === "function" ? lines() : lines;
  if (added.length === 0) return;
  for (const line of added) kept.push(`    ${line}`);
  try {
    error.stack = kept.join("\n");
  } catch {
    // An error whose stack cannot be set keeps the one it has.
  }
}

function withoutKernelFrames(lines: string[]): string[] {
  // Keep the message and the coroutine frames; drop the generator resumptions between
  // them and everything from the library's first frame on. Only if some frame of user
  // code is there: a stack made by the library itself keeps what it has.
  const first = lines.findIndex((line) => AT.test(line));
  if (first < 0 || isLibrary(lines[first])) return lines;
  const kept = lines.slice(0, first);
  for (let i = first; i < lines.length; i++) {
    const line = lines[i];
    if (isLibrary(line)) break;
    if (!RESUMPTION.test(line)) kept.push(line);
  }
  return kept;
}

/**
 * The coroutine frames waiting at the current point, innermost first, as `at fn (file)`
 * lines: the frames below the library's code calling this, down to the kernel.
 */
export function waitingFrames(): string[] {
  const lines = new Error().stack?.split("\n") ?? [];
  const frames: string[] = [];
  let i = 1;
  while (i < lines.length && isLibrary(lines[i])) i++;
  for (; i < lines.length; i++) {
    const line = lines[i];
    if (isLibrary(line)) break;
    if (!RESUMPTION.test(line)) frames.push(line.trim());
  }
  return frames;
}

function isLibrary(line: string): boolean {
  return line.includes(LIBRARY_DIRS[0]) || line.includes(LIBRARY_DIRS[1]);
}

/** Whether events record where they are made; the kernel turns it on in `trace` mode. */
export const tracing = { on: false };

/**
 * Captures where the code that makes an event is, cheaply: the engine records the frames
 * now, and formats them only if `siteOf` is ever asked (for an error or a snapshot).
 */
export function captureSite(): Error {
  return new Error();
}

/** The `file:line:column` of the first frame outside the library in a captured site. */
export function siteOf(capture: Error | undefined): string | undefined {
  if (capture === undefined) return undefined;
  const lines = capture.stack?.split("\n") ?? [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    // The engine's own frame (a generator resumed by the kernel) says nothing either.
    if (isLibrary(line) || RESUMPTION.test(line)) continue;
    const match = /\((.*)\)$/.exec(line.trim()) ?? /^at (.*)$/.exec(line.trim());
    return match?.[1];
  }
  return undefined;
}
