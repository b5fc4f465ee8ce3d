// A binary min-heap of timers ordered by deadline. Of timers with equal deadlines, the
// ordinary ones (a sleep) come first, in the order they were set; then the late ones (a
// time limit's deadline), the most deeply nested limit first: a deadline ends a wait only
// after what is due in the same instant, and of nested limits, the inner one. Cancelling is
// lazy (the entry's owner is cleared) so that it is O(1); the heap is rebuilt when most of
// it is cancelled entries.

export interface TimerEntry<T> {
  deadline: number;
  seq: number;
  owner: T | null;
  /** A time limit's deadline: see the ordering above. */
  late: boolean;
  /** How deeply a late one's limit is nested (threads from the run's main thread). */
  depth: number;
}

export class TimerHeap<T> {
  #heap: TimerEntry<T>[] = [];
  #seq = 0;
  #cancelled = 0;

  push(deadline: number, owner: T, late = false, depth = 0): TimerEntry<T> {
    const entry: TimerEntry<T> = { deadline, seq: this.#seq++, owner, late, depth };
    const heap = this.#heap;
    heap.push(entry);
    this.#up(heap.length - 1);
    return entry;
  }

  cancel(entry: TimerEntry<T>): void {
    entry.owner = null;
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
   * Removes and returns the earliest live entry if it is due at `now`; a late one only if
   * `lateToo`.
   */
  popDue(now: number, lateToo: boolean): TimerEntry<T> | undefined {
    const top = this.peek();
    if (top === undefined || top.deadline > now || (top.late && !lateToo)) return undefined;
    this.#pop();
    return top;
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
  if (a.deadline !== b.deadline) return a.deadline < b.deadline;
  if (a.late !== b.late) return b.late;
  if (a.depth !== b.depth) return a.depth > b.depth;
  return a.seq < b.seq;
}
