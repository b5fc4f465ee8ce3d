// Runs a program of threads under a virtual clock and says what broke: the violations its
// steps noted on the way, how the run ended, and the end-of-run invariants.
import { type Coroutine, sleep, yieldNow } from "../../../mod.ts";
import { close, receive, selectStep, send, tryReceive, trySend } from "./_channel_steps.ts";
import { publish, subscribe } from "./_broadcast_steps.ts";
import { checkEnd } from "./_invariants.ts";
import { HUNG, runGuarded, type Trace } from "./_journal.ts";
import type { Op, Program } from "./_program.ts";
import { lockStep, semaphoreStep, waitEvent } from "./_sync_steps.ts";
import {
  allOrRace,
  groupStep,
  joinStep,
  killManyStep,
  killStep,
  scope,
  spawnInGroup,
  spawnOwned,
  startGroupThread,
  startThread,
  throwStep,
  timeLimit,
} from "./_thread_steps.ts";
import { type Actor, World } from "./_world.ts";

function* perform(world: World, actor: Actor, ops: Op[]): Coroutine<void> {
  for (const op of ops) yield* step(world, actor, op);
}

function* step(world: World, actor: Actor, op: Op): Coroutine<void> {
  world.note(`r${actor.id} ${op.t}`);
  switch (op.t) {
    case "sleep":
      return yield* sleep(op.ms);
    case "yield":
      return yield* yieldNow();
    case "send":
      return yield* send(world, actor, op);
    case "receive":
      return yield* receive(world, actor, op);
    case "trySend":
      return trySend(world, actor, op.ch);
    case "tryReceive":
      return tryReceive(world, actor, op.ch);
    case "close":
      return close(world, actor, op.ch, op.withError);
    case "select":
      return yield* selectStep(world, actor, op);
    case "lock":
      return yield* lockStep(world, actor, op);
    case "semaphore":
      return yield* semaphoreStep(world, actor, op);
    case "setEvent":
      world.event.set();
      return;
    case "waitEvent":
      return yield* waitEvent(world, actor, op);
    case "spawn":
      return yield* startThread(world, actor, op.body, op.scope);
    case "scope":
      return yield* scope(world, actor, op);
    case "spawnOwned":
      return yield* spawnOwned(world, actor, op);
    case "spawnInGroup":
      return yield* spawnInGroup(world, actor, op);
    case "kill":
      return yield* killStep(world, actor, op);
    case "killMany":
      return yield* killManyStep(world, actor, op);
    case "join":
      return yield* joinStep(world, actor, op);
    case "group":
      return yield* groupStep(world, actor, op);
    case "all":
    case "race":
      return yield* allOrRace(world, actor, op);
    case "timeLimit":
      return yield* timeLimit(world, actor, op);
    case "publish":
      return yield* publish(world, actor, op);
    case "subscribe":
      return yield* subscribe(world, actor, op);
    case "closeBroadcast":
      world.broadcasts[op.b].close();
      return;
    case "throw":
      throwStep(world, actor);
  }
}

/** The root thread: starts the first threads, then runs its own steps. */
function* root(world: World): Coroutine<string> {
  const id = world.newThread("ROOT");
  const record = world.thread(id);
  const actor = world.newActor(id);
  record.started++;
  try {
    for (const start of world.program.initial) {
      if (start.group) yield* startGroupThread(world, start.body);
      else yield* startThread(world, actor, start.body, start.scope);
    }
    yield* perform(world, actor, world.program.root);
    record.returned = true;
    return "root done";
  } finally {
    record.finallies++;
  }
}

export async function runProgram(program: Program): Promise<Trace> {
  const world = new World(program, perform);
  const ending = await runGuarded(root(world), world.clock);
  if ("hung" in ending) return world.trace(HUNG);
  let outcome: string;
  if ("value" in ending) {
    outcome = `resolved ${ending.value}`;
    if (ending.value !== "root done") world.violation(`run resolved with ${ending.value}`);
  } else outcome = `rejected ${rejection(world, ending.error)}`;
  checkEnd(world);
  return world.trace(outcome);
}

/**
 * Names the run's error, noting it if no rule lets it reach the run: only what the
 * program threw may (or the library errors `ErrorLedger.unowed` allows, or a deadlock the
 * program made), never a `KilledError`.
 */
function rejection(world: World, error: unknown): string {
  const { errors } = world;
  errors.observe(error);
  const name = errors.name(error);
  world.note(`run rejected with ${errors.describe(error)}`);
  if (
    name.includes("OTHER") || name.includes("KilledError") || errors.unowed(error) !== undefined
  ) {
    world.violation(`run rejected with ${errors.describe(error)}`);
  }
  const programs = name === "ProgramError" || error instanceof SuppressedError;
  if (programs && !errors.anyThrown && !errors.explains(error)) {
    world.violation(`run rejected with ${name}, but nobody threw`);
  }
  return name;
}
