// Hold queues (REFERENCE 5.6): envelopes an agent (the mta, per relay) sent back as `hold`
// because it already has enough work for that destination. They wait, neither in flight nor in
// the run queue, until the agent releases some (onHoldRelease, oldest first). So that a release
// that never comes cannot strand them, each held record also has a deadline in a heap of its own:
// min(held at + HOLD_MAX_S, expiry). At the deadline the backend puts it back in the run queue,
// where it is dispatched again (the agent may hold it again) or, past its expiry, expired.
import { MinHeap } from './heap.js';
import { HELD, type EvpRec, type HoldQueue } from './records.js';

/** Envelopes one hold queue keeps at most (OpenSMTPD's HOLDQ_MAXSIZE); beyond: overflow. */
export const HOLDQ_MAX = 1000;
/** Longest time an envelope stays held without a release before it is dispatched again. */
export const HOLD_MAX_S = 300;

export class HoldQueues {
  private readonly queues = new Map<string, HoldQueue>();
  private readonly deadlines = new MinHeap<EvpRec>();

  /** Envelopes held, over all queues. */
  get held(): number {
    return this.deadlines.size;
  }

  /** Hold queues that have envelopes. */
  get count(): number {
    return this.queues.size;
  }

  /** The earliest deadline, or null when nothing is held. */
  nextDeadline(): number | null {
    return this.deadlines.peek()?.at ?? null;
  }

  /**
   * Park `rec` (already out of the run queue and not in flight) in the queue `key`, with its
   * deadline. False, and nothing changed, when that queue is full.
   */
  park(rec: EvpRec, key: string, now: number): boolean {
    let hq = this.queues.get(key);
    if (hq && hq.recs.size >= HOLDQ_MAX) return false;
    if (!hq) {
      hq = { key, recs: new Set() };
      this.queues.set(key, hq);
    }
    hq.recs.add(rec);
    rec.holdq = hq;
    rec.state = HELD;
    rec.at = Math.min(now + HOLD_MAX_S, rec.expiry);
    this.deadlines.push(rec);
    return true;
  }

  /** Take a held record out of its queue and the deadlines; the caller gives it a new state. */
  unpark(rec: EvpRec): void {
    const hq = rec.holdq;
    if (!hq) return;
    hq.recs.delete(rec);
    if (hq.recs.size === 0) this.queues.delete(hq.key);
    rec.holdq = null;
    this.deadlines.remove(rec);
  }

  /** Unpark and return up to `n` records of queue `key`, oldest first. */
  release(key: string, n: number): EvpRec[] {
    const hq = this.queues.get(key);
    const out: EvpRec[] = [];
    if (!hq) return out;
    for (const rec of hq.recs) {
      if (out.length >= n) break;
      out.push(rec);
    }
    for (const rec of out) this.unpark(rec);
    return out;
  }

  /** Unpark and return every record whose deadline is at or before `now`. */
  timedOut(now: number): EvpRec[] {
    const out: EvpRec[] = [];
    for (let top = this.deadlines.peek(); top && top.at <= now; top = this.deadlines.peek()) {
      this.unpark(top);
      out.push(top);
    }
    return out;
  }

  /** Size of one hold queue (tests, stats). */
  size(key: string): number {
    return this.queues.get(key)?.recs.size ?? 0;
  }
}
