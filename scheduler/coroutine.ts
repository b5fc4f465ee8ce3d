/**
 * A coroutine: a generator that yields events to the kernel and returns `T`.
 *
 * The value of a bare `yield` expression is typed `any` on purpose: that is what makes
 * Bluelet-style code such as `const data = yield conn.recv(1024)` compile under strict
 * mode. Use `yield*` where you want the result typed.
 *
 * Any object with `next`, `throw` and `return` runs as one too. A generator object is
 * resumed with the generator built-ins when its `next` is the built-in as it starts (is
 * spawned or called): a `next` replaced on it before then is used, one replaced later is
 * not.
 *
 * @typeParam T The coroutine's return value.
 *
 * @example Annotating a Bluelet-style coroutine
 * ```ts
 * import { type Coroutine, run, sleep } from "@bluelet/bluelet";
 * import assert from "node:assert/strict";
 *
 * function* waiter(ms: number): Coroutine<number> {
 *   yield sleep(ms);
 *   return ms;
 * }
 * assert.equal(await run(waiter(1)), 1);
 * ```
 */
// deno-lint-ignore no-explicit-any
export type Coroutine<T = unknown> = Generator<unknown, T, any>;
