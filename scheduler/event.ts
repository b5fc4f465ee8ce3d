import { checkName, checkOptions } from "./_checks.ts";
import type { Effect } from "./effect.ts";
import { Primitive, SUSPEND } from "./lowlevel.ts";
import { type Link, WaitList } from "./_wait_list.ts";

/** Options for {@linkcode Event}. */
export interface EventOptions {
  /**
   * A name for descriptions (and so for a `DeadlockError`).
   *
   * @default {undefined}
   */
  name?: string;
}

/**
 * A flag that is set once and that threads wait on (Trio's `Event`): `wait()` resumes at
 * once when it is set, or when {@linkcode Event.set} is called. A thread killed while it
 * waits leaves the queue. Waits are inside the run, so a `VirtualClock` keeps jumping
 * over them and a run whose threads all wait on events that nobody can set ends with a
 * `DeadlockError`.
 *
 * (Named like the DOM's `Event`; import it as `import { Event as Signal } ...` if your
 * code also uses that one.)
 *
 * @example Workers wait until the setup is done
 * ```ts
 * import assert from "node:assert/strict";
 * import { Event, run, sleep, spawn, VirtualClock } from "@bluelet/bluelet";
 *
 * const ready = new Event();
 * const log: string[] = [];
 * await run(function* () {
 *   for (const name of ["a", "b"]) {
 *     yield* spawn(function* () {
 *       yield* ready.wait();
 *       log.push(`${name} starts`);
 *     }());
 *   }
 *   yield* sleep(10);
 *   log.push("setup done");
 *   ready.set();
 * }(), { clock: new VirtualClock() });
 * assert.deepEqual(log, ["setup done", "a starts", "b starts"]);
 * ```
 */
export class Event {
  readonly #waiters = new WaitList<EventWait>();
  readonly #label: string;
  #set = false;

  /**
   * Creates an event that is not set.
   *
   * @param options A name for descriptions.
   */
  constructor(options: EventOptions = {}) {
    checkOptions(options, "Cannot create event");
    const name = options?.name ?? undefined;
    checkName(name, "Cannot create event");
    this.#label = name === undefined ? "Event" : `Event ${JSON.stringify(name)}`;
  }

  /**
   * Sets the event and wakes every thread waiting on it, in the order they began to wait.
   * Setting it again does nothing.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Event } from "@bluelet/bluelet";
   *
   * const event = new Event();
   * event.set();
   * assert.equal(event.isSet, true);
   * ```
   */
  set(): void {
    if (this.#set) return;
    this.#set = true;
    let waiter;
    while ((waiter = this.#waiters.shift()) !== null) waiter.wake();
  }

  /**
   * Whether the event is set.
   *
   * @returns `true` once {@linkcode Event.set} was called.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Event } from "@bluelet/bluelet";
   *
   * assert.equal(new Event().isSet, false);
   * ```
   */
  get isSet(): boolean {
    return this.#set;
  }

  /**
   * Waits until the event is set.
   *
   * @returns An event that resumes once it is set (at once if it already is).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Event, run, spawn, yieldNow } from "@bluelet/bluelet";
   *
   * const event = new Event();
   * const log: string[] = [];
   * await run(function* () {
   *   yield* spawn(function* () {
   *     yield* event.wait();
   *     log.push("woke");
   *   }());
   *   yield* yieldNow();
   *   log.push("setting");
   *   event.set();
   * }());
   * assert.deepEqual(log, ["setting", "woke"]);
   * ```
   */
  wait(): Effect<void> {
    return new EventWait(this.#label, () => this.#set, this.#waiters);
  }
}

class EventWait extends Primitive<void> implements Link {
  prevLink: Link | null = null;
  nextLink: Link | null = null;
  inList: WaitList<Link> | null = null;

  constructor(
    readonly label: string,
    readonly isSet: () => boolean,
    readonly waiters: WaitList<EventWait>,
  ) {
    super();
  }

  get description(): string {
    return `wait(${this.label})`;
  }

  start(): typeof SUSPEND | null {
    if (this.isSet()) return null;
    this.waiters.push(this);
    return SUSPEND;
  }

  finish(): void {}

  cancel(): void {
    this.waiters.remove(this);
  }
}
