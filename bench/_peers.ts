// The hand-written peers that bench/scheduler_bench.ts and bench/channel_bench.ts compare
// the kernel with: bare generator trampolines with no kernel behind them. Each is the least
// code that does the job honestly (a real queue, a real stack, real join and channel
// bookkeeping) and nothing more: no error routing, no kill, no timers, no fairness slices.
// Private to the benchmarks.

// The same queue the kernel uses, so the comparison measures everything but the queue.
import { RingQueue } from "../scheduler/_ring_queue.ts";

/** The marker a trampolined generator yields to give way to the other ready ones. */
export const PASS: unique symbol = Symbol("pass");

/** A generator driven by one of the trampolines below. */
export type Bare<T = unknown> = Generator<unknown, T, unknown>;

/**
 * Round-robin over `threads`: each `yield PASS` puts the generator back at the end of the
 * queue, unless no other is ready: then it simply goes on, as the kernel's does, with no
 * queue round trip. A return drops it; the sum of the returned counts is the result.
 */
export function trampoline(threads: readonly Bare<number>[]): number {
  const queue = new RingQueue<Bare<number>>();
  for (const thread of threads) queue.push(thread);
  let total = 0;
  let thread: Bare<number> | undefined;
  while ((thread = queue.shift()) !== undefined) {
    for (;;) {
      const result = thread.next();
      if (result.done) {
        total += result.value;
        break;
      }
      if (result.value !== PASS) throw new TypeError("Unknown yielded value");
      if (queue.size === 0) continue; // alone: go on
      queue.push(thread);
      break;
    }
  }
  return total;
}

/**
 * One thread with an explicit stack of generators: yielding a generator calls it (pushes a
 * frame), a return pops the frame and resumes the caller with the value.
 */
export function trampolineStack<T>(root: Bare<T>): T {
  const stack: Bare[] = [root];
  let input: unknown = undefined;
  for (;;) {
    const result = stack[stack.length - 1].next(input);
    input = undefined;
    if (result.done) {
      stack.pop();
      if (stack.length === 0) return result.value as T;
      input = result.value;
    } else if (isGenerator(result.value)) {
      stack.push(result.value);
    } else if (result.value !== PASS) {
      throw new TypeError("Unknown yielded value");
    }
  }
}

function isGenerator(value: unknown): value is Bare {
  return typeof value === "object" && value !== null &&
    typeof (value as Bare).next === "function";
}

/** A thread of {@linkcode trampolineThreads}. */
export class BareThread {
  done = false;
  result: unknown = undefined;
  input: unknown = undefined;
  joiners: BareThread[] | null = null;
  constructor(readonly generator: Bare) {}
}

/** Asks {@linkcode trampolineThreads} to start a thread; resumes with its handle. */
export class SpawnRequest {
  constructor(readonly generator: Bare) {}
}

/** Asks {@linkcode trampolineThreads} to wait for a thread; resumes with its result. */
export class JoinRequest {
  constructor(readonly thread: BareThread) {}
}

/**
 * Threads that can spawn and join each other: a FIFO of ready threads, each run until it
 * passes, blocks on a join, or returns (which wakes its joiners). No stacks, no errors.
 */
export function trampolineThreads<T>(root: Bare<T>): T {
  const queue = new RingQueue<BareThread>();
  const main = new BareThread(root);
  queue.push(main);
  let thread: BareThread | undefined;
  while ((thread = queue.shift()) !== undefined) {
    for (;;) {
      const result = thread.generator.next(thread.input);
      thread.input = undefined;
      if (result.done) {
        thread.done = true;
        thread.result = result.value;
        const joiners = thread.joiners;
        if (joiners !== null) {
          for (const joiner of joiners) {
            joiner.input = result.value;
            queue.push(joiner);
          }
        }
        break;
      }
      const yielded = result.value;
      if (yielded instanceof SpawnRequest) {
        const child = new BareThread(yielded.generator);
        queue.push(child);
        thread.input = child;
      } else if (yielded instanceof JoinRequest) {
        const target = yielded.thread;
        if (target.done) thread.input = target.result;
        else {
          (target.joiners ??= []).push(thread);
          break;
        }
      } else if (yielded === PASS) {
        queue.push(thread);
        break;
      } else {
        throw new TypeError("Unknown yielded value");
      }
    }
  }
  return main.result as T;
}

/** A channel of {@linkcode trampolineChannels}: a buffer and FIFOs of waiting threads. */
export class BareChannel {
  readonly buffer: RingQueue<unknown> = new RingQueue<unknown>();
  readonly receivers: RingQueue<BareThread> = new RingQueue<BareThread>();
  readonly senders: RingQueue<BareThread> = new RingQueue<BareThread>();
  /** What each waiting sender sends, in the senders' order. */
  readonly pending: RingQueue<unknown> = new RingQueue<unknown>();
  constructor(readonly capacity: number) {}
}

/** Asks {@linkcode trampolineChannels} to send a value; resumes once it is taken in. */
export class SendRequest {
  constructor(readonly channel: BareChannel, readonly value: unknown) {}
}

/** Asks {@linkcode trampolineChannels} for a channel's next value; resumes with it. */
export class ReceiveRequest {
  constructor(readonly channel: BareChannel) {}
}

/**
 * Threads that talk through channels, with the channels' capacity semantics (0 is a
 * rendezvous) and nothing else: no close, no cancellation, no select. A send or receive
 * that need not wait goes on at once; one that must wait gives way to the next ready
 * thread, and the thread that ends its wait queues it.
 */
export function trampolineChannels(threads: readonly Bare[]): void {
  const queue = new RingQueue<BareThread>();
  for (const generator of threads) queue.push(new BareThread(generator));
  let thread: BareThread | undefined;
  while ((thread = queue.shift()) !== undefined) {
    for (;;) {
      const result = thread.generator.next(thread.input);
      thread.input = undefined;
      if (result.done) break;
      const request = result.value;
      if (request instanceof SendRequest) {
        const channel = request.channel;
        const receiver = channel.receivers.shift();
        if (receiver !== undefined) {
          receiver.input = request.value;
          queue.push(receiver);
        } else if (channel.buffer.size < channel.capacity) {
          channel.buffer.push(request.value);
        } else {
          channel.senders.push(thread);
          channel.pending.push(request.value);
          break;
        }
      } else if (request instanceof ReceiveRequest) {
        const channel = request.channel;
        if (channel.buffer.size > 0) {
          thread.input = channel.buffer.shift();
          const sender = channel.senders.shift();
          if (sender !== undefined) {
            channel.buffer.push(channel.pending.shift());
            queue.push(sender);
          }
        } else if (channel.senders.size > 0) {
          thread.input = channel.pending.shift();
          queue.push(channel.senders.shift()!);
        } else {
          channel.receivers.push(thread);
          break;
        }
      } else {
        throw new TypeError("Unknown yielded value");
      }
    }
  }
}

// The same channels driven through `yield*`, the way bluelet's typed operations are: each
// request is its own iterable, a request that needs no wait takes effect inside `yield*`
// (no round trip through the trampoline), and one that must wait yields itself to the
// trampoline, which queues its thread. What the kernel adds to this is what its switches
// cost beyond the protocol: cancellation, fairness, timers, deadlock detection.

/** The ready queue of the {@linkcode trampolineDelegated} that is running. */
let delegatedReady: RingQueue<BareThread> | null = null;

/** What a request that took effect at once gives `yield*`: its result, done. */
class DoneResult {
  readonly done = true;
  constructor(readonly value: unknown) {}
  next(): DoneResult {
    return this;
  }
}

const SENT = new DoneResult(undefined);

/** A request that must wait: yields it, then ends with what its thread is resumed with. */
class WaitingResult {
  value: unknown;
  done = false;
  #yielded = false;
  constructor(request: unknown) {
    this.value = request;
  }
  next(input: unknown): WaitingResult {
    if (!this.#yielded) this.#yielded = true;
    else {
      this.value = input;
      this.done = true;
    }
    return this;
  }
}

/** `yield* new DelegatedSend(channel, value)` under {@linkcode trampolineDelegated}. */
export class DelegatedSend {
  constructor(readonly channel: BareChannel, readonly value: unknown) {}
  [Symbol.iterator](): Iterator<unknown, unknown, unknown> {
    const channel = this.channel;
    const receiver = channel.receivers.shift();
    if (receiver !== undefined) {
      receiver.input = this.value;
      delegatedReady!.push(receiver);
      return SENT;
    }
    if (channel.buffer.size < channel.capacity) {
      channel.buffer.push(this.value);
      return SENT;
    }
    return new WaitingResult(this);
  }
}

/** `yield* new DelegatedReceive(channel)` under {@linkcode trampolineDelegated}. */
export class DelegatedReceive {
  constructor(readonly channel: BareChannel) {}
  [Symbol.iterator](): Iterator<unknown, unknown, unknown> {
    const channel = this.channel;
    if (channel.buffer.size > 0) {
      const value = channel.buffer.shift();
      const sender = channel.senders.shift();
      if (sender !== undefined) {
        channel.buffer.push(channel.pending.shift());
        delegatedReady!.push(sender);
      }
      return new DoneResult(value);
    }
    const sender = channel.senders.shift();
    if (sender !== undefined) {
      delegatedReady!.push(sender);
      return new DoneResult(channel.pending.shift());
    }
    return new WaitingResult(this);
  }
}

/**
 * {@linkcode trampolineChannels}' threads, with requests made through `yield*`: the
 * trampoline only sees the requests that must wait.
 */
export function trampolineDelegated(threads: readonly Bare[]): void {
  const queue = new RingQueue<BareThread>();
  delegatedReady = queue;
  try {
    for (const generator of threads) queue.push(new BareThread(generator));
    let thread: BareThread | undefined;
    while ((thread = queue.shift()) !== undefined) {
      const result = thread.generator.next(thread.input);
      thread.input = undefined;
      if (result.done) continue;
      const request = result.value;
      if (request instanceof DelegatedSend) {
        request.channel.senders.push(thread);
        request.channel.pending.push(request.value);
      } else if (request instanceof DelegatedReceive) {
        request.channel.receivers.push(thread);
      } else {
        throw new TypeError("Unknown yielded value");
      }
    }
  } finally {
    delegatedReady = null;
  }
}
