// The run queue's heap: order under random pushes and removals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MinHeap } from './heap.js';

interface Item { at: number; heapIdx: number; id: number }

test('heap pops in due order, with removals in between', () => {
  const heap = new MinHeap<Item>();
  const items: Item[] = [];
  for (let i = 0; i < 2000; i++) {
    const it = { at: Math.floor(Math.random() * 500), heapIdx: -1, id: i };
    items.push(it);
    heap.push(it);
  }
  const removed = new Set<number>();
  for (let i = 0; i < 2000; i += 3) {
    heap.remove(items[i] as Item);
    removed.add(i);
  }
  heap.remove(items[0] as Item); // already out: a no-op
  assert.equal(heap.size, 2000 - removed.size);
  let last = -1;
  let n = 0;
  for (let it = heap.pop(); it; it = heap.pop()) {
    assert.ok(it.at >= last, `order broken at ${n}`);
    assert.ok(!removed.has(it.id));
    assert.equal(it.heapIdx, -1);
    last = it.at;
    n++;
  }
  assert.equal(n, 2000 - removed.size);
});
