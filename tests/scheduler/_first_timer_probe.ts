// Run by first_timer_test.ts with `deno test`, alone in its process, one scenario per run
// (its argument). Under `deno test`, the process's first timer call (setTimeout,
// setImmediate or a clear of one: Deno loads its timers then) runs the microtasks queued
// so far inside the call. The kernel's first timer is one it arms as it is about to wait;
// a promise reaction run inside it may wake a thread, or abort the run, while the kernel
// still runs. Each scenario prints `RESULT ...`: what `deno run`, without the quirk, gives.
import {
  Channel,
  join,
  kill,
  run,
  sleep,
  spawn,
  until,
  VirtualClock,
  withTimeout,
} from "../../mod.ts";

const scenario = Deno.args[0];
const log: string[] = [];

/**
 * A promise's thread is woken inside the first timer: it runs then, not at the timer (a
 * second away: on a virtual clock, after a jump).
 */
async function settledPromise(clock?: VirtualClock): Promise<void> {
  const done = run(
    function* () {
      const sleeper = yield* spawn(sleep(1000)); // the kernel arms a timer once the root waits
      yield Promise.resolve("settled");
      log.push(clock ? `root resumed at ${clock.now()}` : "root resumed");
      yield* kill(sleeper);
    }(),
    { clock },
  );
  const outside = outsideTimer();
  log.push("run() returned"); // before any thread resumes from a promise
  await done;
  await outside;
}

/**
 * A timer set once the kernel's first timer call is made (inside `run()`), far earlier than
 * the kernel's own (1 s): what waits for those comes after it.
 */
function outsideTimer(): Promise<void> {
  return new Promise<void>((resolve) =>
    setTimeout(() => {
      log.push("outside timer");
      resolve();
    }, 200)
  );
}

/** On a virtual clock, the turn before a jump comes after what the woken thread did. */
async function turnBeforeJump(): Promise<void> {
  const clock = new VirtualClock();
  const channel = new Channel<number>(0);
  const toOutside = Promise.withResolvers<void>();
  Promise.resolve().then(() => channel.trySend(1));
  (async () => {
    await toOutside.promise;
    log.push(`outside answers at ${clock.now()}`);
    channel.trySend(2);
  })();
  await run(
    function* () {
      yield* spawn(function* () {
        yield* sleep(1000);
        log.push(`sleeper wakes at ${clock.now()}`);
      }());
      log.push(`root got ${(yield* channel.receive()).value} at ${clock.now()}`);
      toOutside.resolve();
      log.push(`root got ${(yield* channel.receive()).value} at ${clock.now()}`);
    }(),
    { clock },
  );
}

/** A time limit held back for its instant's work waits for what the first timer woke. */
async function heldDeadline(): Promise<void> {
  const first = new Channel<number>(0);
  const second = new Channel<number>(0);
  await run(function* () {
    yield* spawn(function* () {
      yield* first.send(yield* until(Promise.resolve(7)));
    }());
    yield* spawn(function* () {
      yield* second.send((yield* first.receive()).value!);
    }());
    yield* join(
      yield* spawn(function* () {
        try {
          log.push(`got ${(yield* withTimeout(0, second.receive())).value}`);
        } catch (error) {
          log.push((error as Error).name);
        }
      }()),
    );
  }());
}

/** An abort asked for inside the first timer ends the run then, not at the next timer. */
async function abortInside(clock?: VirtualClock): Promise<void> {
  const abort = new AbortController();
  const pending = Promise.withResolvers<void>();
  Promise.resolve().then(() => abort.abort(new Error("aborted")));
  const running = run(
    function* () {
      yield* spawn(function* () {
        try {
          yield* sleep(1000);
        } finally {
          if (clock) log.push(`sleeper's finally at ${clock.now()}`);
        }
      }());
      if (clock) yield* until(pending.promise); // something outside pending: the clock holds
      else yield* sleep(2000);
    }(),
    { clock, signal: abort.signal },
  ).then(() => "resolved", (e) => (e as Error).message);
  const outside = outsideTimer();
  log.push(await running);
  pending.resolve();
  await outside;
}

Deno.test(`the kernel's first timer call: ${scenario}`, async () => {
  if (scenario === "real") await settledPromise();
  else if (scenario === "virtual") {
    await settledPromise(new VirtualClock(0, { autojumpThreshold: 20 }));
  } else if (scenario === "jump") await turnBeforeJump();
  else if (scenario === "held") await heldDeadline();
  else if (scenario === "abort") await abortInside();
  else if (scenario === "abort-virtual") {
    await abortInside(new VirtualClock(0, { autojumpThreshold: 300 }));
  } else throw new Error(`Unknown scenario: ${scenario}`);
  console.log(`RESULT ${log.join(" | ")}`);
});
