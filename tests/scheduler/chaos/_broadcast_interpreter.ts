// Runs a broadcast program and checks what subscribers got against what publishers saw:
// no item twice, none refused or from before the subscription, each publisher's in order,
// all subscribers in one order, and (but under "dropOldest") no gaps.
import {
  Broadcast,
  ClosedError,
  type Coroutine,
  join,
  kill,
  KilledError,
  LaggedError,
  moveOnAfter,
  select,
  sleep,
  spawn,
  type Subscription,
  type Task,
  taskGroup,
  TimeoutError,
  VirtualClock,
  withTimeout,
} from "../../../mod.ts";
import type { BroadcastProgram, PublisherPlan, SubscriberPlan } from "./_broadcast_program.ts";
import { HUNG, Journal, runGuarded, type Trace } from "./_journal.ts";

/** A publish; `start` and `end` are log positions (`end` -1 until it ended). */
interface Published {
  publisher: number;
  seq: number;
  status: string;
  start: number;
  end: number;
}

/** A subscriber: where in the log it subscribed (-1: never), what it got, how it ended. */
interface Subscribed {
  index: number;
  at: number;
  items: string[];
  ending: string;
  dropped: number;
}

class BroadcastRun extends Journal {
  readonly program: BroadcastProgram;
  readonly broadcast: Broadcast<string>;
  readonly closeError: Error = new Error("broadcast closed");
  readonly published: Map<string, Published> = new Map();
  readonly subscribed: Subscribed[] = [];

  constructor(program: BroadcastProgram) {
    super(new VirtualClock());
    this.program = program;
    this.broadcast = new Broadcast({ capacity: program.capacity, overflow: program.overflow });
  }

  close(): void {
    this.broadcast.close(this.program.closeWithError ? this.closeError : undefined);
  }
}

function* subscriber(b: BroadcastRun, index: number, plan: SubscriberPlan): Coroutine<void> {
  const key = `sub${index}`;
  b.started(key);
  const record: Subscribed = { index, at: -1, items: [], ending: "killed", dropped: 0 };
  b.subscribed.push(record);
  try {
    yield* sleep(plan.delay);
    const subscription = yield* b.broadcast.subscribe();
    record.at = b.log.length;
    b.note(`${key} subscribed`);
    try {
      yield* receiveAll(b, key, record, subscription, plan);
    } catch (error) {
      record.ending = failedWith(b, key, error);
    } finally {
      record.dropped = subscription.statistics().dropped;
      if (plan.close) subscription.close();
    }
  } finally {
    b.note(`${key} ends: ${record.ending}`);
    b.finished(key);
  }
}

function* receiveAll(
  b: BroadcastRun,
  key: string,
  record: Subscribed,
  subscription: Subscription<string>,
  plan: SubscriberPlan,
): Coroutine<void> {
  for (let k = 0; k < plan.n; k++) {
    if (plan.slow) yield* sleep(plan.slow);
    const result = yield* receiveOne(subscription, plan);
    if (result === null) continue;
    if (result.done) {
      record.ending = "done";
      b.note(`${key} done`);
      return;
    }
    if (!b.published.has(result.value)) b.violation(`${key} got unknown ${result.value}`);
    record.items.push(result.value);
    b.note(`${key} got ${result.value}`);
  }
  record.ending = "took n";
}

/** One receive in the plan's way; null if it timed out or found nothing. */
function* receiveOne(
  subscription: Subscription<string>,
  plan: SubscriberPlan,
): Coroutine<IteratorResult<string, undefined> | null> {
  switch (plan.receive) {
    case "plain":
      return yield* subscription.receive();
    case "moveOnAfter": {
      const result = yield* moveOnAfter(plan.ms, subscription.receive());
      return result.timedOut ? null : result.value;
    }
    case "select": {
      const result = yield* select([subscription.receive(), sleep(plan.ms)]);
      return result.index === 1 ? null : result.value as IteratorResult<string, undefined>;
    }
    case "poll": {
      const result = subscription.tryReceive();
      if (result === undefined) yield* sleep(1);
      return result ?? null;
    }
  }
}

function failedWith(b: BroadcastRun, key: string, error: unknown): string {
  b.note(`${key} threw ${(error as Error).name}`);
  if (error instanceof LaggedError) {
    if (b.program.overflow !== "end") {
      b.violation(`${key} got a LaggedError under ${b.program.overflow}`);
    }
    if (!(error.missed >= 1)) b.violation(`${key} got a LaggedError that missed ${error.missed}`);
    return "lagged";
  }
  if (error === b.closeError) {
    if (!b.program.closeWithError || !b.broadcast.closed) {
      b.violation(`${key} got the close error unexpectedly`);
    }
    return "close error";
  }
  b.violation(`${key}'s receive threw ${(error as Error)?.name}: ${(error as Error)?.message}`);
  return "failed";
}

function* publisher(b: BroadcastRun, index: number, plan: PublisherPlan): Coroutine<void> {
  const key = `pub${index}`;
  b.started(key);
  try {
    for (let seq = 0; seq < plan.items.length; seq++) {
      const { gap, mode, ms } = plan.items[seq];
      if (gap) yield* sleep(gap);
      const item = `p${index}.${seq}`;
      const record: Published = {
        publisher: index,
        seq,
        status: "attempt",
        start: b.log.length,
        end: -1,
      };
      b.published.set(item, record);
      b.note(`pub ${item} starts (${mode})`);
      try {
        if (mode === "try") {
          record.status = b.broadcast.tryPublish(item) ? "ok" : "tryFalse";
          if (record.status === "tryFalse" && b.program.overflow !== "wait") {
            b.violation(`tryPublish gave false under ${b.program.overflow}`);
          }
        } else if (mode === "plain") {
          yield* b.broadcast.publish(item);
          record.status = "ok";
        } else if (mode === "withTimeout") {
          yield* withTimeout(ms, b.broadcast.publish(item));
          record.status = "ok";
        } else {
          const result = yield* moveOnAfter(ms, b.broadcast.publish(item));
          record.status = result.timedOut ? "timeout" : "ok";
        }
      } catch (error) {
        if (error instanceof ClosedError) {
          record.status = "closed";
          if (!b.broadcast.closed) b.violation(`publish threw ClosedError on an open broadcast`);
        } else if (error instanceof TimeoutError) record.status = "timeout";
        else b.violation(`publish threw ${(error as Error)?.name}: ${(error as Error)?.message}`);
      } finally {
        if (record.status === "attempt") record.status = "killed";
        record.end = b.log.length;
        b.note(`pub ${item} ${record.status}`);
      }
      if (record.status === "closed") return;
    }
  } finally {
    b.finished(key);
  }
}

/** Kills the task `target()` names (if any yet) at `at`. */
function* killAt(
  b: BroadcastRun,
  target: () => Task<unknown> | undefined,
  at: number,
  name: string,
): Coroutine<void> {
  yield* sleep(at);
  const task = target();
  if (task === undefined) return;
  b.note(`kill ${name}`);
  try {
    yield* kill(task);
  } catch (error) {
    b.violation(`kill ${name} threw ${(error as Error)?.name}`);
  }
  if (!task.done) b.violation(`after kill ${name} returned, it is not done`);
}

function* root(b: BroadcastRun): Coroutine<string> {
  const { program } = b;
  const subscribers: (Task<unknown> | undefined)[] = [];
  const grouped: number[] = [];
  for (const [i, plan] of program.subscribers.entries()) {
    if (plan.inGroup) grouped.push(i);
    subscribers.push(plan.inGroup ? undefined : yield* spawn(subscriber(b, i, plan)));
  }
  const others: Task<unknown>[] = [];
  if (grouped.length > 0) {
    others.push(
      yield* spawn(taskGroup(function* (group) {
        for (const i of grouped) {
          subscribers[i] = yield* group.spawn(subscriber(b, i, program.subscribers[i]));
        }
      })),
    );
  }
  const publishers: Task<unknown>[] = [];
  for (const [j, plan] of program.publishers.entries()) {
    publishers.push(yield* spawn(publisher(b, j, plan)));
  }
  for (const [i, { killAt: at }] of program.subscribers.entries()) {
    if (at !== null) others.push(yield* spawn(killAt(b, () => subscribers[i], at, `sub${i}`)));
  }
  for (const [j, { killAt: at }] of program.publishers.entries()) {
    if (at !== null) others.push(yield* spawn(killAt(b, () => publishers[j], at, `pub${j}`)));
  }
  if (program.closeAt !== null) {
    yield* sleep(program.closeAt);
    b.close();
    b.note("close");
  }
  for (const task of publishers) yield* joinQuietly(b, task);
  if (!b.broadcast.closed) {
    b.close();
    b.note("close after the publishers");
  }
  for (const task of [...subscribers, ...others]) {
    if (task !== undefined) yield* joinQuietly(b, task);
  }
  return "done";
}

/** Joins `task`; being killed is no failure here. */
function* joinQuietly(b: BroadcastRun, task: Task<unknown>): Coroutine<void> {
  try {
    yield* join(task);
  } catch (error) {
    if (!(error instanceof KilledError)) {
      b.violation(`join threw ${(error as Error)?.name}: ${(error as Error)?.message}`);
    }
  }
}

export async function runBroadcastProgram(program: BroadcastProgram): Promise<Trace> {
  const b = new BroadcastRun(program);
  const ending = await runGuarded(root(b), b.clock);
  if ("hung" in ending) return b.trace(HUNG);
  if ("error" in ending) {
    const { name, message } = ending.error as Error;
    b.violation(`run rejected with ${name}: ${message}`);
    return b.trace(`rejected ${(ending.error as Error)?.name}`);
  }
  checkEnd(b);
  return b.trace(`resolved ${ending.value}`);
}

function checkEnd(b: BroadcastRun): void {
  b.checkFinallies();
  const { subscribers, waitingPublishers } = b.broadcast.statistics();
  if (subscribers !== 0) b.violation(`${subscribers} subscribers at the end`);
  if (waitingPublishers !== 0) b.violation(`${waitingPublishers} waiting publishers at the end`);
  const positions = b.subscribed.map((s) => checkSubscriber(b, s));
  checkOneOrder(b, positions);
}

/** Checks one subscriber's items; gives where each item stands in them. */
function checkSubscriber(b: BroadcastRun, s: Subscribed): Map<string, number> {
  const key = `sub${s.index}`;
  const position = new Map<string, number>();
  s.items.forEach((item, i) => {
    if (position.has(item)) b.violation(`${key} got ${item} twice`);
    position.set(item, i);
  });
  const last = new Map<number, number>();
  for (const item of s.items) {
    const p = b.published.get(item);
    if (p === undefined) continue;
    if (p.status === "closed" || p.status === "tryFalse") {
      b.violation(`${key} got ${item}, whose publish ended ${p.status}`);
    }
    if (p.end !== -1 && p.end < s.at) {
      b.violation(`${key} got ${item}, published before it subscribed`);
    }
    const previous = last.get(p.publisher);
    if (previous !== undefined && p.seq <= previous) b.violation(`${key} got ${item} out of order`);
    last.set(p.publisher, p.seq);
  }
  if (s.at < 0) return position;
  const overflow = b.program.overflow;
  if (overflow !== "dropOldest") {
    // No gaps: a publish that returned after it subscribed, and before the publish of an
    // item it got began, reached it too.
    for (const item of s.items) {
      const later = b.published.get(item)!;
      for (const [other, p] of b.published) {
        if (p.status === "ok" && p.start > s.at && p.end < later.start && !position.has(other)) {
          b.violation(`${key} (${overflow}) missed ${other} before ${item}`);
        }
      }
    }
  }
  if (s.ending === "done" || s.ending === "close error") {
    // It read to the end: it got everything published after it subscribed (or, dropping
    // the oldest, got or dropped it, unless it closed its subscription itself).
    const since = [...b.published].filter(([, p]) => p.status === "ok" && p.start > s.at);
    if (overflow !== "dropOldest") {
      for (const [item] of since) {
        if (!position.has(item)) {
          b.violation(`${key} (${overflow}) read to the end, but never got ${item}`);
        }
      }
    } else if (
      s.items.length + s.dropped !== since.length && !b.program.subscribers[s.index].close
    ) {
      b.violation(
        `${key}: got ${s.items.length} and dropped ${s.dropped} of ${since.length} published`,
      );
    }
  }
  return position;
}

/** Every two subscribers got the items they share in the same order. */
function checkOneOrder(b: BroadcastRun, positions: Map<string, number>[]): void {
  for (let a = 0; a < b.subscribed.length; a++) {
    for (let c = a + 1; c < b.subscribed.length; c++) {
      let lastPosition = -1;
      let lastItem = "";
      for (const item of b.subscribed[a].items) {
        const position = positions[c].get(item);
        if (position === undefined) continue;
        if (position < lastPosition) {
          b.violation(
            `sub${b.subscribed[a].index} and sub${
              b.subscribed[c].index
            } disagree on the order of ${lastItem} and ${item}`,
          );
        }
        lastPosition = position;
        lastItem = item;
      }
    }
  }
}
