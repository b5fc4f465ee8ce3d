// deno bench --allow-all bench/channel_bench.ts
//
// Channels against the peers, in one run:
//   rendezvous  ITEMS items ping-ponged between two threads through two `Channel(0)`s.
//   bounded     the same through two `Channel(16)`s.
//   fan-in      10 producers send ITEMS / 10 items each into one `Channel(64)`; one
//               consumer receives them all.
// Peers: "promise queue", a minimal async queue (bench/_ping_pong.ts: a buffer, FIFOs of waiting
// senders and receivers, one promise per wait; the same capacity semantics, 0 included,
// nothing else: no close, no cancellation), driven by async functions; and "effection",
// npm:effection's `createChannel` (v4: an unbuffered broadcast, each subscription queues
// without bound, so there is no rendezvous or bounded form: the same code runs in every
// group), driven by Effection operations. bluelet is the baseline of each group.
// A last entry, "bare trampoline (floor)", is not a peer but a floor: two dozen lines of
// generator scheduling with channels of the same capacity semantics and nothing else (no
// close, no cancellation, no fairness, never back to the event loop; bench/_peers.ts). It
// shows what any scheduler of generators pays for a thread switch, against the promise
// queue's `await`. In the ping-pongs, "bluelet kernel: bare handoff" is a second floor: the
// same threads on the kernel, through the least channel it can run (bench/_handoff.ts: a
// send never waits, no close, no cancellation rules). It is what the kernel's own thread
// switches cost through the public low-level API, without `Channel`'s fast paths. A third
// floor, "bare trampoline, yield* requests", is the bare trampoline driven through
// `yield*` the way `Channel`'s typed operations are (a request that needs no wait takes
// effect inside `yield*`): the least that protocol itself costs.
import { Channel, type Coroutine, run, spawn } from "../mod.ts";
import { ITEMS, pingPongBluelet, pingPongPromises, PromiseQueue } from "./_ping_pong.ts";
import {
  type Bare,
  BareChannel,
  DelegatedReceive,
  DelegatedSend,
  ReceiveRequest,
  SendRequest,
  trampolineChannels,
  trampolineDelegated,
} from "./_peers.ts";
import { Handoff } from "./_handoff.ts";
import {
  type Channel as EffChannel,
  createChannel as effCreateChannel,
  type Operation,
  run as effRun,
  spawn as effSpawn,
  type Subscription as EffSubscription,
} from "effection";

const PRODUCERS = 10;

function expect(actual: number, expected: number): void {
  if (actual !== expected) throw new Error(`Expected ${expected}, got ${actual}`);
}

// -----------------------------------------------------------------------------------------
// bluelet

function pingPongHandoff(): Promise<number> {
  return run(function* (): Coroutine<number> {
    const ping = new Handoff<number>();
    const pong = new Handoff<number>();
    yield* spawn(function* (): Coroutine<void> {
      for (let i = 0; i < ITEMS; i++) yield* pong.give((yield* ping.take()) + 1);
    }());
    let sum = 0;
    for (let i = 0; i < ITEMS; i++) {
      yield* ping.give(i);
      sum += (yield* pong.take()) - i;
    }
    return sum;
  }());
}

function fanInBluelet(): Promise<number> {
  return run(function* (): Coroutine<number> {
    const channel = new Channel<number>(64);
    for (let p = 0; p < PRODUCERS; p++) {
      yield* spawn(function* (): Coroutine<void> {
        for (let i = 0; i < ITEMS / PRODUCERS; i++) yield* channel.send(1);
      }());
    }
    let sum = 0;
    for (let i = 0; i < ITEMS; i++) sum += (yield* channel.receive()).value!;
    return sum;
  }());
}

// -----------------------------------------------------------------------------------------
// A minimal promise-based async queue

async function fanInPromises(): Promise<number> {
  const queue = new PromiseQueue<number>(64);
  const producers: Promise<void>[] = [];
  for (let p = 0; p < PRODUCERS; p++) {
    producers.push((async () => {
      for (let i = 0; i < ITEMS / PRODUCERS; i++) await queue.send(1);
    })());
  }
  let sum = 0;
  for (let i = 0; i < ITEMS; i++) sum += await queue.receive();
  await Promise.all(producers);
  return sum;
}

// -----------------------------------------------------------------------------------------
// The floor: a bare generator trampoline with channels

function pingPongBare(capacity: number): number {
  const ping = new BareChannel(capacity);
  const pong = new BareChannel(capacity);
  let sum = 0;
  function* echo(): Bare<void> {
    for (let i = 0; i < ITEMS; i++) {
      const item = (yield new ReceiveRequest(ping)) as number;
      yield new SendRequest(pong, item + 1);
    }
  }
  function* main(): Bare<void> {
    for (let i = 0; i < ITEMS; i++) {
      yield new SendRequest(ping, i);
      sum += ((yield new ReceiveRequest(pong)) as number) - i;
    }
  }
  trampolineChannels([echo(), main()]);
  return sum;
}

function pingPongDelegated(capacity: number): number {
  const ping = new BareChannel(capacity);
  const pong = new BareChannel(capacity);
  let sum = 0;
  function* echo(): Bare<void> {
    for (let i = 0; i < ITEMS; i++) {
      const item = (yield* new DelegatedReceive(ping)) as number;
      yield* new DelegatedSend(pong, item + 1);
    }
  }
  function* main(): Bare<void> {
    for (let i = 0; i < ITEMS; i++) {
      yield* new DelegatedSend(ping, i);
      sum += ((yield* new DelegatedReceive(pong)) as number) - i;
    }
  }
  trampolineDelegated([echo(), main()]);
  return sum;
}

function fanInBare(): number {
  const channel = new BareChannel(64);
  let sum = 0;
  function* producer(): Bare<void> {
    for (let i = 0; i < ITEMS / PRODUCERS; i++) yield new SendRequest(channel, 1);
  }
  function* consumer(): Bare<void> {
    for (let i = 0; i < ITEMS; i++) sum += (yield new ReceiveRequest(channel)) as number;
  }
  const threads: Bare[] = [consumer()];
  for (let p = 0; p < PRODUCERS; p++) threads.push(producer());
  trampolineChannels(threads);
  return sum;
}

// -----------------------------------------------------------------------------------------
// Effection

function* effNext(subscription: EffSubscription<number, void>): Operation<number> {
  const next = yield* subscription.next();
  return next.done ? NaN : next.value;
}

function* effPingPong(): Operation<number> {
  const ping: EffChannel<number, void> = effCreateChannel<number>();
  const pong: EffChannel<number, void> = effCreateChannel<number>();
  const pings = yield* ping;
  const pongs = yield* pong;
  yield* effSpawn(function* () {
    for (let i = 0; i < ITEMS; i++) yield* pong.send((yield* effNext(pings)) + 1);
  });
  let sum = 0;
  for (let i = 0; i < ITEMS; i++) {
    yield* ping.send(i);
    sum += (yield* effNext(pongs)) - i;
  }
  return sum;
}

function* effFanIn(): Operation<number> {
  const channel: EffChannel<number, void> = effCreateChannel<number>();
  const items = yield* channel;
  for (let p = 0; p < PRODUCERS; p++) {
    yield* effSpawn(function* () {
      for (let i = 0; i < ITEMS / PRODUCERS; i++) yield* channel.send(1);
    });
  }
  let sum = 0;
  for (let i = 0; i < ITEMS; i++) sum += yield* effNext(items);
  return sum;
}

// -----------------------------------------------------------------------------------------

for (const [group, capacity] of [["rendezvous", 0], ["bounded", 16]] as const) {
  Deno.bench({
    name: `bluelet: Channel(${capacity})`,
    group,
    baseline: true,
    async fn() {
      expect(await pingPongBluelet(capacity), ITEMS);
    },
  });
  Deno.bench({
    name: `promise queue (${capacity})`,
    group,
    async fn() {
      expect(await pingPongPromises(capacity), ITEMS);
    },
  });
  Deno.bench({
    name: "effection: createChannel",
    group,
    n: 3,
    warmup: 1,
    async fn() {
      expect(await effRun(effPingPong), ITEMS);
    },
  });
  Deno.bench({
    name: "bluelet kernel: bare handoff (floor)",
    group,
    async fn() {
      expect(await pingPongHandoff(), ITEMS);
    },
  });
  Deno.bench({
    name: `bare trampoline (${capacity}, floor)`,
    group,
    fn() {
      expect(pingPongBare(capacity), ITEMS);
    },
  });
  Deno.bench({
    name: `bare trampoline, yield* requests (${capacity}, floor)`,
    group,
    fn() {
      expect(pingPongDelegated(capacity), ITEMS);
    },
  });
}

Deno.bench({
  name: "bluelet: Channel(64)",
  group: "fan-in",
  baseline: true,
  async fn() {
    expect(await fanInBluelet(), ITEMS);
  },
});
Deno.bench({
  name: "promise queue (64)",
  group: "fan-in",
  async fn() {
    expect(await fanInPromises(), ITEMS);
  },
});
Deno.bench({
  name: "effection: createChannel",
  group: "fan-in",
  n: 3,
  warmup: 1,
  async fn() {
    expect(await effRun(effFanIn), ITEMS);
  },
});
Deno.bench({
  name: "bare trampoline (64, floor)",
  group: "fan-in",
  fn() {
    expect(fanInBare(), ITEMS);
  },
});
