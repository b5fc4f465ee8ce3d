import assert from "node:assert/strict";
import {
  all,
  type Coroutine,
  DeadlockError,
  Event,
  join,
  kill,
  Lock,
  run,
  Semaphore,
  sleep,
  spawn,
  type Task,
  VirtualClock,
  yieldNow,
} from "../../mod.ts";

function* worker(lock: Lock, name: string, record: string[], ms = 10): Coroutine<void> {
  yield* lock.withLock(function* () {
    record.push(`${name} holds`);
    yield* sleep(ms);
    record.push(`${name} releases`);
  }());
}

Deno.test("Lock hands itself to waiters first come, first served", async () => {
  const record: string[] = [];
  const lock = new Lock();
  await run(
    function* () {
      for (const name of ["a", "b", "c"]) yield* spawn(worker(lock, name, record));
      yield* yieldNow();
      assert.equal(lock.tryAcquire(), false, "a later thread cannot barge in");
    }(),
    { clock: new VirtualClock() },
  );
  assert.deepEqual(record, [
    "a holds",
    "a releases",
    "b holds",
    "b releases",
    "c holds",
    "c releases",
  ]);
  assert.equal(lock.locked, false);
});

Deno.test("Lock: a thread killed while it waits leaves the queue", async () => {
  const record: string[] = [];
  const lock = new Lock();
  await run(
    function* () {
      yield* spawn(worker(lock, "a", record));
      const b = yield* spawn(worker(lock, "b", record));
      yield* spawn(worker(lock, "c", record));
      yield* sleep(5);
      yield* kill(b);
      record.push("b killed");
    }(),
    { clock: new VirtualClock() },
  );
  assert.deepEqual(record, ["a holds", "b killed", "a releases", "c holds", "c releases"]);
});

Deno.test("Lock: a thread killed while it holds the lock releases it", async () => {
  const record: string[] = [];
  const lock = new Lock();
  await run(
    function* () {
      const a = yield* spawn(worker(lock, "a", record, 1000));
      yield* spawn(worker(lock, "b", record));
      yield* sleep(5);
      yield* kill(a);
      record.push("a killed");
    }(),
    { clock: new VirtualClock() },
  );
  // a's unwinding releases the lock and hands it to b before the kill returns.
  assert.deepEqual(record, ["a holds", "b holds", "a killed", "b releases"]);
});

Deno.test("Lock: a thread killed after the lock was handed to it, before it ran, passes it on", async () => {
  const record: string[] = [];
  const lock = new Lock();
  await run(function* () {
    lock.tryAcquire();
    const b = yield* spawn(worker(lock, "b", record, 0));
    yield* spawn(worker(lock, "c", record, 0));
    yield* yieldNow();
    lock.release(); // b is woken holding the lock
    yield* kill(b);
    record.push("b killed");
  }());
  assert.deepEqual(record, ["c holds", "b killed", "c releases"]);
  assert.equal(lock.locked, false);
});

Deno.test("Lock: two threads that each wait for the other's lock end the run with a DeadlockError", async () => {
  const first = new Lock({ name: "first" });
  const second = new Lock({ name: "second" });
  function* take(a: Lock, b: Lock): Coroutine<void> {
    yield* a.withLock(function* () {
      yield* sleep(1);
      yield* b.withLock(sleep(1));
    }());
  }
  const error = await run(
    function* () {
      yield* spawn(take(first, second));
      yield* take(second, first);
    }(),
    { clock: new VirtualClock() },
  ).catch((error) => error);
  assert.ok(error instanceof DeadlockError);
  // The message names what each thread waits on: the lock cycle is plain to see.
  assert.match(error.message, /thread \d+ waits on acquire\(Lock "first"\)/);
  assert.match(error.message, /thread \d+ waits on acquire\(Lock "second"\)/);
});

Deno.test("Semaphore lets at most n threads in, in arrival order", async () => {
  const record: string[] = [];
  const clock = new VirtualClock();
  const semaphore = new Semaphore(2);
  await run(
    function* () {
      const tasks: Task<void>[] = [];
      for (const name of ["a", "b", "c", "d"]) {
        tasks.push(
          yield* spawn(semaphore.withPermit(function* () {
            record.push(`${name} in at ${clock.now()}`);
            yield* sleep(10);
          }())),
        );
      }
      for (const task of tasks) yield* task;
    }(),
    { clock },
  );
  assert.deepEqual(record, ["a in at 0", "b in at 0", "c in at 10", "d in at 10"]);
  assert.equal(semaphore.available, 2);
});

Deno.test("Semaphore.withPermit() releases on a throw and on a kill; a killed waiter leaves the queue", async () => {
  const semaphore = new Semaphore(1);
  const record: string[] = [];
  await run(
    function* () {
      try {
        yield* semaphore.withPermit(function* () {
          yield* sleep(1);
          throw new Error("boom");
        }());
      } catch (error) {
        record.push(`caught ${(error as Error).message}, available ${semaphore.available}`);
      }
      const holder = yield* spawn(semaphore.withPermit(sleep(1000)));
      const waiter = yield* spawn(semaphore.withPermit(sleep(1000)));
      yield* sleep(1);
      record.push(`waiting ${semaphore.waiting}`);
      yield* kill(waiter);
      record.push(`waiting ${semaphore.waiting}`);
      yield* kill(holder);
      record.push(`available ${semaphore.available}`);
    }(),
    { clock: new VirtualClock() },
  );
  assert.deepEqual(record, [
    "caught boom, available 1",
    "waiting 1",
    "waiting 0",
    "available 1",
  ]);
});

Deno.test("Semaphore rejects a bad count and a release beyond it", () => {
  assert.throws(() => new Semaphore(-1), RangeError);
  assert.throws(() => new Semaphore(1.5), RangeError);
  // Zero permits could never be released (release() refuses to exceed the start count).
  assert.throws(() => new Semaphore(0), {
    name: "RangeError",
    message: "Cannot create semaphore: permits must be a positive integer, got 0",
  });
  assert.throws(() => new Semaphore(1).release(), {
    name: "RangeError",
    message: "Cannot release semaphore: every permit is already free",
  });
});

Deno.test("Event wakes every waiter in order once set; a killed waiter leaves", async () => {
  const record: string[] = [];
  const event = new Event();
  await run(
    function* () {
      const tasks: Task<void>[] = [];
      for (const name of ["a", "b", "c"]) {
        tasks.push(
          yield* spawn(function* () {
            try {
              yield* event.wait();
              record.push(`${name} woke`);
            } finally {
              record.push(`${name} finally`);
            }
          }()),
        );
      }
      yield* sleep(10);
      yield* kill(tasks[1]);
      record.push(`set: ${event.isSet}`);
      event.set();
      event.set();
      yield* event.wait();
      record.push("waiting on a set event does not wait");
    }(),
    { clock: new VirtualClock() },
  );
  assert.deepEqual(record, [
    "b finally",
    "set: false",
    "waiting on a set event does not wait",
    "a woke",
    "a finally",
    "c woke",
    "c finally",
  ]);
});

Deno.test("Event: waiting on one nobody sets ends the run with a DeadlockError", async () => {
  await assert.rejects(run(new Event().wait()), DeadlockError);
});

Deno.test("Lock: release() refuses a lock that withLock holds, from its grant to its end", async () => {
  const lock = new Lock();
  const record: string[] = [];
  function* holder(name: string): Coroutine<void> {
    record.push(`${name} holds`);
    yield* sleep(10);
    record.push(`${name} releases`);
  }
  function stray(when: string): void {
    try {
      lock.release();
      record.push(`${when}: released`);
    } catch (error) {
      record.push(`${when}: ${(error as Error).message}`);
    }
  }
  await run(
    function* () {
      yield* spawn(lock.withLock(holder("a")));
      const b = yield* spawn(lock.withLock(holder("b")));
      yield* sleep(1);
      stray("while a holds");
      yield* sleep(9); // a's sleep ends first: a gives the lock to b, which has not run yet
      stray("while b is granted it");
      yield* join(b);
      record.push(`locked: ${lock.locked}, tryAcquire: ${lock.tryAcquire()}, ${lock.tryAcquire()}`);
    }(),
    { clock: new VirtualClock() },
  );
  const refused = "Cannot release lock: withLock holds it, and releases it when its operation ends";
  assert.deepEqual(record, [
    "a holds",
    `while a holds: ${refused}`,
    "a releases",
    `while b is granted it: ${refused}`,
    "b holds",
    "b releases",
    "locked: false, tryAcquire: true, false",
  ]);
});

Deno.test("Semaphore: release() never gives back a permit withPermit holds", async () => {
  const semaphore = new Semaphore(2);
  const record: string[] = [];
  let running = 0;
  let peak = 0;
  function* job(): Coroutine<void> {
    peak = Math.max(peak, ++running);
    yield* sleep(10);
    running--;
  }
  await run(
    function* () {
      assert.equal(semaphore.tryAcquire(), true); // one taken by hand, one by withPermit
      const task = yield* spawn(semaphore.withPermit(job()));
      yield* sleep(1);
      semaphore.release(); // the one taken by hand
      try {
        semaphore.release(); // a slip: the other is withPermit's
      } catch (error) {
        record.push(`${(error as Error).name}: ${(error as Error).message}`);
      }
      yield* join(task);
      record.push(`available: ${semaphore.available}`);
      peak = 0;
      yield* all([1, 2, 3, 4].map(() => semaphore.withPermit(job())));
      record.push(`peak: ${peak}`);
    }(),
    { clock: new VirtualClock() },
  );
  assert.deepEqual(record, [
    "RangeError: Cannot release semaphore: every permit taken is held by withPermit, which gives it back when its operation ends",
    "available: 2",
    "peak: 2",
  ]);
});
