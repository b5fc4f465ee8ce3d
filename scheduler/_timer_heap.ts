// A binary min-heap of timers ordered by deadline, then by the order they were set. A late
// timer (a time limit's deadline) that comes due is not handed out with the others but
// held: the kernel fires it once what is due in its instant has run, so that an operation
// finishing at that very moment counts as done. Held ones go out earliest deadline first,
// then the most deeply nested limit first (of nested limits, the inner one decides), then
// in the order they were set. Cancelling is lazy (the entry's owner is cleared) so that it
// is O(1); the heap is rebuilt when most of it is cancelled entries.

export interface TimerEntry<T> {
  deadline: number;
  seq: number;
  owner: T | null;
  /** A time limit's deadline: see the ordering above. */
  late: boolean;
  /** Taken out of the heap, due, to wait for `popHeld`. */
  held: boolean;
  /** How deeply a late one's limit is nested (threads from the run's main thread). */
  depth: number;
  /** For a held one, the heap's `instant` when it came due (the kernel's instant). */
  instant: number;
}

export class TimerHeap<T> {
  #heap: TimerEntry<T>[] = [];
  #seq = 0;
  #cancelled = 0;
  /**
   * Late entries that came due, the first to go out last once sorted; cancelled ones are
   * dropped as met.
   */
  #held: TimerEntry<T>[] = [];
  #heldSorted = true;
  /** How many late entries have come due so far: a change says more are held. */
  heldSoFar = 0;
  /** What late entries that come due now are stamped with (`TimerEntry.instant`). */
  instant = 0;

  push(deadline: number, owner: T, late = false, depth = 0): TimerEntry<T> {
    const entry: TimerEntry<T> = {
      deadline,
      seq: this.#seq++,
      owner,
      late,
      held: false,
      depth,
      instant: 0,
    };
    const heap = this.#heap;
    heap.push(entry);
    this.#up(heap.length - 1);
    return entry;
  }

  cancel(entry: TimerEntry<T>): void {
    entry.owner = null;
    if (entry.held) return; // not in the heap: dropped when next met
    this.#cancelled++;
    if (this.#cancelled > 1024 && this.#cancelled * 2 > this.#heap.length) {
      this.#rebuild();
    }
  }

  /** The earliest live entry, after dropping cancelled ones from the top. */
  peek(): TimerEntry<T> | undefined {
    const heap = this.#heap;
    while (heap.length > 0 && heap[0].owner === null) {
      this.#pop();
      this.#cancelled--;
    }
    return heap[0];
  }

  /**
   * Removes and returns the earliest live ordinary entry due at `now`; late ones due by
   * then are moved to the held ones on the way.
   */
  popDue(now: number): TimerEntry<T> | undefined {
    for (;;) {
      const top = this.peek();
      if (top === undefined || top.deadline > now) return undefined;
      this.#pop();
      if (!top.late) return top;
      top.held = true;
      top.instant = this.instant;
      this.heldSoFar++;
      this.#held.push(top);
      this.#heldSorted = false;
    }
  }

  /** Whether a late entry that came due is held, not cancelled. */
  get hasHeld(): boolean {
    const held = this.#held;
    for (let i = held.length - 1; i >= 0; i--) {
      if (held[i].owner !== null) return true;
      held.pop(); // only from the end, keeping the scan cheap
    }
    return false;
  }

  /** Removes and returns the first held entry (see the ordering above), if any. */
  popHeld(): TimerEntry<T> | undefined {
    const entry = this.peekHeld();
    if (entry === undefined) return undefined;
    this.#held.pop();
    entry.held = false;
    return entry;
  }

  /** The first held entry (see the ordering above), if any, left in place. */
  peekHeld(): TimerEntry<T> | undefined {
    const held = this.#held;
    if (!this.#heldSorted) {
      held.sort((a, b) => heldBefore(a, b) ? 1 : -1);
      this.#heldSorted = true;
    }
    for (let i = held.length - 1; i >= 0; i--) {
      const entry = held[i];
      if (entry.owner !== null) return entry;
      entry.held = false;
      held.pop();
    }
    return undefined;
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      this.#down(0);
    }
  }

  #rebuild(): void {
    this.#heap = this.#heap.filter((entry) => entry.owner !== null);
    this.#cancelled = 0;
    for (let i = (this.#heap.length >> 1) - 1; i >= 0; i--) this.#down(i);
  }

  #up(index: number): void {
    const heap = this.#heap;
    const entry = heap[index];
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!before(entry, heap[parent])) break;
      heap[index] = heap[parent];
      index = parent;
    }
    heap[index] = entry;
  }

  #down(index: number): void {
    const heap = this.#heap;
    const entry = heap[index];
    const length = heap.length;
    for (;;) {
      let child = 2 * index + 1;
      if (child >= length) break;
      if (child + 1 < length && before(heap[child + 1], heap[child])) child++;
      if (!before(heap[child], entry)) break;
      heap[index] = heap[child];
      index = child;
    }
    heap[index] = entry;
  }
}

function before<T>(a: TimerEntry<T>, b: TimerEntry<T>): boolean {
  return a.deadline < b.deadline || (a.deadline === b.deadline && a.seq < b.seq);
}

function heldBefore<T>(a: TimerEntry<T>, b: TimerEntry<T>): boolean {
  if (a.deadline !== b.deadline) return a.deadline < b.deadline;
  if (a.depth !== b.depth) return a.depth > b.depth;
  return a.seq < b.seq;
}
