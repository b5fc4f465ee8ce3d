// How the kernel describes threads and values to people: in deadlock reports, error
// stories, snapshots and misuse errors.
import type { Primitive } from "./_primitive.ts";
import { siteOf, tracing } from "./_story.ts";
import { type Thread, ThreadState } from "./_thread.ts";
import type { ThreadSnapshot, ThreadStateName } from "./snapshot.ts";

/** Names a thread for people: `thread 3 "fetcher"`. */
export function label(thread: Thread): string {
  const name = thread.extras?.name;
  return name === undefined ? `thread ${thread.id}` : `thread ${thread.id} ${JSON.stringify(name)}`;
}

/** How many threads a lineage names at most: the first ones, then the root. */
const LINEAGE_LIMIT = 10;

/**
 * A thread and those that spawned it, e.g. `thread 2, spawned by thread 1 (at x.ts:5:3)`.
 * Spawners that ended and were let go are told as a count (`descends from thread 1, 5
 * generations up`), and past LINEAGE_LIMIT threads only the root is named.
 */
export function describeLineage(thread: Thread): string {
  let text = "";
  let named = 0;
  let child: Thread | null = null;
  for (let t: Thread | null = thread; t !== null; t = t.parent) {
    if (named === LINEAGE_LIMIT - 1 && t.parent !== null) {
      let root: Thread = t;
      while (root.parent !== null) root = root.parent;
      text += `, descends from ${label(root)}, ${
        child!.generation - root.generation
      } generations up`;
      break;
    }
    const site = siteOf(t.extras?.frameSites?.[0]);
    const name = site === undefined ? label(t) : `${label(t)} (spawned at ${site})`;
    if (child === null) text = name;
    else if (child.generation - t.generation === 1) text += `, spawned by ${name}`;
    else text += `, descends from ${name}, ${child.generation - t.generation} generations up`;
    named++;
    child = t;
  }
  return text;
}

export function snapshotOf(thread: Thread): ThreadSnapshot {
  const state = stateName(thread);
  const waitsOn = state === "ready" || state === "running" ? "" : describeWait(thread);
  const sites = thread.extras?.frameSites ?? [];
  const stack: string[] = [];
  // Only a tracing run records sites; its root has none until its first `call`.
  for (let depth = thread.depth - 1; depth >= 0; depth--) {
    if (sites.length === 0 && !tracing.on) break;
    const capture = sites[depth];
    stack.push(siteOf(capture) ?? noSite(thread, depth, capture !== undefined));
  }
  return {
    id: thread.id,
    name: thread.extras?.name,
    state,
    waitsOn,
    killing: thread.killing,
    depth: thread.depth,
    stack,
    spawnedBy: thread.parent?.id ?? null,
    summary: `${label(thread)} ${thread.killing ? "being killed, " : ""}${state}${
      waitsOn === "" ? "" : `: ${waitsOn}`
    }`,
  };
}

/**
 * What a snapshot says of a frame whose site it cannot name, and why. `captured`: a site
 * was captured, with no frame of user code in it, so the library made the event.
 */
function noSite(thread: Thread, depth: number, captured: boolean): string {
  if (depth === 0) {
    if (thread.parent === null) return "(the root of the run)";
    // Not captured: the spawn event was made while no traced run was stepping (before
    // `run`, or in another run), so no site could be captured.
    return captured ? "(spawned by the library)" : "(spawned by an event made outside the run)";
  }
  if (captured) return "(called by the library)";
  // A shield event records where it was made, unless that was outside a traced run. A
  // plain `yield gen` suspends the frame before the kernel sees it: no place is known.
  return thread.extras?.shields?.includes(depth)
    ? "(shielded by an event made outside the run)"
    : "(a Bluelet-style call: yield gen)";
}

function stateName(thread: Thread): ThreadStateName {
  switch (thread.state) {
    case ThreadState.Ready:
      return "ready";
    case ThreadState.Running:
      return "running";
    case ThreadState.Sleeping:
      return "sleeping";
    case ThreadState.Awaiting:
    case ThreadState.SuspendedExternal:
      return "awaiting";
    case ThreadState.Joining:
      return "joining";
    case ThreadState.KillWaiting:
      return "killing";
    case ThreadState.Suspended:
      return "suspended";
    default:
      return "closing";
  }
}

/** How many targets of a kill of many a description names; it counts the rest. */
const KILL_TARGETS_NAMED = 5;

/** Says what a stuck thread waits on, for a `DeadlockError`. */
export function describeWait(thread: Thread): string {
  switch (thread.state) {
    case ThreadState.Joining: {
      // Waiting for its end without joining it (a task group for its children), or joining.
      const target = thread.extras!.waitingOn!;
      return target.extras?.watchers?.includes(thread)
        ? `the end of ${label(target)}`
        : `join(${label(target)})`;
    }
    case ThreadState.KillWaiting: {
      const extras = thread.extras!;
      const targets = extras.waitingOnAll?.filter((target) => target.state !== ThreadState.Done) ??
        [extras.waitingOn!];
      const named = targets.slice(0, KILL_TARGETS_NAMED).map(label);
      if (targets.length > KILL_TARGETS_NAMED) {
        named.push(`${targets.length - KILL_TARGETS_NAMED} more`);
      }
      return `kill(${named.join(", ")})`;
    }
    case ThreadState.Sleeping:
      return thread.timer === null
        ? "a time limit past what the virtual clock can reach"
        : `sleep ${thread.host.describeDeadline(thread.timer.deadline)}`;
    case ThreadState.Awaiting:
      return thread.primitive === null ? "a promise" : descriptionOf(thread.primitive);
    case ThreadState.Suspended:
    case ThreadState.SuspendedExternal:
      return thread.primitive === null ? "a suspension" : descriptionOf(thread.primitive);
    case ThreadState.Closing:
      return "the threads of its scope";
    default:
      return "nothing";
  }
}

/**
 * A primitive's description. It is user code, read while the kernel reports a deadlock or
 * takes a snapshot, from wherever the kernel runs (a timer): what it throws must not end
 * the process.
 */
export function descriptionOf(primitive: Primitive<unknown>): string {
  try {
    return String(primitive.description);
  } catch {
    return "a primitive whose description threw";
  }
}

/** Names a value in an error message without dumping it. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (typeof value === "function") {
    return `${isGeneratorFunction(value) ? "generator function" : "function"} ${
      functionName(value) || "(anonymous)"
    }`;
  }
  if (typeof value === "object") {
    let name: string;
    try {
      // A getter may throw, and so does every read of a revoked Proxy.
      name = String(value.constructor?.name ?? "no prototype");
    } catch {
      name = "whose constructor could not be read";
    }
    return `an object (${name})`;
  }
  if (typeof value === "string") {
    return `the string ${JSON.stringify(value.length > 20 ? value.slice(0, 20) + "..." : value)}`;
  }
  return `${typeof value} ${String(value)}`;
}

/** A function's name, or "" if reading it throws (a getter, a revoked Proxy). */
function functionName(value: { name: unknown }): string {
  try {
    const name = value.name;
    return typeof name === "string" ? name : "";
  } catch {
    return "";
  }
}

/**
 * Whether `value` is an object whose prototype cannot be read: a revoked Proxy, whose
 * every use throws. Misuse errors name it rather than let the engine's error through.
 */
export function unreadable(value: unknown): boolean {
  if ((typeof value !== "object" || value === null) && typeof value !== "function") return false;
  try {
    Object.getPrototypeOf(value);
    return false;
  } catch {
    return true;
  }
}

/** `value instanceof type`, and false where that throws (a revoked Proxy). */
export function isInstance(
  value: unknown,
  type: abstract new (...args: never[]) => unknown,
): boolean {
  try {
    return value instanceof type;
  } catch {
    return false;
  }
}

const GeneratorFunction = Object.getPrototypeOf(function* () {}).constructor;

/** Whether `value` is a `function*`: called, it makes a generator. */
export function isGeneratorFunction(value: unknown): value is (...args: never[]) => unknown {
  return isInstance(value, GeneratorFunction);
}

/**
 * The advice a misuse error adds when `value` is a `function*` given where its generator
 * belongs (the commonest slip): call it. Empty for anything else.
 */
export function callItHint(value: unknown): string {
  if (!isGeneratorFunction(value)) return "";
  const name = functionName(value);
  // Only a name that can be called by (not a bound function's "bound f", say).
  return /^[\p{L}_$][\p{L}\p{N}_$]*$/u.test(name)
    ? `; call it to make one, as in ${name}()`
    : "; call it to make one";
}
