// A run that ends (an abort, or an error nobody joins) kills every thread, and their
// `finally` blocks may use every operation the library offers while it does.
import assert from "node:assert/strict";
import {
  all,
  type Coroutine,
  race,
  run,
  sleep,
  spawn,
  TimeoutError,
  VirtualClock,
  withTimeout,
  yieldNow,
} from "../../mod.ts";
import { after } from "./_helpers.ts";

/** A thread whose `finally` says goodbye with every combinator, recording each step. */
function* politeWorker(record: string[]): Coroutine<void> {
  try {
    yield* sleep(60_000);
  } finally {
    record.push("cleanup starts");
    record.push(yield* withTimeout(500, after(10, "goodbye sent")));
    const [a, b] = yield* all([after(5, "a"), after(1, "b")]);
    record.push(`all gave ${a}${b}`);
    record.push(`race gave ${yield* race([after(5, "slow"), after(1, "fast")])}`);
    try {
      yield* withTimeout(5, sleep(1000));
    } catch (error) {
      record.push(`timed out: ${error instanceof TimeoutError}`);
    }
    record.push("cleanup done");
  }
}

const POLITE_CLEANUP = [
  "cleanup starts",
  "goodbye sent",
  "all gave ab",
  "race gave fast",
  "timed out: true",
  "cleanup done",
];

Deno.test("a finally may use withTimeout, all and race while the run is aborted", async () => {
  const record: string[] = [];
  const controller = new AbortController();
  const reason = new Error("shutdown");
  const clock = new VirtualClock();
  await assert.rejects(
    run(
      function* () {
        yield* spawn(politeWorker(record));
        yield* sleep(1);
        controller.abort(reason);
        yield* sleep(60_000);
      }(),
      { clock, signal: controller.signal },
    ),
    (error) => error === reason,
  );
  assert.deepEqual(record, POLITE_CLEANUP);
  assert.equal(clock.now(), 1 + 10 + 5 + 1 + 5, "each cleanup step took its own time");
});

Deno.test("a finally may use withTimeout, all and race while another thread's error ends the run", async () => {
  const record: string[] = [];
  const failure = new Error("handler bug");
  await assert.rejects(
    run(
      function* () {
        yield* spawn(politeWorker(record));
        yield* sleep(1);
        throw failure;
      }(),
      { clock: new VirtualClock() },
    ),
    (error) => error === failure,
  );
  assert.deepEqual(record, POLITE_CLEANUP);
});

Deno.test("a thread spawned from a finally while the run is failing does not keep the run alive", async () => {
  const record: string[] = [];
  const failure = new Error("root failed");
  const clock = new VirtualClock();
  await assert.rejects(
    run(
      function* () {
        yield* spawn(function* () {
          try {
            yield* sleep(60_000);
          } finally {
            yield* spawn(function* () {
              try {
                record.push("orphan starts");
                yield* sleep(1_000_000);
                record.push("orphan woke (wrong)");
              } finally {
                record.push("orphan finally");
              }
            }());
            yield* yieldNow(); // the orphan gets to start
            record.push("spawner done");
          }
        }());
        yield* sleep(1);
        throw failure;
      }(),
      { clock },
    ),
    (error) => error === failure,
  );
  assert.deepEqual(record, ["orphan starts", "spawner done", "orphan finally"]);
  assert.equal(clock.now(), 1);
});

Deno.test("a thread that aborts its own run's signal stops at its next yield, under a virtual clock", async () => {
  const record: string[] = [];
  const controller = new AbortController();
  const reason = new Error("stop");
  await assert.rejects(
    run(
      function* () {
        yield* sleep(1);
        controller.abort(reason);
        record.push("still running until the next yield");
        yield* sleep(1);
        record.push("resumed after the abort (wrong)");
      }(),
      { clock: new VirtualClock(), signal: controller.signal },
    ),
    (error) => error === reason,
  );
  assert.deepEqual(record, ["still running until the next yield"]);
});

Deno.test("a run whose last thread aborts its signal and ends rejects with the reason", async () => {
  const controller = new AbortController();
  const reason = new Error("stop");
  await assert.rejects(
    run(
      // deno-lint-ignore require-yield -- the point: a thread that ends without waiting
      function* () {
        controller.abort(reason);
        return "finished";
      }(),
      { signal: controller.signal },
    ),
    (error) => error === reason,
  );
});
