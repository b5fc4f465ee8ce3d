/**
 * Thrown when sending on a {@linkcode Channel} (or publishing on a
 * {@linkcode Broadcast}) that is closed, including to a sender that was waiting when it
 * was closed: that sender's item was not delivered.
 *
 * @example Sending on a closed channel
 * ```ts
 * import assert from "node:assert/strict";
 * import { Channel, ClosedError, run } from "@bluelet/bluelet";
 *
 * const channel = new Channel<number>(1);
 * channel.close();
 * await assert.rejects(run(channel.send(1)), ClosedError);
 * ```
 */
export class ClosedError extends Error {
  /**
   * Creates a {@linkcode ClosedError}.
   *
   * @param message What was attempted.
   * @param options The standard error options (`cause`).
   */
  constructor(message = "Cannot send: the channel is closed", options?: ErrorOptions) {
    super(message, options);
    this.name = "ClosedError";
  }
}
