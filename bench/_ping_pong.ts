// The ping-pong of bench/channel_bench.ts and bench/channel_rounds.ts: ITEMS items handed
// back and forth between two threads through two channels of one capacity, with bluelet's
// `Channel`, and with a minimal promise-based async queue driven by async functions (a
// buffer, FIFOs of waiting senders and receivers, one promise per wait; the same capacity
// semantics, 0 included, nothing else: no close, no cancellation).
import { Channel, type Coroutine, run, spawn } from "../mod.ts";

export const ITEMS = 100_000;

export function pingPongBluelet(capacity: number): Promise<number> {
  return run(function* (): Coroutine<number> {
    const ping = new Channel<number>(capacity);
    const pong = new Channel<number>(capacity);
    yield* spawn(function* (): Coroutine<void> {
      for (let i = 0; i < ITEMS; i++) {
        const item = yield* ping.receive();
        yield* pong.send(item.value! + 1);
      }
    }());
    let sum = 0;
    for (let i = 0; i < ITEMS; i++) {
      yield* ping.send(i);
      sum += (yield* pong.receive()).value! - i;
    }
    return sum;
  }());
}

/** A minimal promise-based async queue. */
export class PromiseQueue<T> {
  readonly #buffer: T[] = [];
  #head = 0;
  readonly #senders: { value: T; resolve: () => void }[] = [];
  readonly #receivers: ((value: T) => void)[] = [];
  constructor(readonly capacity: number) {}

  send(value: T): Promise<void> {
    const receiver = this.#receivers.shift();
    if (receiver !== undefined) {
      receiver(value);
      return Promise.resolve();
    }
    if (this.#buffer.length - this.#head < this.capacity) {
      this.#buffer.push(value);
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#senders.push({ value, resolve }));
  }

  receive(): Promise<T> {
    if (this.#buffer.length > this.#head) {
      const value = this.#buffer[this.#head++];
      if (this.#head > 1024 && this.#head * 2 > this.#buffer.length) {
        this.#buffer.splice(0, this.#head);
        this.#head = 0;
      }
      const sender = this.#senders.shift();
      if (sender !== undefined) {
        this.#buffer.push(sender.value);
        sender.resolve();
      }
      return Promise.resolve(value);
    }
    const sender = this.#senders.shift();
    if (sender !== undefined) {
      sender.resolve();
      return Promise.resolve(sender.value);
    }
    return new Promise((resolve) => this.#receivers.push(resolve));
  }
}

export async function pingPongPromises(capacity: number): Promise<number> {
  const ping = new PromiseQueue<number>(capacity);
  const pong = new PromiseQueue<number>(capacity);
  const echo = (async () => {
    for (let i = 0; i < ITEMS; i++) await pong.send((await ping.receive()) + 1);
  })();
  let sum = 0;
  for (let i = 0; i < ITEMS; i++) {
    await ping.send(i);
    sum += (await pong.receive()) - i;
  }
  await echo;
  return sum;
}
