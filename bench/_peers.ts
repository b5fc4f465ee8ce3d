// The hand-written peers that bench/scheduler_bench.ts compares the kernel with: bare
// generator trampolines with no kernel behind them. Each is the least code that does the
// job honestly (a real queue, a real stack, real join bookkeeping) and nothing more: no
// error routing, no kill, no timers, no fairness slices. Private to the benchmarks.

// The same queue the kernel uses, so the comparison measures everything but the queue.
import { RingQueue } from "../scheduler/_ring_queue.ts";

/** The marker a trampolined generator yields to give way to the other ready ones. */
export const PASS: unique symbol = Symbol("pass");

/** A generator driven by one of the trampolines below. */
export type Bare<T = unknown> = Generator<unknown, T, unknown>;

/** A minimal growable FIFO on a power-of-two circular buffer. */

/**
 * Round-robin over `threads`: each `yield PASS` puts the generator back at the end of the
 * queue (always: there is no "alone in the queue" shortcut), a return drops it.
 */
export function trampoline(threads: readonly Bare[]): void {
  const queue = new RingQueue<Bare>();
  for (const thread of threads) queue.push(thread);
  let thread: Bare | undefined;
  while ((thread = queue.shift()) !== undefined) {
    const result = thread.next();
    if (result.done) continue;
    if (result.value !== PASS) throw new TypeError("Unknown yielded value");
    queue.push(thread);
  }
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
