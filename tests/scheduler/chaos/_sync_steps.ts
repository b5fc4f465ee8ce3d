// Lock, semaphore and event steps. The program keeps its own count of holders beside the
// primitives', so a lock held twice or a permit made from nothing shows at once.
import { type Coroutine, moveOnAfter, sleep, withTimeout } from "../../../mod.ts";
import type { AcquireMode, Op } from "./_program.ts";
import { type Actor, PERMITS, type World } from "./_world.ts";

type LockStep = Extract<Op, { t: "lock" }>;
type SemaphoreStep = Extract<Op, { t: "semaphore" }>;
type WaitEvent = Extract<Op, { t: "waitEvent" }>;

/** Holds the lock for `hold` ms (less one: a hold of 0 does not yield). */
export function* holdLock(world: World, actor: Actor, hold: number): Coroutine<void> {
  if (world.lockHolder !== null) {
    world.violation(`lock held by r${world.lockHolder} and r${actor.id}`);
  }
  if (!world.lock.locked) world.violation(`lock acquired, but lock.locked is false`);
  world.lockHolder = actor.id;
  world.note(`r${actor.id} lock acquired`);
  try {
    if (hold > 0) yield* sleep(hold - 1);
  } finally {
    if (world.lockHolder !== actor.id) {
      world.violation(`lock holder changed under r${actor.id}: r${world.lockHolder}`);
    }
    world.lockHolder = null;
  }
}

/** Acquires by `mode`; says whether it holds the lock (or semaphore) now. */
function* acquire(
  world: World,
  actor: Actor,
  what: "lock" | "semaphore",
  mode: AcquireMode,
  ms: number,
): Coroutine<boolean> {
  const primitive = what === "lock" ? world.lock : world.semaphore;
  try {
    switch (mode) {
      case "try":
        return primitive.tryAcquire();
      case "plain":
        yield* primitive.acquire();
        return true;
      case "withTimeout":
        yield* withTimeout(ms, primitive.acquire());
        return true;
      case "moveOnAfter": {
        const result = yield* moveOnAfter(ms, primitive.acquire());
        if (result.timedOut) world.note(`r${actor.id} ${what} timed out`);
        return !result.timedOut;
      }
    }
  } catch (error) {
    world.note(`r${actor.id} ${what} threw ${world.caught(error, what)}`);
    return false;
  }
}

export function* lockStep(world: World, actor: Actor, op: LockStep): Coroutine<void> {
  const mode = op.mode === "withLock" ? "within" : op.mode;
  yield* acquireAndHold(world, actor, "lock", mode, op.ms, holdLock(world, actor, op.hold));
}

export function* semaphoreStep(world: World, actor: Actor, op: SemaphoreStep): Coroutine<void> {
  const mode = op.mode === "withPermit" ? "within" : op.mode;
  yield* acquireAndHold(world, actor, "semaphore", mode, op.ms, holdPermit(world, actor, op.hold));
}

/**
 * Acquires the lock or a permit by `mode` (`within`: through `withLock` or `withPermit`),
 * runs `hold`, and releases it.
 */
function* acquireAndHold(
  world: World,
  actor: Actor,
  what: "lock" | "semaphore",
  mode: AcquireMode | "within",
  ms: number,
  hold: Coroutine<void>,
): Coroutine<void> {
  const primitive = what === "lock" ? world.lock : world.semaphore;
  if (mode === "within") {
    try {
      yield* (what === "lock" ? world.lock.withLock(hold) : world.semaphore.withPermit(hold));
    } catch (error) {
      world.note(`r${actor.id} ${what} threw ${world.caught(error, what)}`);
    }
    return;
  }
  if (!(yield* acquire(world, actor, what, mode, ms))) return;
  try {
    yield* hold;
  } finally {
    primitive.release();
  }
}

function* holdPermit(world: World, actor: Actor, hold: number): Coroutine<void> {
  world.permitsHeld++;
  if (world.permitsHeld > PERMITS) {
    world.violation(`semaphore over-subscribed: ${world.permitsHeld}`);
  }
  if (world.semaphore.available + world.permitsHeld > PERMITS) {
    world.violation(
      `semaphore made permits: ${world.semaphore.available} available, ${world.permitsHeld} held`,
    );
  }
  world.note(`r${actor.id} permit acquired (${world.permitsHeld} held)`);
  try {
    if (hold > 0) yield* sleep(hold - 1);
  } finally {
    world.permitsHeld--;
  }
}

export function* waitEvent(world: World, actor: Actor, op: WaitEvent): Coroutine<void> {
  try {
    if (op.mode === "plain") yield* world.event.wait();
    else if (op.mode === "withTimeout") yield* withTimeout(op.ms, world.event.wait());
    else if ((yield* moveOnAfter(op.ms, world.event.wait())).timedOut) {
      world.note(`r${actor.id} waitEvent timed out`);
      return;
    }
    if (!world.event.isSet) world.violation(`event wait returned, but the event is not set`);
    world.note(`r${actor.id} waitEvent ok`);
  } catch (error) {
    world.note(`r${actor.id} waitEvent threw ${world.caught(error, "waitEvent")}`);
  }
}
