// A binary min-heap of timers ordered by (deadline, insertion order), so timers with equal
// deadlines fire in the order they were set. Cancelling is lazy (the entry's owner is
// cleared) so that it is O(1); the heap is rebuilt when most of it is cancelled entries.

export interface TimerEntry<T> {
  deadline: number;
  seq: number;
  owner: T | null;
}

export class TimerHeap<T> {
  #heap: TimerEntry<T>[] = [];
  #seq = 0;
  #cancelled = 0;

  push(deadline: number, owner: T): TimerEntry<T> {
    const entry: TimerEntry<T> = { deadline, seq: this.#seq++, owner };
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

  /** Removes and returns the earliest live entry if it is due at `now`. */
  popDue(now: number): TimerEntry<T> | undefined {
    const top = this.peek();
    if (top === undefined || top.deadline > now) return undefined;
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
  return a.deadline < b.deadline ||
    (a.deadline === b.deadline && a.seq < b.seq);
}
