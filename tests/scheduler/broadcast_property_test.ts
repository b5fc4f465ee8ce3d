// Broadcast under random kills, timeouts and slow subscribers, in virtual time, with the
// "wait" policy: each subscriber receives each publisher's items in order with no gaps and
// no repeats, and one that is never killed receives everything from its first item to the
// end; killed subscribers and publishers leave nothing behind.
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  Broadcast,
  type Coroutine,
  kill,
  run,
  select,
  sleep,
  spawn,
  type Task,
  VirtualClock,
} from "../../mod.ts";

const scenario = fc.record({
  capacity: fc.constantFrom(1, 2, 4),
  publishers: fc.array(fc.array(fc.nat(3), { minLength: 1, maxLength: 6 }), {
    minLength: 1,
    maxLength: 3,
  }),
  subscribers: fc.array(
    fc.record({
      start: fc.nat(5),
      pause: fc.nat(3),
      timeout: fc.option(fc.integer({ min: 1, max: 3 })),
    }),
    { minLength: 1, maxLength: 4 },
  ),
  kills: fc.array(fc.record({ at: fc.nat(20), publisher: fc.boolean(), index: fc.nat(5) }), {
    maxLength: 4,
  }),
});

Deno.test("Broadcast under random kills: subscribers get each publisher's items in order, without gaps", async () => {
  await fc.assert(
    fc.asyncProperty(scenario, async ({ capacity, publishers, subscribers, kills }) => {
      const broadcast = new Broadcast<[number, number]>({ capacity });
      const got: [number, number][][] = subscribers.map(() => []);
      const killed = new Set<number>();

      function* publisher(id: number, delays: number[]): Coroutine<void> {
        for (let i = 0; i < delays.length; i++) {
          yield* sleep(delays[i]);
          yield* broadcast.publish([id, i]);
        }
      }

      function* subscriber(index: number): Coroutine<void> {
        const { start, pause, timeout } = subscribers[index];
        yield* sleep(start);
        const subscription = yield* broadcast.subscribe();
        for (;;) {
          let item: IteratorResult<[number, number], undefined>;
          if (timeout === null) item = yield* subscription.receive();
          else {
            const result = yield* select([subscription.receive(), sleep(timeout)]);
            if (result.index === 1) continue;
            item = result.value;
          }
          if (item.done) return;
          got[index].push(item.value);
          if (pause > 0) yield* sleep(pause);
        }
      }

      await run(
        function* () {
          const publisherTasks: Task<void>[] = [];
          const subscriberTasks: Task<void>[] = [];
          for (let i = 0; i < publishers.length; i++) {
            publisherTasks.push(yield* spawn(publisher(i, publishers[i])));
          }
          for (let i = 0; i < subscribers.length; i++) {
            subscriberTasks.push(yield* spawn(subscriber(i)));
          }
          const killer = yield* spawn(function* () {
            let now = 0;
            for (const k of [...kills].sort((a, b) => a.at - b.at)) {
              yield* sleep(k.at - now);
              now = k.at;
              if (k.publisher) yield* kill(publisherTasks[k.index % publisherTasks.length]);
              else {
                const index = k.index % subscriberTasks.length;
                killed.add(index);
                yield* kill(subscriberTasks[index]);
              }
            }
          }());
          for (const task of publisherTasks) {
            try {
              yield* task;
            } catch { /* killed */ }
          }
          yield* kill(killer);
          broadcast.close();
          for (const task of subscriberTasks) {
            try {
              yield* task;
            } catch { /* killed */ }
          }
        }(),
        { clock: new VirtualClock() },
      );

      const published = new Map<number, number>(); // publisher -> highest seq anyone got
      for (const items of got) {
        for (const [p, i] of items) {
          published.set(p, Math.max(published.get(p) ?? -1, i));
        }
      }
      for (let s = 0; s < got.length; s++) {
        for (let p = 0; p < publishers.length; p++) {
          const seqs = got[s].filter(([id]) => id === p).map(([, i]) => i);
          for (let j = 1; j < seqs.length; j++) {
            assert.equal(seqs[j], seqs[j - 1] + 1, `subscriber ${s}, publisher ${p}: ${seqs}`);
          }
          if (!killed.has(s) && seqs.length > 0) {
            assert.equal(seqs.at(-1), published.get(p), `subscriber ${s} missed the last items`);
          }
        }
      }
      const stats = broadcast.statistics();
      assert.equal(stats.subscribers, 0);
      assert.equal(stats.waitingPublishers, 0);
    }),
    { numRuns: 200 },
  );
});
