// An intrusive binary min-heap ordered by `at` (the due time of a schedule record). Each item
// carries its own index so it can be removed or re-keyed in O(log n): the scheduler's run queue.

export interface HeapItem {
  /** Due time, integer seconds. */
  at: number;
  /** Position in the heap, -1 when not in it. */
  heapIdx: number;
}

export class MinHeap<T extends HeapItem> {
  private readonly items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    item.heapIdx = this.items.length;
    this.items.push(item);
    this.up(item.heapIdx);
  }

  pop(): T | undefined {
    const top = this.items[0];
    if (top !== undefined) this.remove(top);
    return top;
  }

  /** Remove an item that is in this heap; a no-op for one that is not. */
  remove(item: T): void {
    const i = item.heapIdx;
    if (i < 0 || this.items[i] !== item) return;
    const last = this.items.pop() as T;
    item.heapIdx = -1;
    if (last === item) return;
    this.items[i] = last;
    last.heapIdx = i;
    this.up(i);
    this.down(last.heapIdx);
  }

  private up(i: number): void {
    const items = this.items;
    const item = items[i] as T;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = items[p] as T;
      if (parent.at <= item.at) break;
      items[i] = parent;
      parent.heapIdx = i;
      i = p;
    }
    items[i] = item;
    item.heapIdx = i;
  }

  private down(i: number): void {
    const items = this.items;
    const n = items.length;
    const item = items[i] as T;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && (items[r] as T).at < (items[l] as T).at) c = r;
      const child = items[c] as T;
      if (child.at >= item.at) break;
      items[i] = child;
      child.heapIdx = i;
      i = c;
    }
    items[i] = item;
    item.heapIdx = i;
  }
}
