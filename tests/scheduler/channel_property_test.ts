// Channels under random kills and timeouts, in virtual time: every item whose send
// returned is received, no item is received twice, and each sender's items leave the
// channel in the order it sent them, whatever threads were killed or timed out in between.
//
// Order is checked where it is observable: within each receiver, and across every receive
// that resumes its thread at once (a plain `receive()`). A `select` or `moveOnAfter` with a
// timer resumes a step later, once its timer thread is gone, so two receivers' records can
// swap places although the items left the channel in order; so can a `race` of three
// receives and a timer, whose losers give back what they were handed.
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  Channel,
  type Coroutine,
  kill,
  moveOnAfter,
  race,
  run,
  select,
  sleep,
  spawn,
  type Task,
  VirtualClock,
} from "../../mod.ts";

type Mode = "plain" | "select" | "moveOnAfter" | "race";

const scenario = fc.record({
  capacity: fc.constantFrom(0, 1, 2, 5),
  senders: fc.array(fc.array(fc.nat(4), { minLength: 1, maxLength: 8 }), {
    minLength: 1,
    maxLength: 4,
  }),
  receivers: fc.array(
    fc.record({
      mode: fc.constantFrom<Mode>("plain", "select", "moveOnAfter", "race"),
      timeout: fc.integer({ min: 1, max: 4 }),
      pause: fc.nat(3),
    }),
    { minLength: 1, maxLength: 4 },
  ),
  kills: fc.array(
    fc.record({ at: fc.nat(30), sender: fc.boolean(), index: fc.nat(7) }),
    { maxLength: 8 },
  ),
});

Deno.test("Channel under random kills and timeouts: every sent item is received once, in order per sender", async () => {
  await fc.assert(
    fc.asyncProperty(scenario, async ({ capacity, senders, receivers, kills }) => {
      const channel = new Channel<[number, number]>(capacity);
      const sent = new Set<string>();
      const received: [number, number][] = [];
      const perReceiver = new Map<number, [number, number][]>();
      const plain: [number, number][] = [];
      let receiverIds = 0;

      function* sender(id: number, delays: number[]): Coroutine<void> {
        for (let i = 0; i < delays.length; i++) {
          yield* sleep(delays[i]);
          yield* channel.send([id, i]);
          sent.add(`${id}:${i}`);
        }
      }

      function* receiver(mode: Mode, timeout: number, pause: number): Coroutine<void> {
        const mine: [number, number][] = [];
        perReceiver.set(receiverIds++, mine);
        for (;;) {
          let item: IteratorResult<[number, number], undefined>;
          if (mode === "plain") item = yield* channel.receive();
          else if (mode === "select") {
            const result = yield* select([channel.receive(), sleep(timeout)]);
            if (result.index === 1) continue;
            item = result.value;
          } else if (mode === "race") {
            const result = yield* race([
              channel.receive(),
              channel.receive(),
              channel.receive(),
              sleep(timeout),
            ]);
            if (result === undefined) continue; // the timer won
            item = result;
          } else {
            const result = yield* moveOnAfter(timeout, channel.receive());
            if (result.timedOut) continue;
            item = result.value;
          }
          if (item.done) return;
          received.push(item.value);
          mine.push(item.value);
          if (mode === "plain") plain.push(item.value);
          if (pause > 0) yield* sleep(pause);
        }
      }

      await run(
        function* () {
          const senderTasks: Task<void>[] = [];
          const receiverTasks: Task<void>[] = [];
          for (let i = 0; i < senders.length; i++) {
            senderTasks.push(yield* spawn(sender(i, senders[i])));
          }
          for (const r of receivers) {
            receiverTasks.push(yield* spawn(receiver(r.mode, r.timeout, r.pause)));
          }
          const killer = yield* spawn(function* () {
            let now = 0;
            for (const k of [...kills].sort((a, b) => a.at - b.at)) {
              yield* sleep(k.at - now);
              now = k.at;
              const tasks = k.sender ? senderTasks : receiverTasks;
              const index = k.index % tasks.length;
              // A race's caller killed in the very instant a helper received keeps nothing
              // of it, as the README says (use select for that): race receivers are not killed.
              if (!k.sender && receivers[index % receivers.length].mode === "race") continue;
              yield* kill(tasks[index]);
              if (!k.sender) {
                const r = receivers[index % receivers.length];
                tasks[index] = yield* spawn(receiver(r.mode, r.timeout, r.pause));
              }
            }
          }());
          for (const task of senderTasks) {
            try {
              yield* task;
            } catch { /* killed */ }
          }
          yield* kill(killer);
          channel.close();
          receiverTasks.push(yield* spawn(receiver("plain", 1, 0)));
          for (const task of receiverTasks) {
            try {
              yield* task;
            } catch { /* killed */ }
          }
        }(),
        { clock: new VirtualClock() },
      );

      const keys = received.map(([id, i]) => `${id}:${i}`);
      assert.equal(new Set(keys).size, keys.length, `an item was received twice: ${keys}`);
      for (const key of sent) assert.ok(keys.includes(key), `${key} was sent but not received`);
      for (const sequence of [plain, ...perReceiver.values()]) {
        const last = new Map<number, number>();
        for (const [id, i] of sequence) {
          assert.ok((last.get(id) ?? -1) < i, `sender ${id}'s items out of order: ${sequence}`);
          last.set(id, i);
        }
      }
      assert.equal(channel.statistics().buffered, 0);
    }),
    { numRuns: 300 },
  );
});
