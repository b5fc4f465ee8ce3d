// Channel steps: each item is a unique token, recorded with what its sender saw, so that the
// end-of-run checks can count every item's receipts against its send's outcome.
import {
  type Coroutine,
  moveOnAfter,
  type Operation,
  select,
  sleep,
  withTimeout,
} from "../../../mod.ts";
import type { Op } from "./_program.ts";
import type { Actor, World } from "./_world.ts";

type Send = Extract<Op, { t: "send" }>;
type Receive = Extract<Op, { t: "receive" }>;
type Select = Extract<Op, { t: "select" }>;

function newItem(world: World, actor: Actor, ch: number): string {
  const seq = actor.seq++;
  const item = `${actor.id}.${seq}`;
  world.sends.set(item, { ch, sender: actor.id, seq, status: "attempt" });
  return item;
}

/**
 * Runs `inner` as an operation's own coroutine (so in a helper thread) under `withTimeout`
 * or `moveOnAfter`, noting what it throws: a caller killed before it took such an error in
 * hands it to its killer (see `ErrorLedger.fromBodies`).
 */
function* limitedBody(
  world: World,
  mode: "withTimeoutBody" | "moveOnAfterBody",
  ms: number,
  inner: Coroutine<void>,
): Coroutine<void> {
  const operation = function* () {
    try {
      yield* inner;
    } catch (error) {
      world.errors.fromBodies.add(error);
      throw error;
    }
  }();
  if (mode === "withTimeoutBody") yield* withTimeout(ms, operation);
  else yield* moveOnAfter(ms, operation);
}

export function* send(world: World, actor: Actor, op: Send): Coroutine<void> {
  const channel = world.channels[op.ch];
  const item = newItem(world, actor, op.ch);
  const record = world.sends.get(item)!;
  try {
    switch (op.mode) {
      case "plain":
        yield* channel.send(item);
        record.status = "ok";
        break;
      case "bare":
        yield channel.send(item);
        record.status = "ok";
        break;
      case "withTimeout":
        yield* withTimeout(op.ms, channel.send(item));
        record.status = "ok";
        break;
      case "moveOnAfter": {
        const result = yield* moveOnAfter(op.ms, channel.send(item));
        record.status = result.timedOut ? "timeout" : "ok";
        break;
      }
      case "withTimeoutBody":
      case "moveOnAfterBody":
        yield* limitedBody(
          world,
          op.mode,
          op.ms,
          function* () {
            yield* channel.send(item);
            record.status = "ok";
          }(),
        );
        break;
      case "select": {
        const result = yield* select([channel.send(item), sleep(op.ms)]);
        record.status = result.index === 0 ? "ok" : "loser";
        break;
      }
    }
  } catch (error) {
    const name = world.caught(error, "send");
    if (name === "ClosedError" && !channel.closed) {
      world.violation(`send threw ClosedError on open ch${op.ch}`);
    }
    if (record.status === "attempt") {
      // A body's send cut short by the deadline was killed in its helper thread.
      if (name === "ClosedError") record.status = "closed";
      else if (name === "TimeoutError" && op.mode !== "withTimeoutBody") record.status = "timeout";
    }
  } finally {
    if (record.status === "attempt") record.status = "killed";
    world.note(`r${actor.id} send ${op.mode} ch${op.ch} ${item} ${record.status}`);
  }
}

function received(
  world: World,
  actor: Actor,
  ch: number,
  result: IteratorResult<string, undefined>,
  how: string,
): void {
  if (result.done) {
    if (!world.channels[ch].closed) world.violation(`${how}: got done on open ch${ch}`);
    if (world.closeErrors[ch] !== undefined) {
      world.violation(`${how}: got done on ch${ch}, closed with an error`);
    }
    world.note(`r${actor.id} ${how} ch${ch} done`);
    return;
  }
  const item = result.value;
  const sent = world.sends.get(item);
  if (sent === undefined) world.violation(`${how}: received unknown item ${item}`);
  else if (sent.ch !== ch) {
    world.violation(`${how}: ${item} sent on ch${sent.ch}, received on ch${ch}`);
  }
  world.receipts.push({ receiver: actor.id, ch, item });
  world.note(`r${actor.id} ${how} ch${ch} got ${item}`);
}

function receiveFailed(world: World, actor: Actor, ch: number, error: unknown, how: string): void {
  const name = world.caught(error, how);
  if (name === "CloseError") {
    if (error !== world.closeErrors[ch]) {
      world.violation(`${how}: ch${ch} threw another's close error`);
    }
    if (!world.channels[ch].closed) world.violation(`${how}: close error from open ch${ch}`);
  }
  world.note(`r${actor.id} ${how} ch${ch} threw ${name}`);
}

export function* receive(world: World, actor: Actor, op: Receive): Coroutine<void> {
  const channel = world.channels[op.ch];
  const how = `receive-${op.mode}`;
  const got = (who: Actor, result: IteratorResult<string, undefined>) =>
    received(world, who, op.ch, result, how);
  try {
    switch (op.mode) {
      case "plain":
        got(actor, yield* channel.receive());
        break;
      case "bare":
        got(actor, (yield channel.receive()) as IteratorResult<string, undefined>);
        break;
      case "withTimeout":
        got(actor, yield* withTimeout(op.ms, channel.receive()));
        break;
      case "moveOnAfter": {
        const result = yield* moveOnAfter(op.ms, channel.receive());
        if (result.timedOut) world.note(`r${actor.id} ${how} ch${op.ch} timed out`);
        else got(actor, result.value);
        break;
      }
      case "withTimeoutBody":
      case "moveOnAfterBody": {
        const helper = world.subActor(actor);
        yield* limitedBody(
          world,
          op.mode,
          op.ms,
          function* () {
            got(helper, yield* channel.receive());
          }(),
        );
        break;
      }
      case "select": {
        const result = yield* select([channel.receive(), sleep(op.ms)]);
        if (result.index === 0) got(actor, result.value as IteratorResult<string, undefined>);
        else world.note(`r${actor.id} ${how} ch${op.ch} sleep won`);
        break;
      }
    }
  } catch (error) {
    receiveFailed(world, actor, op.ch, error, how);
  }
}

export function trySend(world: World, actor: Actor, ch: number): void {
  const item = newItem(world, actor, ch);
  const record = world.sends.get(item)!;
  try {
    record.status = world.channels[ch].trySend(item) ? "ok" : "tryFalse";
  } catch (error) {
    const name = world.caught(error, "trySend");
    if (name !== "ClosedError") world.violation(`trySend threw ${name}`);
    if (!world.channels[ch].closed) world.violation(`trySend threw ClosedError on open ch${ch}`);
    record.status = "closed";
  }
  world.note(`r${actor.id} trySend ch${ch} ${item} ${record.status}`);
}

export function tryReceive(world: World, actor: Actor, ch: number): void {
  try {
    const result = world.channels[ch].tryReceive();
    if (result !== undefined) return received(world, actor, ch, result, "tryReceive");
    // On a closed channel, only an item promised to a receiver woken for it (which may yet
    // give it back) makes a receive wait: one with none buffered has ended.
    const channel = world.channels[ch];
    if (channel.closed && channel.statistics().buffered === 0) {
      world.violation(`tryReceive gave undefined on closed, empty ch${ch}`);
    }
    world.note(`r${actor.id} tryReceive ch${ch} empty`);
  } catch (error) {
    receiveFailed(world, actor, ch, error, "tryReceive");
  }
}

export function close(world: World, actor: Actor, ch: number, withError: boolean): void {
  if (world.channels[ch].closed) return;
  if (withError) world.closeErrors[ch] = new Error(`ch${ch} closed`);
  world.channels[ch].close(world.closeErrors[ch]);
  world.note(`r${actor.id} close ch${ch} withError=${withError}`);
}

/** A select over distinct channels (a send or a receive each), sleeps and the event. */
export function* selectStep(world: World, actor: Actor, op: Select): Coroutine<void> {
  const seen = new Set<number>();
  const cases: { ch: number; send: boolean; item?: string }[] = [];
  for (const c of op.cases) {
    if (seen.has(c.ch)) continue;
    seen.add(c.ch);
    cases.push({ ...c });
  }
  const group = world.newSelect();
  for (const c of cases) {
    if (!c.send) continue;
    c.item = newItem(world, actor, c.ch);
    world.sends.get(c.item)!.select = group;
  }
  const events: Operation<unknown>[] = cases.map((c) =>
    c.send ? world.channels[c.ch].send(c.item!) : world.channels[c.ch].receive()
  );
  if (op.sleep !== null) events.push(sleep(op.sleep));
  if (op.eventCase) events.push(world.event.wait());
  if (op.secondSleep !== null) events.push(sleep(op.secondSleep));
  const statusOfSends = (winner: number) => {
    cases.forEach((c, i) => {
      if (c.send) world.sends.get(c.item!)!.status = i === winner ? "ok" : "loser";
    });
  };
  let settled = false;
  try {
    const result = yield* select(events);
    settled = true;
    statusOfSends(result.index);
    const winner = cases[result.index];
    if (winner === undefined) world.note(`r${actor.id} select: case ${result.index} won`);
    else if (winner.send) world.note(`r${actor.id} select sent ${winner.item} on ch${winner.ch}`);
    else {
      received(
        world,
        actor,
        winner.ch,
        result.value as IteratorResult<string, undefined>,
        "select",
      );
    }
  } catch (error) {
    settled = true;
    const name = world.caught(error, "select");
    statusOfSends(-1);
    if (name === "ClosedError" && !cases.some((c) => c.send && world.channels[c.ch].closed)) {
      world.violation(`select threw ClosedError, but no send case's channel is closed`);
    }
    world.note(`r${actor.id} select threw ${name}`);
  } finally {
    if (!settled) {
      // Killed while it waited: its sends took effect once or not at all.
      for (const c of cases) if (c.send) world.sends.get(c.item!)!.status = "killed";
      world.note(`r${actor.id} select killed`);
    }
  }
}
