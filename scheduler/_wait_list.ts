// The FIFO of operations waiting on a channel, a lock or an event. It is intrusive (the
// waiting objects carry their own links) so that a waiter killed in the middle of the queue
// leaves it in O(1) with no allocation, and a long-idle queue whose waiters keep timing out
// never grows: a lazily-deleted queue would keep every abandoned entry.

/** What a {@linkcode WaitList} links together. */
export interface Link {
  prevLink: Link | null;
  nextLink: Link | null;
  /** The list the object is in, or null. */
  inList: WaitList<Link> | null;
}

export class WaitList<T extends Link> {
  #head: T | null = null;
  #tail: T | null = null;
  size = 0;

  push(node: T): void {
    node.inList = this as unknown as WaitList<Link>;
    node.prevLink = this.#tail;
    node.nextLink = null;
    if (this.#tail === null) this.#head = node;
    else this.#tail.nextLink = node;
    this.#tail = node;
    this.size++;
  }

  shift(): T | null {
    const node = this.#head;
    if (node !== null) this.remove(node);
    return node;
  }

  /** Takes `node` out if it is in this list; says whether it was. */
  remove(node: T): boolean {
    if (node.inList !== (this as unknown as WaitList<Link>)) return false;
    const prev = node.prevLink as T | null;
    const next = node.nextLink as T | null;
    if (prev === null) this.#head = next;
    else prev.nextLink = next;
    if (next === null) this.#tail = prev;
    else next.prevLink = prev;
    node.prevLink = node.nextLink = null;
    node.inList = null;
    this.size--;
    return true;
  }
}
