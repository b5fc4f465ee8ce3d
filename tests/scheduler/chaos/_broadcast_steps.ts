// Broadcast steps inside thread programs: publishes recorded with where in the log they
// began and ended, subscriptions with what they got, for the end-of-run checks.
import { type Coroutine, moveOnAfter, withTimeout } from "../../../mod.ts";
import type { Op } from "./_program.ts";
import { type Actor, OVERFLOWS, type PublishRecord, type World } from "./_world.ts";

type Publish = Extract<Op, { t: "publish" }>;
type Subscribe = Extract<Op, { t: "subscribe" }>;

export function* publish(world: World, actor: Actor, op: Publish): Coroutine<void> {
  const broadcast = world.broadcasts[op.b];
  const seq = actor.seq++;
  const item = `${actor.id}.p${seq}`;
  const record: PublishRecord = {
    b: op.b,
    publisher: actor.id,
    seq,
    status: "attempt",
    startAt: world.log.length,
    doneAt: -1,
  };
  world.publishes.set(item, record);
  try {
    if (op.mode === "try") {
      record.status = broadcast.tryPublish(item) ? "ok" : "tryFalse";
      if (record.status === "tryFalse" && OVERFLOWS[op.b] !== "wait") {
        world.violation(`tryPublish gave false under ${OVERFLOWS[op.b]}`);
      }
    } else if (op.mode === "plain") {
      yield* broadcast.publish(item);
      record.status = "ok";
    } else {
      yield* withTimeout(op.ms, broadcast.publish(item));
      record.status = "ok";
    }
    record.doneAt = world.log.length;
  } catch (error) {
    const name = world.caught(error, "publish");
    record.status = name === "ClosedError" ? "closed" : name === "TimeoutError" ? "timeout" : "err";
    if (name === "ClosedError" && !broadcast.closed) {
      world.violation(`publish threw ClosedError on an open broadcast`);
    }
  } finally {
    if (record.status === "attempt") record.status = "killed";
    world.note(`r${actor.id} publish b${op.b} ${item} ${record.status}`);
  }
}

export function* subscribe(world: World, actor: Actor, op: Subscribe): Coroutine<void> {
  const record = { b: op.b, startAt: world.log.length, items: [] as string[] };
  world.subscriptions.push(record);
  const subscription = yield* world.broadcasts[op.b].subscribe();
  world.note(`r${actor.id} subscribed b${op.b}`);
  try {
    for (let i = 0; i < op.n; i++) {
      const result = yield* moveOnAfter(op.ms, subscription.receive());
      if (result.timedOut) break;
      if (result.value.done) {
        world.note(`r${actor.id} subscription b${op.b} done`);
        break;
      }
      const item = result.value.value;
      if (!world.publishes.has(item)) world.violation(`subscriber got unknown item ${item}`);
      record.items.push(item);
      world.note(`r${actor.id} subscription b${op.b} got ${item}`);
    }
  } catch (error) {
    const name = world.caught(error, "subscription");
    if (name === "LaggedError" && OVERFLOWS[op.b] !== "end") {
      world.violation(`LaggedError under ${OVERFLOWS[op.b]}`);
    }
    world.note(`r${actor.id} subscription b${op.b} threw ${name}`);
  } finally {
    if (op.close) subscription.close();
  }
}
