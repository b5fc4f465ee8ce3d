// Keeps the connections `server` holds open below the process's file descriptor limit.
//
// Deno 2.9.6 panics (the whole process aborts, nothing is catchable) when an operation
// runs out of file descriptors; a plain `Deno.listen` server does the same. So `server`
// counts what it holds, across every server in the thread, against a budget read from the
// soft limit in /proc/self/limits, and stops accepting at the budget instead of meeting
// EMFILE. Waiting clients stay in the listen backlog, which costs this process nothing.
// Without `--allow-all` the limit cannot be read: then the first accept that fails for
// want of descriptors sets the budget (see `limitToHeld`), and the server closes the
// newest connections past it, before anything else meets the limit.

/** How long a Worker holds at what it has when a sibling runs out (see `hold`). */
const HOLD_MS = 5000;

/** Descriptors left for everything else (files a handler opens, Deno's own, clients). */
const RESERVE_FRACTION = 0.1;
const MIN_RESERVE = 16;

/** The process-wide count of connections held by servers, and who waits for room. */
export class DescriptorGuard {
  #budget: number;
  #held = 0;
  #waiters: (() => void)[] = [];
  /** Connections servers are closing for a failed accept, not yet given back. */
  #closing = 0;
  /** Whether the budget came from the limit (or a share of it), not from a failed accept. */
  readonly limitRead: boolean;

  /** How many guards share the process's descriptors, each about as many as this one. */
  readonly #sharers: number;
  /**
   * Called as an accept fails for want of descriptors (the limit unknown): a Worker of
   * `serveWorkers` tells its siblings, which then `hold` for a while.
   */
  onOutOfDescriptors: (() => void) | null = null;
  /** What a sibling's failure holds this guard at, until `#capTimer` lifts it. */
  #cap = Infinity;
  #capTimer: ReturnType<typeof setTimeout> | undefined = undefined;

  constructor(budget: number, sharers = 1) {
    this.#budget = budget;
    this.#sharers = sharers;
    this.limitRead = budget !== Infinity;
  }

  /** The most connections all servers together may hold; Infinity when unknown. */
  get budget(): number {
    return this.#budget;
  }

  /**
   * Learns the budget from an accept that failed for want of descriptors (the limit could
   * not be read: no `--allow-all`): the connections held now, less a reserve, are the most
   * from now on. Gives how many are held past it, for the caller to close: at the limit,
   * Deno panics as soon as anything else needs a descriptor. Gives null, and leaves the
   * budget, when servers hold too few for it to say anything.
   */
  limitToHeld(): number | null {
    // Those a server is closing for the last failure are as good as closed.
    const held = this.#held - this.#closing;
    // What the servers of the whole process hold, about: the Workers of `serveWorkers`
    // share the connections, each about as many as this one.
    const all = held * this.#sharers;
    // Few held: something else holds the descriptors, and servers give way by waiting.
    if (all < 2 * MIN_RESERVE) {
      if (!this.limitRead) this.onOutOfDescriptors?.();
      return null;
    }
    // Within the budget while servers still close connections for the last failure: this
    // one is of the same moment (another server's accept, made before they closed), seen
    // late. Learnt again, it would lower the budget, and close more, once per server.
    if (this.#closing > 0 && held <= this.#budget) return 0;
    this.#budget = Math.min(this.#budget, this.#budgetFor(held));
    if (!this.limitRead) this.onOutOfDescriptors?.();
    return Math.max(0, held - this.#budget);
  }

  /**
   * The budget `held` connections at the limit say: those less this guard's share of a
   * reserve of a tenth of what the servers hold, at least MIN_RESERVE; one connection at
   * least, or a Worker that held few would serve no one again.
   */
  #budgetFor(held: number): number {
    const reserve = Math.max(MIN_RESERVE, Math.ceil(held * this.#sharers * RESERVE_FRACTION));
    return Math.max(1, held - Math.ceil(reserve / this.#sharers));
  }

  /**
   * Another Worker of the process ran out of descriptors, and closes its share of the
   * reserve: for `ms` milliseconds, this one holds at the budget what it holds now says
   * (see `limitToHeld`), closing none (accepted while there was room, they end in their
   * time), so that it does not take the room made, and makes its own share of it as they
   * end. Held again meanwhile, it keeps that budget for longer (no lower: each sibling's
   * failure is the same shortage). Then it accepts as before: a shortage that passed
   * (files a handler opened) costs no room for good, and one that lasts is met again,
   * and learnt from, by every Worker.
   */
  hold(ms = HOLD_MS): void {
    if (this.#cap === Infinity) this.#cap = this.#budgetFor(this.#held);
    clearTimeout(this.#capTimer);
    this.#capTimer = setTimeout(() => {
      this.#cap = Infinity;
      this.#wake();
    }, ms);
    Deno.unrefTimer(this.#capTimer); // a Worker's end does not wait for it
  }

  /** Lifts a hold now, and lets its timer go (for a guard that is no longer used). */
  [Symbol.dispose](): void {
    clearTimeout(this.#capTimer);
    this.#cap = Infinity;
    this.#wake();
  }

  /** How many connections servers hold now. */
  get held(): number {
    return this.#held;
  }

  /** Whether holding one more connection would pass the budget (or a sibling's hold). */
  get full(): boolean {
    return this.#held >= this.#budget || this.#held >= this.#cap;
  }

  /** Counts a connection accepted. */
  take(): void {
    this.#held++;
  }

  /** Counts connections a server began to close for a failed accept (see `limitToHeld`). */
  closing(count: number): void {
    this.#closing += count;
  }

  /** Counts a connection closed, and wakes whoever waits for room; `shed`: see `closing`. */
  give(shed = false): void {
    this.#held--;
    if (shed) this.#closing--;
    this.#wake();
  }

  #wake(): void {
    const waiters = this.#waiters;
    if (waiters.length === 0) return;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  /** Calls `wake` once, at the next `give`. */
  onRoom(wake: () => void): void {
    this.#waiters.push(wake);
  }
}

// Module state is per isolate: each Worker of `serveWorkers` has a guard of its own, which
// must not count the whole process's budget again (see `useBudget`).
let shared: DescriptorGuard | null = null;

/** The guard every server in this thread shares, made on first use. */
export function descriptorGuard(): DescriptorGuard {
  return shared ??= new DescriptorGuard(connectionBudget());
}

/**
 * Makes this thread's guard with `budget`, its share of the process's budget, instead of
 * reckoning one: a Worker of `serveWorkers`, one of `sharers` that hold descriptors of the
 * same process. Call it before any server of the thread starts.
 */
export function useBudget(budget: number, sharers: number): void {
  if (shared !== null) {
    throw new Error(
      "Cannot set the descriptor budget: a server of this thread already counts against one",
    );
  }
  shared = new DescriptorGuard(budget, sharers);
}

/**
 * How many connections servers may hold: the soft descriptor limit, less those open now,
 * less a reserve of a tenth of the limit (at least 16). Infinity when the limit cannot be
 * learnt: not Linux, not run with `--allow-all`, or an unlimited limit.
 */
export function connectionBudget(): number {
  const limits = readGranted("/proc/self/limits");
  if (limits === null) return Infinity;
  const match = /^Max open files\s+(\d+)/m.exec(limits);
  if (match === null) return Infinity;
  const limit = Number(match[1]);
  let open = MIN_RESERVE; // a guess, if /proc/self/fd cannot be listed
  try {
    open = 0;
    for (const _ of Deno.readDirSync("/proc/self/fd")) open++;
  } catch {
    open = MIN_RESERVE;
  }
  const reserve = Math.max(MIN_RESERVE, Math.ceil(limit * RESERVE_FRACTION));
  return Math.max(1, limit - open - reserve);
}

/**
 * Reads a file under /proc/self. Deno 2.9.6 lets a program read there only with every
 * permission (`--allow-all`), so it reads only if every permission is granted already:
 * asking could prompt the user.
 */
function readGranted(path: string): string | null {
  const names = ["read", "write", "net", "env", "run", "sys", "ffi"] as const;
  try {
    for (const name of names) {
      if (Deno.permissions.querySync({ name }).state !== "granted") return null;
    }
    return Deno.readTextFileSync(path);
  } catch {
    return null;
  }
}
