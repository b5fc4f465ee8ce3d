// Server programs, made at random: `server` on a MemoryListener with its limits set or not,
// handlers that echo, sleep, fail and start helpers that fail (in `finally` too), hostile
// clients that send, read, half-close, close and reset, and a shutdown by the server's
// signal, by killing the server thread, or by aborting the whole run.
import fc from "fast-check";

export type HandlerStep =
  | { t: "echo"; n: number; max: number }
  | { t: "sleep"; ms: number }
  | { t: "helper"; ms: number; throws: boolean; throwsInFinally: boolean; join: boolean }
  | { t: "throw" };

export interface HandlerPlan {
  steps: HandlerStep[];
  /** A shielded sleep in its `finally`, and a goodbye byte (0) sent there with a timeout. */
  finallySleep: number;
  goodbye: boolean;
}

export type ClientStep =
  | { t: "send"; length: number }
  | { t: "receive"; max: number; ms: number }
  | { t: "sleep"; ms: number }
  | { t: "closeWrite" }
  | { t: "close" }
  | { t: "reset" };

export interface ClientPlan {
  delay: number;
  steps: ClientStep[];
  connectTimeout: number | null;
}

export interface ServerProgram {
  idleTimeout: number | null;
  gracePeriod: number | null;
  maxConnections: number | null;
  latency: number;
  bufferSize: number;
  chunk: number | null;
  /** Connection k is served by handler k modulo their number. */
  handlers: HandlerPlan[];
  clients: ClientPlan[];
  shutdown: { how: "signal" | "kill" | "runAbort" | "none"; at: number };
}

function tagged<T extends string>(t: T) {
  return fc.constant(t);
}

const handlerStep: fc.Arbitrary<HandlerStep> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      t: tagged("echo"),
      n: fc.integer({ min: 1, max: 6 }),
      max: fc.integer({ min: 1, max: 20 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: tagged("sleep"), ms: fc.integer({ min: 0, max: 30 }) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      t: tagged("helper"),
      ms: fc.integer({ min: 0, max: 20 }),
      throws: fc.boolean(),
      throwsInFinally: fc.boolean(),
      join: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: tagged("throw") }) },
);

const clientStep: fc.Arbitrary<ClientStep> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({ t: tagged("send"), length: fc.integer({ min: 1, max: 40 }) }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      t: tagged("receive"),
      max: fc.integer({ min: 1, max: 30 }),
      ms: fc.integer({ min: 0, max: 20 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ t: tagged("sleep"), ms: fc.integer({ min: 0, max: 40 }) }) },
  { weight: 1, arbitrary: fc.record({ t: tagged("closeWrite") }) },
  { weight: 1, arbitrary: fc.record({ t: tagged("close") }) },
  { weight: 1, arbitrary: fc.record({ t: tagged("reset") }) },
);

export const serverPrograms: fc.Arbitrary<ServerProgram> = fc.record({
  idleTimeout: fc.option(fc.integer({ min: 4, max: 60 }), { nil: null }),
  gracePeriod: fc.option(fc.integer({ min: 0, max: 40 }), { nil: null }),
  maxConnections: fc.option(fc.integer({ min: 1, max: 3 }), { nil: null }),
  latency: fc.integer({ min: 0, max: 3 }),
  bufferSize: fc.constantFrom(8, 16, 64, 65536),
  chunk: fc.option(fc.integer({ min: 1, max: 7 }), { nil: null }),
  handlers: fc.array(
    fc.record({
      steps: fc.array(handlerStep, { maxLength: 5 }),
      finallySleep: fc.integer({ min: 0, max: 5 }),
      goodbye: fc.boolean(),
    }),
    { minLength: 1, maxLength: 4 },
  ),
  clients: fc.array(
    fc.record({
      delay: fc.integer({ min: 0, max: 30 }),
      steps: fc.array(clientStep, { maxLength: 10 }),
      connectTimeout: fc.option(fc.integer({ min: 1, max: 10 }), { nil: null }),
    }),
    { minLength: 1, maxLength: 5 },
  ),
  shutdown: fc.record({
    how: fc.constantFrom<"signal" | "kill" | "runAbort" | "none">(
      "signal",
      "kill",
      "runAbort",
      "none",
    ),
    at: fc.integer({ min: 0, max: 120 }),
  }),
});
