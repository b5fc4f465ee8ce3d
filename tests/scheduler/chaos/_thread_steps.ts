// Steps that start, end and wait for threads, and the threads themselves: every thread's
// `finally` counts its runs (it must run exactly once), and its cleanup is one of the ways
// the README lets a `finally` clean up: shielded or not, yielding, or throwing.
import {
  all,
  type Coroutine,
  join,
  kill,
  KilledError,
  moveOnAfter,
  race,
  shield,
  sleep,
  spawn,
  taskGroup,
  withTimeout,
} from "../../../mod.ts";
import { receive, selectStep, send } from "./_channel_steps.ts";
import { forEachChained } from "./_errors.ts";
import type { Body, Op } from "./_program.ts";
import { holdLock } from "./_sync_steps.ts";
import type { Actor, World } from "./_world.ts";

type Step<T extends Op["t"]> = Extract<Op, { t: T }>;

/** A thread's body: its steps, then its cleanup, whatever ended it. */
export function* thread(world: World, id: number, body: Body): Coroutine<string> {
  const record = world.thread(id);
  if (++record.started > 1) world.violation(`${record.label} body entered twice`);
  const actor = world.newActor(id);
  let pending: unknown = undefined;
  world.note(`${record.label} start`);
  try {
    yield* world.perform(actor, body.ops);
    record.returned = true;
    world.note(`${record.label} return`);
    return `ret${id}`;
  } catch (error) {
    pending = error;
    if (!world.errors.name(error).includes("ProgramError")) {
      world.violation(`${record.label} escaped with ${world.errors.name(error)}`);
    }
    throw error;
  } finally {
    record.finallies++;
    world.note(`${record.label} finally`);
    let completed = false;
    try {
      yield* cleanUp(world, id, body.cleanup, pending);
      completed = true;
    } finally {
      // A kill that reaches a yielding `finally` ends it by `return()`, and JavaScript
      // drops the error in flight: it counts as seen.
      if (!completed) world.errors.observe(pending);
    }
  }
}

function* cleanUp(
  world: World,
  id: number,
  cleanup: Body["cleanup"],
  pending: unknown,
): Coroutine<void> {
  const record = world.thread(id);
  switch (cleanup) {
    case "none":
      return;
    case "shieldedSleep":
      return yield* shield(shieldedCleanup(world, id, false));
    case "shieldedLock":
      return yield* shield(shieldedCleanup(world, id, true));
    case "shieldedChannels":
      return yield* shield(channelCleanup(world, id));
    case "unshieldedSleep":
      return yield* sleep(1);
    case "unshieldedTimeout":
      // Not a leaf operation: withTimeout runs it in helper threads, in a `finally`.
      try {
        yield* withTimeout(2, sleep(3));
      } catch (error) {
        world.note(`${record.label} cleanup threw ${world.caught(error, "cleanup timeout")}`);
      }
      return;
    case "throw":
      world.errors.observe(pending); // JavaScript drops the error this throw replaces
      throw world.errors.raise(`finally of ${record.label}`);
    case "shieldedThrow":
      world.errors.observe(pending);
      return yield* shield(function* () {
        yield* sleep(1);
        throw world.errors.raise(`shielded finally of ${record.label}`);
      }());
  }
}

function* shieldedCleanup(world: World, id: number, withLock: boolean): Coroutine<void> {
  const record = world.thread(id);
  record.cleanupStarted++;
  yield* sleep(1);
  if (withLock) {
    try {
      yield* withTimeout(3, world.lock.withLock(holdLock(world, world.newActor(id), 1)));
    } catch (error) {
      world.caught(error, "cleanup lock");
    }
  }
  record.cleanupDone++;
}

function* channelCleanup(world: World, id: number): Coroutine<void> {
  const record = world.thread(id);
  record.cleanupStarted++;
  const actor = world.newActor(id);
  yield* sleep(1);
  yield* send(world, actor, { t: "send", ch: id % 3, mode: "withTimeout", ms: 2 });
  yield* receive(world, actor, { t: "receive", ch: (id + 1) % 3, mode: "moveOnAfter", ms: 2 });
  yield* selectStep(world, actor, {
    t: "select",
    cases: [{ ch: 0, send: false }, { ch: 2, send: true }],
    sleep: 2,
    eventCase: false,
    secondSleep: null,
  });
  record.cleanupDone++;
}

/** Starts a plain thread or a scope (`spawn` steps, and the root's first threads). */
export function* startThread(
  world: World,
  actor: Actor,
  body: number,
  scope: boolean,
): Coroutine<void> {
  if (!world.spend()) return;
  const id = world.newThread("T");
  const task = yield* spawn(thread(world, id, bodyAt(world, body)), { scope });
  world.targets.push({ task, thread: id });
  world.note(`r${actor.id} spawned T${id}`);
}

/** Starts a thread that runs a task group of two children (the root's `group` starts). */
export function* startGroupThread(world: World, body: number): Coroutine<void> {
  if (!world.spend()) return;
  const id = world.newThread("GW");
  const ops: Op[] = [{ t: "group", children: [body, body + 1], body: [{ t: "sleep", ms: 1 }] }];
  const task = yield* spawn(thread(world, id, { ops, cleanup: "none" }));
  world.targets.push({ task, thread: id });
}

function bodyAt(world: World, index: number): Body {
  return world.program.bodies[index % world.program.bodies.length];
}

export function* scope(world: World, actor: Actor, op: Step<"scope">): Coroutine<void> {
  if (!world.spend()) return;
  const id = world.newThread("S");
  const task = yield* spawn(thread(world, id, bodyAt(world, op.body)), { scope: true });
  world.targets.push({ task, thread: id });
  world.scopes.push({ task, thread: id });
  world.note(`r${actor.id} spawned scope S${id}`);
  if (!op.join) return;
  try {
    const value = yield* join(task);
    if (value !== `ret${id}`) world.violation(`joining scope S${id} gave ${value}`);
    world.note(`r${actor.id} joined scope S${id}`);
  } catch (error) {
    world.note(`r${actor.id} scope S${id} threw ${world.caught(error, "scope join")}`);
  }
  world.checkFinished(id, "after its scope was joined");
}

export function* spawnOwned(world: World, actor: Actor, op: Step<"spawnOwned">): Coroutine<void> {
  if (world.scopes.length === 0) return;
  const owner = world.scopes[op.scope % world.scopes.length];
  if (owner.task.done || !world.spend()) return;
  const id = world.newThread("O");
  try {
    const task = yield* spawn(thread(world, id, bodyAt(world, op.body)), { owner: owner.task });
    world.targets.push({ task, thread: id });
    world.note(`r${actor.id} spawned O${id} owned by S${owner.thread}`);
  } catch (error) {
    world.note(`r${actor.id} spawn owned threw ${world.caught(error, "spawnOwned")}`);
  }
}

export function* spawnInGroup(
  world: World,
  actor: Actor,
  op: Step<"spawnInGroup">,
): Coroutine<void> {
  if (world.groups.length === 0 || !world.spend()) return;
  const group = world.groups[op.group % world.groups.length];
  const id = world.newThread("X");
  try {
    const task = yield* group.spawn(thread(world, id, bodyAt(world, op.body)));
    world.targets.push({ task, thread: id });
    world.note(`r${actor.id} spawned X${id} in a group`);
  } catch (error) {
    if (error instanceof TypeError && /has ended/.test(error.message)) {
      world.note(`r${actor.id} spawn in group: the group has ended`);
    } else world.note(`r${actor.id} spawn in group threw ${world.caught(error, "spawnInGroup")}`);
  }
}

export function* killStep(world: World, actor: Actor, op: Step<"kill">): Coroutine<void> {
  if (world.targets.length === 0) return;
  const { task, thread: id } = world.targets[op.target % world.targets.length];
  const record = world.thread(id);
  const reason = op.reason ? { reason: `k${actor.id}` } : undefined;
  if (reason) record.reasons.push(reason);
  world.note(`r${actor.id} kill ${record.label}`);
  try {
    yield* (reason ? kill(task, reason) : kill(task));
  } catch (error) {
    world.errors.killThrew(error);
    world.note(`r${actor.id} kill threw ${world.caught(error, "kill")}`);
  }
  world.checkFinished(id, `after kill returned (killer r${actor.id})`);
  if (!task.done) world.violation(`after kill returned, ${record.label} is not done`);
  world.note(`r${actor.id} killed ${record.label}`);
}

export function* killManyStep(world: World, actor: Actor, op: Step<"killMany">): Coroutine<void> {
  if (world.targets.length === 0) return;
  const indexes = new Set(op.targets.map((target) => target % world.targets.length));
  const targets = [...indexes].map((i) => world.targets[i]);
  const reason = op.reason ? { reason: `k${actor.id}` } : undefined;
  for (const { thread: id } of targets) if (reason) world.thread(id).reasons.push(reason);
  const labels = targets.map(({ thread: id }) => world.thread(id).label).join(",");
  world.note(`r${actor.id} kill [${labels}]`);
  try {
    yield* kill(targets.map(({ task }) => task), reason);
  } catch (error) {
    world.errors.killThrew(error);
    world.note(`r${actor.id} kill many threw ${world.caught(error, "killMany")}`);
  }
  for (const { task, thread: id } of targets) {
    world.checkFinished(id, `after kill of many returned (killer r${actor.id})`);
    if (!task.done) {
      world.violation(`after kill of many returned, ${world.thread(id).label} is not done`);
    }
  }
  world.note(`r${actor.id} killed [${labels}]`);
}

export function* joinStep(world: World, actor: Actor, op: Step<"join">): Coroutine<void> {
  if (world.targets.length === 0) return;
  const { task, thread: id } = world.targets[op.target % world.targets.length];
  if (id === actor.thread) return;
  const record = world.thread(id);
  try {
    const value = op.bare ? yield join(task) : yield* join(task);
    if (value !== `ret${id}`) world.violation(`joining ${record.label} gave ${String(value)}`);
    if (!record.returned) {
      world.violation(`joining ${record.label} gave a value, but it never returned`);
    }
    world.note(`r${actor.id} joined ${record.label}`);
  } catch (error) {
    forEachChained(error, (e) => world.errors.joined.add(e));
    const name = world.caught(error, "join");
    if (error instanceof KilledError) {
      if (error.cause !== undefined && !record.reasons.includes(error.cause)) {
        world.violation(`joining ${record.label}: KilledError's cause is no reason given to kill`);
      }
    } else if (name === "ProgramError" && !world.errors.anyThrown) {
      world.violation(`joining ${record.label} threw a ProgramError, but nobody threw`);
    }
    world.note(`r${actor.id} join ${record.label} threw ${name}`);
  }
  world.checkFinished(id, "after join returned");
}

export function* groupStep(world: World, actor: Actor, op: Step<"group">): Coroutine<void> {
  const children: number[] = [];
  try {
    const value = yield* taskGroup(function* (group) {
      world.groups.push(group);
      for (const body of op.children) {
        if (!world.spend()) break;
        const id = world.newThread("G");
        children.push(id);
        const task = yield* group.spawn(thread(world, id, bodyAt(world, body)));
        world.targets.push({ task, thread: id });
      }
      yield* world.perform(world.subActor(actor), op.body);
      return "group value";
    });
    if (value !== "group value") world.violation(`taskGroup gave ${value}`);
    world.note(`r${actor.id} group done`);
  } catch (error) {
    world.note(`r${actor.id} group threw ${world.caught(error, "group")}`);
  }
  for (const id of children) world.checkFinished(id, "after its taskGroup ended");
}

/** A combinator's operation: steps of the caller's thread, counted like a thread's. */
function* branch(world: World, id: number, actor: Actor, ops: Op[]): Coroutine<number> {
  world.thread(id).started++;
  try {
    yield* world.perform(actor, ops);
    return id;
  } finally {
    world.thread(id).finallies++;
  }
}

export function* allOrRace(
  world: World,
  actor: Actor,
  op: Step<"all"> | Step<"race">,
): Coroutine<void> {
  const ids = op.branches.map(() => world.newThread("B"));
  const operations = op.branches.map((ops, i) =>
    branch(world, ids[i], world.subActor(actor, true), ops)
  );
  try {
    const result = op.t === "all" ? yield* all(operations) : yield* race(operations);
    world.note(`r${actor.id} ${op.t} gave ${JSON.stringify(result)}`);
  } catch (error) {
    world.note(`r${actor.id} ${op.t} threw ${world.caught(error, op.t)}`);
  }
  for (const id of ids) world.checkFinished(id, `after ${op.t} ended`);
}

export function* timeLimit(world: World, actor: Actor, op: Step<"timeLimit">): Coroutine<void> {
  const id = world.newThread("TL");
  const operation = branch(world, id, world.subActor(actor, true), op.ops);
  try {
    if (op.moveOn) {
      const result = yield* moveOnAfter(op.ms, operation);
      world.note(`r${actor.id} moveOnAfter block timedOut=${result.timedOut}`);
    } else {
      yield* withTimeout(op.ms, operation);
      world.note(`r${actor.id} withTimeout block ok`);
    }
  } catch (error) {
    world.note(`r${actor.id} time-limited block threw ${world.caught(error, "timeLimit")}`);
  }
  world.checkFinished(id, "after its time limit ended");
}

export function throwStep(world: World, actor: Actor): never {
  const where = world.inCombinator.has(actor.id) ? " in a combinator" : "";
  throw world.errors.raise(`thrown by r${actor.id}${where}`);
}
