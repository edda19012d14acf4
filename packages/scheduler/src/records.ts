// One envelope's schedule record and its states, shared by the RAM backend (ram-backend.ts) and
// the hold queues (hold.ts). A record holds numbers, the evpid string and a hold-queue reference
// only: 170-220 bytes per envelope with the map entry and the heap slot, measured at 1M by
// scripts/queue-scale.mjs (DESIGN 5: < 300).
import type { HeapItem } from './heap.js';

/** In its message's changeset, not schedulable until the commit. */
export const INCOMING = 0;
/** In the run queue, due at `at`. */
export const PENDING = 1;
/** Handed to the queue; its outcome has not come back. */
export const INFLIGHT = 2;
/** Taken out of the run queue by control (smtpctl pause envelope) until resumed. */
export const SUSPENDED = 3;
/** Parked in a hold queue until the agent releases it (REFERENCE 5.6); `at` is its deadline. */
export const HELD = 4;

/** A hold queue: the envelopes one relay sent back, in arrival order (a Set keeps it, O(1) delete). */
export interface HoldQueue {
  readonly key: string;
  readonly recs: Set<EvpRec>;
}

/** A class so every record shares one hidden class. */
export class EvpRec implements HeapItem {
  /** Due time, integer seconds: min(next attempt, expiry); for a held record its hold deadline. */
  at = 0;
  /** Position in the run queue or in the hold deadlines (never both), -1 when in neither. */
  heapIdx = -1;
  /** The hold queue of a HELD record, null otherwise. */
  holdq: HoldQueue | null = null;
  constructor(
    readonly evpid: string,
    readonly type: number,
    readonly ctime: number,
    readonly expiry: number,
    public retry: number,
    public state: number,
  ) {}
}
