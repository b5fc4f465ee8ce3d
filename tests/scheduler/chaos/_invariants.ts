// What must hold once a program's run has ended, however it ended: every error seen, every
// thread's `finally` run once, nothing left held or waiting, every channel item accounted
// for, and broadcast items in order.
import { OVERFLOWS, PERMITS, type World } from "./_world.ts";

export function checkEnd(world: World): void {
  for (const error of world.errors.unobserved()) {
    world.violation(`error ${error} never reached a joiner, a killer, a scope's joiner or the run`);
  }
  checkThreads(world);
  checkNothingHeld(world);
  drainChannels(world);
  checkReceipts(world);
  checkSubscriptions(world);
}

function checkThreads(world: World): void {
  for (const record of world.threads.values()) {
    const { label } = record;
    if (record.started > 1) world.violation(`${label} started ${record.started} times`);
    if (record.started && record.finallies !== 1) {
      world.violation(`${label} started, but ran finally ${record.finallies} times`);
    }
    if (record.cleanupStarted !== record.cleanupDone) {
      world.violation(
        `${label}: shielded cleanup started ${record.cleanupStarted}, done ${record.cleanupDone}`,
      );
    }
  }
}

function checkNothingHeld(world: World): void {
  if (world.lock.locked) world.violation("the lock is still held");
  if (world.lockHolder !== null) world.violation(`r${world.lockHolder} still holds the lock`);
  if (world.semaphore.available !== PERMITS) {
    world.violation(`${world.semaphore.available} permits are available at the end`);
  }
  if (world.semaphore.waiting !== 0) world.violation(`${world.semaphore.waiting} permit waiters`);
  if (world.permitsHeld !== 0) world.violation(`${world.permitsHeld} permits still held`);
  world.broadcasts.forEach((broadcast, i) => {
    const { subscribers, waitingPublishers } = broadcast.statistics();
    if (subscribers !== 0) world.violation(`broadcast ${OVERFLOWS[i]}: ${subscribers} subscribers`);
    if (waitingPublishers !== 0) {
      world.violation(`broadcast ${OVERFLOWS[i]}: ${waitingPublishers} waiting publishers`);
    }
  });
}

/** Takes what the channels still buffer, as receipts of no receiver (0). */
function drainChannels(world: World): void {
  world.channels.forEach((channel, ch) => {
    const { waitingReceivers, waitingSenders } = channel.statistics();
    if (waitingReceivers !== 0 || waitingSenders !== 0) {
      world.violation(
        `ch${ch} has ${waitingReceivers} receivers and ${waitingSenders} senders waiting`,
      );
    }
    for (;;) {
      let result;
      try {
        result = channel.tryReceive();
      } catch (error) {
        if (error !== world.closeErrors[ch]) {
          world.violation(`draining ch${ch} threw ${world.errors.name(error)}`);
        }
        return;
      }
      if (result === undefined || result.done) return;
      world.receipts.push({ receiver: 0, ch, item: result.value });
    }
  });
}

/**
 * Every item whose send returned is received once; one whose send failed, timed out, lost
 * its select or was refused is never received; a select takes effect once at most; and
 * each receiver gets each sender's items in the order they were sent.
 */
function checkReceipts(world: World): void {
  const count = new Map<string, number>();
  for (const { item } of world.receipts) count.set(item, (count.get(item) ?? 0) + 1);
  const perSelect = new Map<number, number>();
  for (const [item, sent] of world.sends) {
    const n = count.get(item) ?? 0;
    if (n > 1) world.violation(`${item} was received ${n} times`);
    if (sent.select !== undefined && n > 0) {
      perSelect.set(sent.select, (perSelect.get(sent.select) ?? 0) + n);
    }
    if (sent.status === "ok" && n !== 1) {
      world.violation(`${item}'s send on ch${sent.ch} returned, but it was received ${n} times`);
    }
    if (["closed", "tryFalse", "loser", "timeout"].includes(sent.status) && n !== 0) {
      world.violation(`${item}'s send ended ${sent.status}, but it was received ${n} times`);
    }
  }
  for (const [select, n] of perSelect) {
    if (n > 1) world.violation(`select ${select} delivered ${n} items`);
  }
  const last = new Map<string, number>();
  for (const { receiver, ch, item } of world.receipts) {
    const sent = world.sends.get(item);
    if (sent === undefined) continue;
    const key = `${receiver}|${sent.sender}|${ch}`;
    const previous = last.get(key);
    if (previous !== undefined && sent.seq <= previous) {
      world.violation(`r${receiver} got ${item} after seq ${previous} of the same sender`);
    }
    last.set(key, sent.seq);
  }
}

/**
 * A subscriber gets each item once, only items published after it subscribed and not
 * refused, each publisher's in order, and (but under "dropOldest") with no gaps.
 */
function checkSubscriptions(world: World): void {
  for (const subscription of world.subscriptions) {
    const overflow = OVERFLOWS[subscription.b];
    const seen = new Set<string>();
    const last = new Map<number, number>();
    for (const item of subscription.items) {
      if (seen.has(item)) world.violation(`a subscriber got ${item} twice`);
      seen.add(item);
      const published = world.publishes.get(item);
      if (published === undefined) continue;
      if (published.b !== subscription.b) {
        world.violation(`a subscriber of b${subscription.b} got ${item} of b${published.b}`);
      }
      if (["closed", "tryFalse", "timeout"].includes(published.status)) {
        world.violation(`a subscriber got ${item}, whose publish ended ${published.status}`);
      }
      if (published.doneAt >= 0 && published.doneAt < subscription.startAt) {
        world.violation(`a subscriber got ${item}, published before it subscribed`);
      }
      const previous = last.get(published.publisher);
      if (previous !== undefined) {
        if (published.seq <= previous) world.violation(`a subscriber got ${item} out of order`);
        else if (overflow !== "dropOldest") {
          for (const [other, p] of world.publishes) {
            const between = p.b === subscription.b && p.publisher === published.publisher &&
              p.seq > previous && p.seq < published.seq;
            if (between && p.status === "ok" && !seen.has(other)) {
              world.violation(`a subscriber (${overflow}) missed ${other} before ${item}`);
            }
          }
        }
      }
      last.set(published.publisher, published.seq);
    }
  }
}
