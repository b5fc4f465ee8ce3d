import { checkOperations } from "./_checks.ts";
import type { Coroutine } from "./coroutine.ts";
import type { Effect } from "./effect.ts";
import { Primitive, SUSPEND } from "./lowlevel.ts";
import type { Operation, OperationResult } from "./operation.ts";
import { spawn } from "./spawn.ts";
import type { Task } from "./task.ts";
import {
  type ChannelCore,
  ReceiveOperation,
  type ReceiveWaiter,
  SendOperation,
  type SendWaiter,
} from "./_channel_core.ts";
import { shield } from "./shield.ts";
import { chain, killAll, killAllAndThrow } from "./_kill_all.ts";
import { callEach, ownFrameFor } from "./_effects.ts";
import type { Link, WaitList } from "./_wait_list.ts";

/**
 * What {@linkcode select} gives: which case took effect (its index in the array) and the
 * value that case's operation gives. A union over the cases, so checking `index` narrows
 * `value` to that case's type.
 *
 * @typeParam T The cases, as a tuple.
 */
export type SelectResult<T extends readonly Operation<unknown>[]> = {
  [K in keyof T]: {
    index: K extends `${infer N extends number}` ? N : number;
    value: OperationResult<T[K]>;
  };
}[number];

/**
 * Waits on several channel operations at once and lets exactly one of them take effect:
 * the first that can. The others never happen: no item is taken, no value is sent. Cases
 * are `channel.receive()`, `channel.send(value)` and `subscription.receive()` events, and
 * any other operation, typically a `sleep(ms)` for a timeout or an event's `wait()`: those
 * run in helper threads and are killed once another case wins, so they should have no
 * effect of their own. A helper that ends in the same instant as the winning case, before
 * its kill reaches it, has taken effect, and that effect stands: an item received by a
 * `moveOnAfter(ms, channel.receive())` case, or a lock acquired by a `lock.acquire()` case,
 * is then lost to the select. Put channel operations in a select as they are (a plain
 * `race` would let two of them both take effect; `select` is how to wait on several
 * without losing an item).
 *
 * Channel and subscription cases are tried first, in array order: the first of them that
 * can take effect at once wins, and the other cases never run. If none can, the other
 * cases run, each in a helper thread, and whichever case takes effect first wins. So a
 * case that is not a channel operation loses to a channel case that is ready at once, even
 * one later in the array, though it is ready too (a set event's `wait()`, `sleep(0)`):
 * whether it is ready cannot be known without running it. A helper can end before the
 * selection has begun (when the kernel's step budget runs out as the helpers are
 * spawned): its case wins. If the thread is killed while `select` waits, no channel case
 * takes effect (a send that had already been taken stays sent).
 *
 * @typeParam T The cases, as a tuple, so that the result is typed per case.
 * @param cases The operations to wait on; at least one.
 * @returns An event that resumes with `{ index, value }` of the case that took effect. It
 * throws what that case throws (a send on a closed channel, a helper's error).
 * @throws {TypeError} If `cases` is not an array, or holds a value that is no object.
 * @throws {RangeError} If `cases` is empty.
 * @throws {TypeError} If a channel is both sent to and received from in one select.
 *
 * @example A receive with a timeout
 * ```ts
 * import assert from "node:assert/strict";
 * import { Channel, run, select, sleep, VirtualClock } from "@bluelet/bluelet";
 *
 * const jobs = new Channel<string>();
 * const result = await run(select([jobs.receive(), sleep(100)]), {
 *   clock: new VirtualClock(),
 * });
 * assert.equal(result.index, 1); // the sleep won: nothing was received
 * ```
 *
 * @example Whichever channel has a value first
 * ```ts
 * import assert from "node:assert/strict";
 * import { Channel, run, select } from "@bluelet/bluelet";
 *
 * const a = new Channel<number>(1);
 * const b = new Channel<string>(1);
 * b.trySend("from b");
 * const result = await run(select([a.receive(), b.receive()]));
 * assert.equal(result.index, 1);
 * assert.deepEqual(result.value, { value: "from b", done: false });
 * assert.deepEqual(a.statistics().waitingReceivers, 0); // a was left alone
 * ```
 */
export function select<const T extends readonly Operation<unknown>[]>(
  cases: T,
): Effect<SelectResult<T>> {
  checkOperations(cases, "Cannot select", "cases");
  if (cases.length === 0) throw new RangeError("Cannot select: no cases were given");
  const selection = new Selection(cases); // checks the cases now, not at the yield
  if (selection.helpers.length === 0) return selection as Effect<SelectResult<T>>;
  // A selection of its own each time the event is yielded, of the cases as given: what
  // happens to the caller's array later changes nothing.
  const given = [...cases];
  return callEach(() => withHelpers(new Selection(given))) as Effect<SelectResult<T>>;
}

// With helpers, the winning case's item must not be taken until the helpers are gone:
// killing them waits, and a kill of this thread in that wait would lose an item already
// taken. So the selection keeps its winner's reservation across the wait and takes the
// item in the same step as it returns; a kill in between gives the reservation back.
function* withHelpers(selection: Selection): Coroutine<unknown> {
  const tasks: Task<void>[] = [];
  selection.deferred = true;
  // A helper can end before the selection begins (when the step budget runs out as this
  // thread spawns them, the helpers run first): its case took effect, so it wins.
  selection.acceptEarly();
  let done = false;
  try {
    for (const index of selection.helpers) {
      tasks.push(yield* spawn(helper(selection, index, selection.cases[index])));
    }
    yield* selection;
    try {
      // Shielded: a kill meanwhile waits for the helpers' cleanup, and what it throws goes
      // to the killer, not the run.
      yield* shield(killAll(tasks));
    } catch (error) {
      // The other helpers' cleanup failed: that error goes with a helper case's that won.
      const failure = selection.abandon();
      done = true;
      throw failure === null ? error : chain(error, failure.error);
    }
    done = true;
    return selection.complete();
  } finally {
    if (!done) {
      // Killed before it took in what won: a helper case's error goes to the killer. In a
      // shield: a second kill must not stop it half-way.
      yield* shield(killAllAndThrow(tasks, selection.abandon()));
    }
  }
}

function* helper(
  selection: Selection,
  index: number,
  operation: Operation<unknown>,
): Coroutine<void> {
  let ok = true;
  let value: unknown;
  try {
    // `end` ends the frame it is yielded in: the case's, not this helper's.
    value = yield ownFrameFor(operation);
  } catch (error) {
    ok = false;
    value = error;
  }
  selection.commit(index, ok ? HELPER_OK : HELPER_FAILED, value);
}

// How the winning case took effect.
const NONE = 0;
const TAKE = 1;
const RESERVED = 2;
const CLOSED = 3;
const SENT = 4;
const SEND_FAILED = 5;
const HELPER_OK = 6;
const HELPER_FAILED = 7;

/** A case's place in a channel's queue. */
class CaseLink implements ReceiveWaiter, SendWaiter {
  prevLink: Link | null = null;
  nextLink: Link | null = null;
  inList: WaitList<Link> | null = null;
  constructor(
    readonly selection: Selection,
    readonly index: number,
    readonly core: ChannelCore<unknown>,
    readonly value: unknown,
    readonly receiving: boolean,
  ) {}
  reserved(): void {
    this.selection.commit(this.index, RESERVED, undefined);
  }
  closed(): void {
    this.selection.commit(this.index, CLOSED, undefined);
  }
  delivered(): void {
    this.selection.commit(this.index, SENT, undefined);
  }
  failed(): void {
    this.selection.commit(this.index, SEND_FAILED, undefined);
  }
}

class Selection extends Primitive<{ index: number; value: unknown } | undefined> {
  readonly helpers: number[] = [];
  /** Whether `finish` leaves the take to `complete` (see `withHelpers`). */
  deferred = false;
  readonly links: (CaseLink | null)[];
  #winner = -1;
  #how = NONE;
  #value: unknown = undefined;
  #waiting = false;
  /** Whether a helper's case that ends before `start` wins (see `withHelpers`). */
  #acceptingEarly = false;
  /** Whether one did: `start` finds the winner set. */
  #wonEarly = false;

  constructor(readonly cases: readonly Operation<unknown>[]) {
    super();
    this.links = new Array(cases.length).fill(null);
    const receiving = new Set<ChannelCore<unknown>>();
    const sending = new Set<ChannelCore<unknown>>();
    for (let i = 0; i < cases.length; i++) {
      const operation = cases[i];
      if (operation instanceof ReceiveOperation) {
        receiving.add(operation.core);
        this.links[i] = new CaseLink(this, i, operation.core, undefined, true);
      } else if (operation instanceof SendOperation) {
        sending.add(operation.core);
        this.links[i] = new CaseLink(this, i, operation.core, operation.value, false);
      } else this.helpers.push(i);
    }
    for (const core of sending) {
      if (receiving.has(core)) {
        throw new TypeError(
          `Cannot select: case sends on and receives from the same ${core.noun}`,
        );
      }
    }
  }

  get description(): string {
    const names = this.cases.map((c) =>
      (c as { description?: unknown }).description ?? "coroutine"
    );
    return `select(${names.join(", ")})`;
  }

  /** From now until `start`, the first helper's case to end wins. */
  acceptEarly(): void {
    this.#acceptingEarly = true;
  }

  start(): typeof SUSPEND | null {
    this.#acceptingEarly = false;
    if (this.#wonEarly) {
      this.#wonEarly = false;
      return null;
    }
    this.#winner = -1;
    this.#how = NONE;
    const links = this.links;
    // The first case that can take effect now wins, in array order.
    for (let i = 0; i < links.length; i++) {
      const link = links[i];
      if (link === null) continue;
      const core = link.core;
      if (link.receiving) {
        if (core.readyToTake()) return this.#won(i, TAKE);
        if (core.ended()) return this.#won(i, CLOSED);
      } else {
        if (core.closed) return this.#won(i, SEND_FAILED);
        if (core.hasRoom()) {
          core.put(link.value);
          return this.#won(i, SENT);
        }
      }
    }
    for (let i = 0; i < links.length; i++) {
      const link = links[i];
      if (link === null) continue;
      if (link.receiving) link.core.receivers.push(link);
      else link.core.senders.push(link);
    }
    this.#waiting = true;
    return SUSPEND;
  }

  #won(index: number, how: number): null {
    this.#winner = index;
    this.#how = how;
    return null;
  }

  /** Whether its winner's reservation counts in its channel's `settling`. */
  #settling = false;

  #stopSettling(core: ChannelCore<unknown>): void {
    if (!this.#settling) return;
    this.#settling = false;
    core.settling--;
  }

  /** A case took effect while the selection waited: the others are withdrawn. */
  commit(index: number, how: number, value: unknown): void {
    if (!this.#waiting) {
      if (!this.#acceptingEarly) return;
      this.#acceptingEarly = false;
      this.#wonEarly = true;
    } else {
      this.#waiting = false;
      this.#withdraw();
    }
    this.#winner = index;
    this.#how = how;
    this.#value = value;
    this.wake();
  }

  #withdraw(): void {
    for (const link of this.links) {
      if (link === null || link.inList === null) continue;
      link.core.receivers.remove(link);
      link.core.senders.remove(link);
    }
  }

  finish(): { index: number; value: unknown } | undefined {
    if (!this.deferred) return this.complete();
    // Hold the item until `complete`: an immediate take becomes a reservation.
    if (this.#how === TAKE) {
      this.links[this.#winner]!.core.reserved++;
      this.#how = RESERVED;
    }
    // Receivers of that channel do not wait for this item to be taken: the threads the
    // helpers' cleanup waits for would wait on themselves (see `ChannelCore.ended`).
    if (this.#how === RESERVED) {
      this.links[this.#winner]!.core.settling++;
      this.#settling = true;
    }
    return undefined;
  }

  /** Makes the winning case's result: takes its item, or throws its error. */
  complete(): { index: number; value: unknown } {
    const index = this.#winner;
    const how = this.#how;
    const value = this.#value;
    this.#how = NONE;
    this.#value = undefined;
    const core = this.links[index]?.core;
    switch (how) {
      case RESERVED:
        this.#stopSettling(core!);
        core!.reserved--;
        return { index, value: core!.take() };
      case TAKE:
        return { index, value: core!.take() };
      case CLOSED:
        return { index, value: core!.takeAfterClose() };
      case SEND_FAILED:
        throw core!.closedError();
      case HELPER_FAILED:
        throw value;
      default: // SENT, HELPER_OK
        return { index, value };
    }
  }

  /**
   * The thread was killed before `complete`: gives back what the winner holds, and gives
   * the error of a helper case that won by failing, which must not be dropped.
   */
  abandon(): { error: unknown } | null {
    if (this.#how === RESERVED) {
      const core = this.links[this.#winner]!.core;
      this.#stopSettling(core);
      core.unreserve();
    }
    const failure = this.#how === HELPER_FAILED ? { error: this.#value } : null;
    this.#acceptingEarly = this.#wonEarly = false;
    this.#how = NONE;
    this.#value = undefined;
    return failure;
  }

  cancel(): void {
    if (this.#waiting) {
      this.#waiting = false;
      this.#withdraw();
    } else if (this.#how === RESERVED) {
      const core = this.links[this.#winner]!.core;
      this.#stopSettling(core);
      core.unreserve();
    }
    // A helper's error stays for `abandon`, which the killed thread's cleanup calls next.
    if (this.#how === HELPER_FAILED) return;
    this.#how = NONE;
    this.#value = undefined;
  }
}
