import assert from "node:assert/strict";
import { type Coroutine, run, until } from "../../mod.ts";

Deno.test("yielding a promise resumes with its value (Bluelet style)", async () => {
  const value = await run(function* (): Coroutine<number> {
    const x = yield Promise.resolve(20);
    return x + 22;
  }());
  assert.equal(value, 42);
});

Deno.test("until() resumes with the promise's value, typed", async () => {
  const value = await run(function* () {
    const text: string = yield* until(Promise.resolve("typed"));
    return text.toUpperCase();
  }());
  assert.equal(value, "TYPED");
});

Deno.test("a rejected promise throws at the yield point, where try/catch works", async () => {
  const failure = new Error("rejected");
  const caught = await run(function* (): Coroutine<unknown> {
    try {
      yield Promise.reject(failure);
      return "no error";
    } catch (error) {
      return error;
    }
  }());
  assert.equal(caught, failure);
});

Deno.test("until() calls a function only when the event is handled, and each time it is yielded", async () => {
  const record: string[] = [];
  const event = until(() => {
    record.push("called");
    return record.length;
  });
  record.push("built");
  const values = await run(function* () {
    const a = yield* event;
    const b = yield* event;
    return [a, b];
  }());
  assert.deepEqual(record, ["built", "called", "called"]);
  assert.deepEqual(values, [2, 3]);
});

Deno.test("until() throws at the yield point what its function throws, or its promise rejects with", async () => {
  const messages = await run(function* () {
    const out: string[] = [];
    try {
      yield* until(() => {
        throw new Error("sync failure");
      });
    } catch (error) {
      out.push((error as Error).message);
    }
    try {
      yield* until(() => Promise.reject(new Error("async failure")));
    } catch (error) {
      out.push((error as Error).message);
    }
    return out;
  }());
  assert.deepEqual(messages, ["sync failure", "async failure"]);
});

Deno.test("an error escaping the root after a promise rejection rejects the run", async () => {
  await assert.rejects(
    run(function* () {
      yield* until(Promise.reject(new Error("unhandled in coroutine")));
    }()),
    new Error("unhandled in coroutine"),
  );
});
