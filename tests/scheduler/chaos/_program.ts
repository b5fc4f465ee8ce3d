// Whole programs of threads, made at random: what they are, and how fast-check makes them.
// A program is data (plain JSON), so a failure prints as the program that failed, shrunk.
import fc from "fast-check";

/** How a send or receive waits: each form reaches the kernel by another path. */
export type WaitMode =
  | "plain" // `yield*` the event
  | "bare" // Bluelet's `yield event`
  | "withTimeout" // over the leaf operation: it waits in the caller's own thread
  | "moveOnAfter"
  | "withTimeoutBody" // over a coroutine around it: it waits in a helper thread
  | "moveOnAfterBody"
  | "select"; // against a sleep

/** How a lock or a semaphore is acquired (`try`: without waiting). */
export type AcquireMode = "plain" | "withTimeout" | "moveOnAfter" | "try";

export type PublishMode = "plain" | "try" | "withTimeout";

/** How a thread's `finally` cleans up: shielded or not, yielding or throwing. */
export type Cleanup =
  | "none"
  | "shieldedSleep"
  | "shieldedLock"
  | "shieldedChannels"
  | "unshieldedSleep"
  | "unshieldedTimeout" // withTimeout over a coroutine: helper threads in a finally
  | "throw"
  | "shieldedThrow";

/** One step of a thread. Numbers that pick a thread, body or channel are taken modulo. */
export type Op =
  | { t: "sleep"; ms: number }
  | { t: "yield" }
  | { t: "send"; ch: number; mode: WaitMode; ms: number }
  | { t: "receive"; ch: number; mode: WaitMode; ms: number }
  | { t: "trySend"; ch: number }
  | { t: "tryReceive"; ch: number }
  | { t: "close"; ch: number; withError: boolean }
  | {
    t: "select";
    cases: { ch: number; send: boolean }[];
    sleep: number | null;
    eventCase: boolean;
    secondSleep: number | null;
  }
  | { t: "lock"; mode: AcquireMode | "withLock"; hold: number; ms: number }
  | { t: "semaphore"; mode: AcquireMode | "withPermit"; hold: number; ms: number }
  | { t: "setEvent" }
  | { t: "waitEvent"; mode: "plain" | "withTimeout" | "moveOnAfter"; ms: number }
  | { t: "spawn"; body: number; scope: boolean }
  | { t: "scope"; body: number; join: boolean }
  | { t: "spawnOwned"; body: number; scope: number }
  | { t: "spawnInGroup"; body: number; group: number }
  | { t: "kill"; target: number; reason: boolean }
  | { t: "killMany"; targets: number[]; reason: boolean }
  | { t: "join"; target: number; bare: boolean }
  | { t: "group"; children: number[]; body: Op[] }
  | { t: "all"; branches: Op[][] }
  | { t: "race"; branches: Op[][] }
  | { t: "timeLimit"; ms: number; moveOn: boolean; ops: Op[] }
  | { t: "publish"; b: number; mode: PublishMode; ms: number }
  | { t: "subscribe"; b: number; n: number; ms: number; close: boolean }
  | { t: "closeBroadcast"; b: number }
  | { t: "throw" };

/** What a spawned thread runs. */
export interface Body {
  ops: Op[];
  cleanup: Cleanup;
}

/** A thread the root starts first: plain, as a scope, or in a task group of its own. */
export interface Start {
  body: number;
  scope: boolean;
  group: boolean;
}

export interface Program {
  bodies: Body[];
  root: Op[];
  initial: Start[];
}

const ms = fc.integer({ min: 0, max: 4 });
const ch = fc.integer({ min: 0, max: 2 });
const b = fc.integer({ min: 0, max: 2 });
const target = fc.nat(12);
const waitMode = fc.constantFrom<WaitMode>(
  "plain",
  "bare",
  "withTimeout",
  "moveOnAfter",
  "withTimeoutBody",
  "moveOnAfterBody",
  "select",
);
const publishMode = fc.constantFrom<PublishMode>("plain", "try", "withTimeout");

function tagged<T extends string>(t: T) {
  return fc.constant(t);
}

/** Steps that hold no others. Sends, receives, scopes and kills come twice: they matter most. */
const leaves: fc.Arbitrary<Op>[] = [
  fc.record({ t: tagged("sleep"), ms }),
  fc.record({ t: tagged("yield") }),
  fc.record({ t: tagged("send"), ch, mode: waitMode, ms }),
  fc.record({ t: tagged("send"), ch, mode: waitMode, ms }),
  fc.record({ t: tagged("receive"), ch, mode: waitMode, ms }),
  fc.record({ t: tagged("receive"), ch, mode: waitMode, ms }),
  fc.record({ t: tagged("trySend"), ch }),
  fc.record({ t: tagged("tryReceive"), ch }),
  fc.record({ t: tagged("close"), ch, withError: fc.boolean() }),
  fc.record({
    t: tagged("select"),
    cases: fc.array(fc.record({ ch, send: fc.boolean() }), { minLength: 1, maxLength: 3 }),
    sleep: fc.option(ms, { nil: null }),
    eventCase: fc.boolean(),
    secondSleep: fc.option(ms, { nil: null }),
  }),
  fc.record({ t: tagged("scope"), body: fc.nat(5), join: fc.boolean() }),
  fc.record({ t: tagged("scope"), body: fc.nat(5), join: fc.boolean() }),
  fc.record({ t: tagged("spawnOwned"), body: fc.nat(5), scope: fc.nat(6) }),
  fc.record({ t: tagged("spawnInGroup"), body: fc.nat(5), group: fc.nat(6) }),
  fc.record({
    t: tagged("lock"),
    mode: fc.constantFrom("plain", "withLock", "withTimeout", "moveOnAfter", "try"),
    hold: ms,
    ms,
  }),
  fc.record({
    t: tagged("semaphore"),
    mode: fc.constantFrom("plain", "withPermit", "withTimeout", "moveOnAfter", "try"),
    hold: ms,
    ms,
  }),
  fc.record({ t: tagged("setEvent") }),
  fc.record({
    t: tagged("waitEvent"),
    mode: fc.constantFrom("plain", "withTimeout", "moveOnAfter"),
    ms,
  }),
  fc.record({ t: tagged("spawn"), body: fc.nat(5), scope: fc.boolean() }),
  fc.record({ t: tagged("kill"), target, reason: fc.boolean() }),
  fc.record({ t: tagged("kill"), target, reason: fc.boolean() }),
  fc.record({
    t: tagged("killMany"),
    targets: fc.array(target, { minLength: 1, maxLength: 3 }),
    reason: fc.boolean(),
  }),
  fc.record({ t: tagged("join"), target, bare: fc.boolean() }),
  fc.record({ t: tagged("publish"), b, mode: publishMode, ms }),
  fc.record({
    t: tagged("subscribe"),
    b,
    n: fc.integer({ min: 1, max: 5 }),
    ms: fc.integer({ min: 0, max: 6 }),
    close: fc.boolean(),
  }),
];

/** A step, which may hold steps of its own (a group's body, a race's branches). */
const { step } = fc.letrec<{ step: Op; steps: Op[] }>((tie) => {
  const nested = tie("steps") as fc.Arbitrary<Op[]>;
  return {
    step: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      ...leaves.map((arbitrary) => ({ arbitrary, weight: 4 })),
      { arbitrary: fc.record({ t: tagged("throw") }), weight: 2 },
      {
        arbitrary: fc.record({
          t: tagged("group"),
          children: fc.array(fc.nat(5), { maxLength: 3 }),
          body: nested,
        }),
        weight: 3,
      },
      {
        arbitrary: fc.record({
          t: fc.constantFrom<"all" | "race">("all", "race"),
          branches: fc.array(nested, { minLength: 1, maxLength: 3 }),
        }),
        weight: 2,
      },
      {
        arbitrary: fc.record({ t: tagged("timeLimit"), ms, moveOn: fc.boolean(), ops: nested }),
        weight: 2,
      },
    ) as fc.Arbitrary<Op>,
    steps: fc.array(tie("step") as fc.Arbitrary<Op>, { maxLength: 4 }),
  };
});

const cleanup = fc.constantFrom<Cleanup>(
  "none",
  "shieldedSleep",
  "shieldedLock",
  "shieldedChannels",
  "unshieldedSleep",
  "unshieldedTimeout",
  "throw",
  "shieldedThrow",
);

const threads = fc.record({
  bodies: fc.array(fc.record({ ops: fc.array(step, { maxLength: 6 }), cleanup }), {
    minLength: 1,
    maxLength: 5,
  }),
  root: fc.array(step, { maxLength: 8 }),
  initial: fc.array(fc.record({ body: fc.nat(5), scope: fc.boolean(), group: fc.boolean() }), {
    minLength: 1,
    maxLength: 4,
  }),
});

/** Broadcast traffic: subscribers, publishers, and when the broadcast is closed. */
interface Traffic {
  b: number;
  subscribers: { delay: number; n: number; ms: number; close: boolean }[];
  publishers: { gap: number; mode: PublishMode; ms: number }[][];
  closeAt: number | null;
}

/**
 * Broadcast traffic laid over a program, in one program out of three: subscribers and
 * publishers that start together, and maybe a thread that closes the broadcast, so that
 * items really flow while the program's other threads kill, time out and fail around them.
 */
const traffic: fc.Arbitrary<Traffic | null> = fc.option(
  fc.record({
    b,
    subscribers: fc.array(
      fc.record({
        delay: ms,
        n: fc.integer({ min: 1, max: 8 }),
        ms: fc.integer({ min: 0, max: 6 }),
        close: fc.boolean(),
      }),
      { minLength: 1, maxLength: 3 },
    ),
    publishers: fc.array(
      fc.array(fc.record({ gap: ms, mode: publishMode, ms }), { minLength: 1, maxLength: 6 }),
      { minLength: 1, maxLength: 2 },
    ),
    closeAt: fc.option(fc.integer({ min: 0, max: 12 }), { nil: null }),
  }),
  { nil: null, freq: 2 },
);

function withTraffic(program: Program, t: Traffic): Program {
  const bodies = [...program.bodies];
  const initial = [...program.initial];
  const start = (ops: Op[]) => {
    initial.push({ body: bodies.length, scope: false, group: false });
    bodies.push({ ops, cleanup: "none" });
  };
  for (const s of t.subscribers) {
    start([{ t: "sleep", ms: s.delay }, {
      t: "subscribe",
      b: t.b,
      n: s.n,
      ms: s.ms,
      close: s.close,
    }]);
  }
  for (const items of t.publishers) {
    start(items.flatMap(({ gap, mode, ms }): Op[] => [
      { t: "sleep", ms: gap },
      { t: "publish", b: t.b, mode, ms },
    ]));
  }
  if (t.closeAt !== null) start([{ t: "sleep", ms: t.closeAt }, { t: "closeBroadcast", b: t.b }]);
  return { ...program, bodies, initial };
}

/** Programs of threads, some with broadcast traffic. */
export const programs: fc.Arbitrary<Program> = fc.tuple(threads, traffic).map((
  [program, t],
) => t === null ? program : withTraffic(program, t));
