// A list value of examples/kv.ts: a ring buffer, so that pushes and pops at both ends and
// LRANGE's indexing are all O(1).

/**
 * What a list item is counted beyond its bytes, as an estimate of what V8 spends on it
 * (its string's header, its slot).
 */
export const ITEM_OVERHEAD = 32;

/**
 * A double-ended queue of strings.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Deque } from "./_kv_deque.ts";
 *
 * const list = new Deque();
 * list.push("b");
 * list.unshift("a");
 * assert.deepEqual([list.at(0), list.at(1)], ["a", "b"]);
 * assert.equal(list.pop(), "b");
 * assert.equal(list.length, 1);
 * ```
 */
export class Deque {
  #items: (string | undefined)[] = new Array(4);
  #head = 0;
  #length = 0;
  #bytes = 0;
  readonly #usage: { bytes: number };

  /**
   * Makes an empty list.
   *
   * @param usage A count its items' bytes are added to as they come and taken from as
   * they go, with ITEM_OVERHEAD each: the data set's size.
   */
  constructor(usage: { bytes: number } = { bytes: 0 }) {
    this.#usage = usage;
  }

  /** The bytes its items take, with ITEM_OVERHEAD each. */
  get bytes(): number {
    return this.#bytes;
  }

  #count(delta: number): void {
    this.#bytes += delta;
    this.#usage.bytes += delta;
  }

  /** How many items it holds. */
  get length(): number {
    return this.#length;
  }

  /**
   * The item at `index` (0 is the head), which must be in range.
   *
   * @param index From 0 to `length - 1`.
   * @returns The item.
   */
  at(index: number): string {
    return this.#items[(this.#head + index) & (this.#items.length - 1)]!;
  }

  /**
   * Adds an item at the tail.
   *
   * @param item The item.
   */
  push(item: string): void {
    if (this.#length === this.#items.length) this.#grow();
    this.#items[(this.#head + this.#length) & (this.#items.length - 1)] = item;
    this.#length++;
    this.#count(item.length + ITEM_OVERHEAD);
  }

  /**
   * Adds an item at the head.
   *
   * @param item The item.
   */
  unshift(item: string): void {
    if (this.#length === this.#items.length) this.#grow();
    this.#head = (this.#head - 1) & (this.#items.length - 1);
    this.#items[this.#head] = item;
    this.#length++;
    this.#count(item.length + ITEM_OVERHEAD);
  }

  /**
   * Removes the head item.
   *
   * @returns It, or `undefined` if empty.
   */
  shift(): string | undefined {
    if (this.#length === 0) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined;
    this.#head = (this.#head + 1) & (this.#items.length - 1);
    this.#length--;
    this.#count(-(item!.length + ITEM_OVERHEAD));
    return item;
  }

  /**
   * Removes the tail item.
   *
   * @returns It, or `undefined` if empty.
   */
  pop(): string | undefined {
    if (this.#length === 0) return undefined;
    const at = (this.#head + this.#length - 1) & (this.#items.length - 1);
    const item = this.#items[at];
    this.#items[at] = undefined;
    this.#length--;
    this.#count(-(item!.length + ITEM_OVERHEAD));
    return item;
  }

  #grow(): void {
    const items: (string | undefined)[] = new Array(this.#items.length * 2);
    for (let i = 0; i < this.#length; i++) items[i] = this.at(i);
    this.#items = items;
    this.#head = 0;
  }
}
