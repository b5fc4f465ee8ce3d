// A FIFO of items on a growable power-of-two circular buffer, for channel and subscription
// buffers: O(1) push/shift with no per-item allocation, plus the rare operations a buffer
// needs (drop the newest, drop one at an index) that a plain array would make O(n) always.
export class Deque<T> {
  #items: (T | undefined)[] = new Array(16);
  #head = 0;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  push(item: T): void {
    if (this.#size === this.#items.length) this.#grow();
    this.#items[(this.#head + this.#size) & (this.#items.length - 1)] = item;
    this.#size++;
  }

  shift(): T {
    const item = this.#items[this.#head] as T;
    this.#items[this.#head] = undefined;
    this.#head = (this.#head + 1) & (this.#items.length - 1);
    this.#size--;
    return item;
  }

  /** Drops the newest item. */
  pop(): void {
    this.#size--;
    this.#items[(this.#head + this.#size) & (this.#items.length - 1)] = undefined;
  }

  /** Drops the item `index` places from the front, keeping the order of the others. */
  removeAt(index: number): void {
    const mask = this.#items.length - 1;
    for (let i = index; i < this.#size - 1; i++) {
      this.#items[(this.#head + i) & mask] = this.#items[(this.#head + i + 1) & mask];
    }
    this.pop();
  }

  #grow(): void {
    const old = this.#items;
    const items: (T | undefined)[] = new Array(old.length * 2);
    for (let i = 0; i < this.#size; i++) items[i] = old[(this.#head + i) & (old.length - 1)];
    this.#items = items;
    this.#head = 0;
  }
}
