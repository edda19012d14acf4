// Paged listings for control (smtpctl show queue / show messages walk them page by page, as
// OpenSMTPD's IMSG_CTL_LIST_*): the `limit` smallest ids strictly after a cursor, in order.
// One pass over the ids with a bounded max-heap: O(n log limit), no sort of the whole queue.

/** The up to `limit` smallest distinct ids greater than `after`, ascending. */
export function smallestAfter(ids: Iterable<string>, after: string, limit: number): string[] {
  const k = Math.max(0, Math.floor(limit));
  if (k === 0) return [];
  const heap: string[] = []; // max-heap of the k smallest so far
  const inHeap = new Set<string>();
  for (const id of ids) {
    if (id <= after || inHeap.has(id)) continue;
    if (heap.length < k) {
      heap.push(id);
      inHeap.add(id);
      siftUp(heap, heap.length - 1);
    } else if (id < (heap[0] as string)) {
      inHeap.delete(heap[0] as string);
      heap[0] = id;
      inHeap.add(id);
      siftDown(heap, 0);
    }
  }
  return heap.sort();
}

function siftUp(h: string[], i: number): void {
  const v = h[i] as string;
  while (i > 0) {
    const p = (i - 1) >> 1;
    if ((h[p] as string) >= v) break;
    h[i] = h[p] as string;
    i = p;
  }
  h[i] = v;
}

function siftDown(h: string[], i: number): void {
  const n = h.length;
  const v = h[i] as string;
  for (;;) {
    const l = 2 * i + 1;
    if (l >= n) break;
    const c = l + 1 < n && (h[l + 1] as string) > (h[l] as string) ? l + 1 : l;
    if ((h[c] as string) <= v) break;
    h[i] = h[c] as string;
    i = c;
  }
  h[i] = v;
}
