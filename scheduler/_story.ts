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
/**
 * A story keeps this many lines at most, so that an error rethrown in a loop (one object
 * thrown by every round's worker) cannot grow without bound: its first STORY_HEAD lines
 * and its newest ones, with a line between that says how many were left out.
 */
const MAX_STACK_LINES = 100;
const STORY_HEAD = 50;
/** The line that stands for the lines a story left out. */
const LEFT_OUT = /^ {4}… (\d+) lines? of this story left out …$/;
/** The library's folders: frames in them are the library's, not the user's. */
const LIBRARY_DIRS = [new URL(".", import.meta.url).href, new URL("../net/", import.meta.url).href];
/** A stack line that names a frame. */
const AT = /^\s*at /;
/** The kernel's frames: below the code that made an event, they are what drove that code. */
const KERNEL = new URL("./kernel.ts:", import.meta.url).href;

/**
 * Appends `lines` (or what `lines()` gives, made only if needed) to `error.stack`, first
 * cutting the kernel's frames that follow the coroutine frames already there. Does nothing
 * for a value that is not an extensible `Error`, or once its story is long enough.
 */
export function addToStory(error: unknown, lines: readonly string[] | (() => string[])): void {
  let stack: unknown;
  try {
    if (!(error instanceof Error) || !Object.isExtensible(error)) return;
    stack = error.stack;
  } catch {
    // A `stack` getter that throws, a revoked proxy: the value goes on as it is, never
    // replaced by what looking at it threw.
    return;
  }
  if (typeof stack !== "string") return;
  const told = storyWith(stack, lines);
  if (told === null) return;
  try {
    error.stack = told;
  } catch {
    // An error whose stack cannot be set keeps the one it has.
  }
}

/** `stack` without the kernel's frames, with `lines` added; null if nothing changes. */
function storyWith(stack: string, lines: readonly string[] | (() => string[])): string | null {
  const kept = withoutKernelFrames(stack.split("\n"));
  const added = typeof lines === "function" ? lines() : lines;
  if (added.length === 0) return null;
  for (const line of added) kept.push(`    ${line}`);
  return capped(kept).join("\n");
}

/** `lines`, or its first and newest ones if there are too many (see MAX_STACK_LINES). */
function capped(lines: string[]): string[] {
  if (lines.length <= MAX_STACK_LINES) return lines;
  // Where an earlier cut put its line, and nowhere else: a message may hold such a line.
  const at = LEFT_OUT.test(lines[STORY_HEAD]) ? STORY_HEAD : -1;
  const head = at < 0 ? lines.slice(0, STORY_HEAD) : lines.slice(0, at);
  const tail = at < 0 ? lines.slice(STORY_HEAD) : lines.slice(at + 1);
  const drop = tail.length - (MAX_STACK_LINES - head.length - 1);
  const left = (at < 0 ? 0 : Number(LEFT_OUT.exec(lines[at])![1])) + drop;
  return [...head, `    … ${left} lines of this story left out …`, ...tail.slice(drop)];
}

function withoutKernelFrames(lines: string[]): string[] {
  // Keep the message and the coroutine frames; drop the generator resumptions between
  // them and everything from the library's first frame below them on (the kernel, and
  // what drove it: a timer, the caller of `run`). An error the library made (a timeout, a
  // kill) starts with the library's frames where it was made: those are kept, up to the
  // kernel's or a generator resumption, below which the library's frames are the kernel's.
  const first = lines.findIndex((line) => AT.test(line));
  if (first < 0) return lines;
  const kept = lines.slice(0, first);
  let i = first;
  for (; i < lines.length && isLibrary(lines[i]); i++) {
    if (lines[i].includes(KERNEL)) return kept;
    kept.push(lines[i]);
  }
  for (; i < lines.length; i++) {
    const line = lines[i];
    if (isLibrary(line)) break;
    if (!RESUMPTION.test(line)) kept.push(line);
  }
  return kept;
}

/**
 * What a channel closed with `error` throws to each receiver: `error`, its story set back
 * to where it was at the close, so that each receiver's story tells its own frames. Closed
 * by a thread, the story says which first: the receivers' frames are of other threads.
 */
export function sharedError(error: unknown): () => unknown {
  // Only the receivers' story says so: the closer may go on to throw the error itself.
  const where = stepping.lineage?.() ?? null;
  const restore = storyFork(error, where === null ? [] : [`in ${where}`]);
  return () => {
    restore();
    return error;
  };
}

/**
 * Keeps the story `error` has told so far, for an error that goes several ways from here
 * (a failed thread's, handed to each of its joiners; a channel's, thrown to each of its
 * receivers): gives a function that sets the story back to that point, with `lines` added,
 * so that each way tells its own frames rather than those of every way before it.
 */
export function storyFork(error: unknown, lines: readonly string[] = []): () => void {
  let story: unknown;
  try {
    story = error instanceof Error && Object.isExtensible(error) ? error.stack : undefined;
  } catch {
    story = undefined; // a `stack` getter that throws: nothing to keep
  }
  if (typeof story !== "string") return () => {};
  story = storyWith(story, lines) ?? story;
  return () => {
    try {
      if ((error as Error).stack !== story) (error as Error).stack = story as string;
    } catch {
      // An error whose stack cannot be set keeps the one it has.
    }
  };
}

/**
 * The coroutine frames waiting at the current point, innermost first, as `at fn (file)`
 * lines: the frames below the library's code calling this, down to the kernel.
 */
export function waitingFrames(): string[] {
  // The engine's default depth (10 frames) first: formatting a frame costs (Deno maps it
  // to its source), and most waits are shallow. If the frames of user code go on past
  // them, the stack is taken again deep enough for all (the library's own frames would
  // otherwise leave the outer ones out).
  const frames = userFramesOf(new Error().stack);
  if (frames !== null) return frames;
  let limit: unknown = undefined;
  let raised = false;
  try {
    limit = Error.stackTraceLimit;
    if (!(typeof limit === "number" && limit >= MAX_STACK_LINES)) {
      Error.stackTraceLimit = MAX_STACK_LINES;
      raised = true;
    }
  } catch {
    // A limit the program made unwritable, or a getter: the frames the engine gives.
  }
  let stack: string | undefined;
  try {
    stack = new Error().stack;
  } finally {
    if (raised) Error.stackTraceLimit = limit as number;
  }
  return userFramesOf(stack) ?? userFramesOf(stack, true)!;
}

/**
 * The coroutine frames in a stack taken by `waitingFrames`: those below the library's
 * code calling it, down to the kernel. Null if they run to the end of the stack (it was
 * cut short, so more may follow), unless `whatever` says to take them as they are.
 */
function userFramesOf(stack: string | undefined, whatever = false): string[] | null {
  const lines = stack?.split("\n") ?? [];
  const frames: string[] = [];
  let i = 1;
  while (i < lines.length && isLibrary(lines[i])) i++;
  for (; i < lines.length; i++) {
    const line = lines[i];
    if (isLibrary(line)) return frames;
    if (!RESUMPTION.test(line)) frames.push(line.trim());
  }
  return whatever ? frames : null;
}

function isLibrary(line: string): boolean {
  return line.includes(LIBRARY_DIRS[0]) || line.includes(LIBRARY_DIRS[1]);
}

/** Whether events record where they are made; the kernel turns it on in `trace` mode. */
export const tracing = { on: false };

/**
 * The thread the running kernel steps, for a story, as `thread 1 "closer", spawned by
 * thread 0 "main"`; null outside a step. The kernel sets it while it drives.
 */
export const stepping: { lineage: (() => string | null) | null } = { lineage: null };

/** This file's frames: `captureSite`'s own. */
const STORY = new URL("./_story.ts:", import.meta.url).href;
/** A place in code: `file:line:column`, not `<anonymous>`, `native` or `index 0`. */
const PLACE = /:\d+:\d+$/;
/** A place in Deno's own code (`ext:deno_node/...`, `node:...`): never the user's. */
const INTERNAL = /^(?:ext|node):/;

/**
 * Captures where the code that makes an event is, cheaply: the engine records the frames
 * now, and formats them only if `siteOf` is ever asked (for an error or a snapshot).
 */
export function captureSite(): Error {
  // The engine's default depth (10 frames) is kept: each frame more costs every traced
  // spawn and call (20 frames make them about 40% slower). The events the library makes
  // show the kernel's frames within 10; a user frame below 10 of the library's goes unnamed.
  return new Error();
}

/**
 * The `file:line:column` of the frame of user code nearest to where a site was captured,
 * if there is one: undefined for an event the library made in its own generators (and
 * for a capture whose frames are all the library's).
 */
export function siteOf(capture: Error | undefined): string | undefined {
  if (capture === undefined) return undefined;
  const lines = capture.stack?.split("\n") ?? [];
  // The capturer's own frames: `captureSite`, and the kernel's when it makes an event
  // itself.
  let i = 1;
  while (i < lines.length && (lines[i].includes(STORY) || lines[i].includes(KERNEL))) i++;
  for (; i < lines.length; i++) {
    const line = lines[i];
    // Below the kernel is only what drove it (a timer, the caller of `run`): the code that
    // made the event is all above, so none of it was the user's.
    if (line.includes(KERNEL)) return undefined;
    // The library's frames, and the engine's own (a generator resumed, or delegated to
    // with `yield*`, `Array.map`), say nothing about the user's code.
    if (isLibrary(line) || RESUMPTION.test(line)) continue;
    const place = (/\((.*)\)$/.exec(line.trim()) ?? /^at (.*)$/.exec(line.trim()))?.[1];
    if (place !== undefined && PLACE.test(place) && !INTERNAL.test(place)) return place;
  }
  return undefined;
}
