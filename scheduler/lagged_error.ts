/**
 * Thrown by a {@linkcode Subscription}'s `receive` when the subscription fell so far behind
 * its {@linkcode Broadcast} that the broadcast ended it (the `"end"` overflow policy, like
 * tokio's `Lagged`). The items buffered before that were still received first.
 *
 * @example A subscriber that does not keep up
 * ```ts
 * import assert from "node:assert/strict";
 * import { Broadcast, LaggedError, run } from "@bluelet/bluelet";
 *
 * const news = new Broadcast<number>({ capacity: 1, overflow: "end" });
 * await run(function* () {
 *   const subscription = yield* news.subscribe();
 *   news.tryPublish(1);
 *   news.tryPublish(2); // no room: the subscription ends
 *   news.tryPublish(3);
 *   assert.equal((yield* subscription.receive()).value, 1);
 *   let lagged: unknown;
 *   try {
 *     yield* subscription.receive();
 *   } catch (error) {
 *     lagged = error;
 *   }
 *   assert.ok(lagged instanceof LaggedError);
 *   assert.equal(lagged.missed, 2);
 * }());
 * ```
 */
export class LaggedError extends Error {
  /** How many items the subscription missed, from the first that did not fit. */
  readonly missed: number;

  /**
   * Creates a {@linkcode LaggedError}.
   *
   * @param missed How many items were missed.
   * @param options The standard error options (`cause`).
   */
  constructor(missed: number, options?: ErrorOptions) {
    super(
      `Cannot receive from subscription: it fell behind and was ended, missing ${missed} item${
        missed === 1 ? "" : "s"
      }`,
      options,
    );
    this.name = "LaggedError";
    this.missed = missed;
  }
}
