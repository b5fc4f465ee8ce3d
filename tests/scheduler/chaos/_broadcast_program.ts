// Broadcast programs, made at random: one broadcast under one overflow policy, subscribers
// that read in every way (and slowly), publishers in every mode, kills of both at set
// times, and a close (maybe with an error) at a set time or once the publishers are done.
import fc from "fast-check";

export type Overflow = "wait" | "dropOldest" | "end";
export type ReceiveMode = "plain" | "moveOnAfter" | "select" | "poll";
export type PublishMode = "plain" | "try" | "moveOnAfter" | "withTimeout";

export interface SubscriberPlan {
  delay: number;
  n: number;
  receive: ReceiveMode;
  ms: number;
  /** Milliseconds it sleeps before each receive: a subscriber that falls behind. */
  slow: number;
  close: boolean;
  killAt: number | null;
  inGroup: boolean;
}

export interface PublisherPlan {
  items: { gap: number; mode: PublishMode; ms: number }[];
  killAt: number | null;
}

export interface BroadcastProgram {
  overflow: Overflow;
  capacity: number;
  subscribers: SubscriberPlan[];
  publishers: PublisherPlan[];
  closeAt: number | null;
  closeWithError: boolean;
}

const ms = fc.integer({ min: 0, max: 5 });

export const broadcastPrograms: fc.Arbitrary<BroadcastProgram> = fc.record({
  overflow: fc.constantFrom<Overflow>("wait", "dropOldest", "end"),
  capacity: fc.integer({ min: 1, max: 3 }),
  subscribers: fc.array(
    fc.record({
      delay: ms,
      n: fc.integer({ min: 1, max: 12 }),
      receive: fc.constantFrom<ReceiveMode>("plain", "moveOnAfter", "select", "poll"),
      ms: fc.integer({ min: 0, max: 6 }),
      slow: fc.integer({ min: 0, max: 3 }),
      close: fc.boolean(),
      killAt: fc.option(fc.integer({ min: 0, max: 15 }), { nil: null, freq: 3 }),
      inGroup: fc.boolean(),
    }),
    { minLength: 1, maxLength: 8 },
  ),
  publishers: fc.array(
    fc.record({
      items: fc.array(
        fc.record({
          gap: fc.integer({ min: 0, max: 2 }),
          mode: fc.constantFrom<PublishMode>("plain", "try", "moveOnAfter", "withTimeout"),
          ms: fc.integer({ min: 0, max: 4 }),
        }),
        { minLength: 1, maxLength: 10 },
      ),
      killAt: fc.option(fc.integer({ min: 0, max: 15 }), { nil: null, freq: 4 }),
    }),
    { minLength: 1, maxLength: 3 },
  ),
  closeAt: fc.option(fc.integer({ min: 0, max: 20 }), { nil: null }),
  closeWithError: fc.boolean(),
});
