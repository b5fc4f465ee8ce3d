// A FIFO of threads on a growable circular buffer: O(1) push and shift with no per-item
// allocation, which an `Array#shift` (O(n) once arrays get large) cannot promise. The head
// item is kept apart when the buffer behind it is empty: a run that hands off between two
// threads keeps one thread queued at a time, and a field is cheaper than the buffer.
export class RingQueue<T> {
  #front: T | undefined = undefined;
  #items: (T | undefined)[] = new Array(64);
  #head = 0;
  #size = 0;

  get size(): number {
    return this.#front === undefined ? this.#size : this.#size + 1;
  }

  push(item: T): void {
    if (this.#front === undefined && this.#size === 0) {
      this.#front = item;
      return;
    }
    const capacity = this.#items.length;
    if (this.#size === capacity) this.#grow();
    this.#items[(this.#head + this.#size) & (this.#items.length - 1)] = item;
    this.#size++;
  }

  /** The item `index` places from the head (0 is the head). */
  at(index: number): T | undefined {
    if (this.#front !== undefined) {
      if (index === 0) return this.#front;
      index--;
    }
    if (index < 0 || index >= this.#size) return undefined;
    return this.#items[(this.#head + index) & (this.#items.length - 1)];
  }

  shift(): T | undefined {
    const front = this.#front;
    if (front !== undefined) {
      this.#front = undefined;
      return front;
    }
    if (this.#size === 0) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined;
    this.#head = (this.#head + 1) & (this.#items.length - 1);
    this.#size--;
    return item;
  }

  #grow(): void {
    const old = this.#items;
    const items: (T | undefined)[] = new Array(old.length * 2);
    for (let i = 0; i < this.#size; i++) {
      items[i] = old[(this.#head + i) & (old.length - 1)];
    }
    this.#items = items;
    this.#head = 0;
  }
}
