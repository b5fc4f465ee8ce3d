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
  // A ring: the head's prevLink is the tail. Only `#head` lives in the list itself: a list
  // lives long and its nodes (the operations waiting) are new, and V8 takes the slow path
  // of its write barrier for every new object stored into an old one. A head and a tail
  // took two per wait; this takes one.
  #head: T | null = null;
  size = 0;

  push(node: T): void {
    node.inList = this as unknown as WaitList<Link>;
    const head = this.#head;
    if (head === null) {
      node.prevLink = node.nextLink = node;
      this.#head = node;
    } else {
      const tail = head.prevLink!;
      node.prevLink = tail;
      node.nextLink = head;
      tail.nextLink = node;
      head.prevLink = node;
    }
    this.size++;
  }

  /** The first node, left in. */
  get first(): T | null {
    return this.#head;
  }

  shift(): T | null {
    const node = this.#head;
    if (node !== null) this.remove(node);
    return node;
  }

  /** Takes `node` out if it is in this list; says whether it was. */
  remove(node: T): boolean {
    if (node.inList !== (this as unknown as WaitList<Link>)) return false;
    if (--this.size === 0) this.#head = null;
    else {
      const prev = node.prevLink!;
      const next = node.nextLink!;
      prev.nextLink = next;
      next.prevLink = prev;
      if (this.#head === node) this.#head = next as T;
    }
    node.prevLink = node.nextLink = null;
    node.inList = null;
    return true;
  }
}
