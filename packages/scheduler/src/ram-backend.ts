// RamSchedulerBackend: every envelope's schedule in memory, as OpenSMTPD's ramqueue (REFERENCE 5):
// per-message changesets, a run queue ordered by due time (intrusive binary heap), in-flight,
// suspended and held records (hold queues: hold.ts). One compact record per envelope (records.ts).
import type { DispatchItem, OutcomeReport, ScheduleEntry } from '@tsmtpd/proto';
import type { DueWork, EnvelopeState, SchedulerBackend } from './backend.js';
import { MinHeap } from './heap.js';
import { HoldQueues } from './hold.js';
import { smallestAfter } from './listing.js';
import { EvpRec, HELD, INCOMING, INFLIGHT, PENDING, SUSPENDED } from './records.js';
import { OVERFLOW_BASE, RETRY_BASE, nextAttempt, typeCode, typeName } from './backoff.js';

const STATE_NAMES = ['incoming', 'pending', 'inflight', 'suspended', 'held'] as const;

export interface RamSchedulerOptions {
  /** Clock in epoch seconds (fractional allowed); default the real one. Tests inject a fake. */
  now?: () => number;
  /** Retry bases in seconds by type code (mda, mta, bounce); default RETRY_BASE. */
  retryBase?: readonly number[];
}

export class RamSchedulerBackend implements SchedulerBackend {
  private readonly recs = new Map<string, EvpRec>();
  private readonly changesets = new Map<string, EvpRec[]>();
  /** One run queue per envelope type (mda, mta, bounce): a paused agent's queue is skipped whole. */
  private readonly runqs = [new MinHeap<EvpRec>(), new MinHeap<EvpRec>(), new MinHeap<EvpRec>()];
  /** Types whose envelopes are not handed out (smtpctl pause mda|mta), by type code. */
  private readonly pausedTypes = new Set<number>();
  private readonly holds = new HoldQueues();
  private nInflight = 0;
  private nSuspended = 0;
  private readonly counters = {
    ok: 0, permfail: 0, tempfail: 0, loop: 0, expired: 0, removed: 0, updated: 0, dispatched: 0,
    hold: 0, holdOverflow: 0, holdTimeout: 0, released: 0, enqueued: 0,
  };
  readonly now: () => number;

  private readonly retryBase: readonly number[];

  constructor(opts: RamSchedulerOptions = {}) {
    this.now = opts.now ?? (() => Date.now() / 1000);
    this.retryBase = opts.retryBase ?? RETRY_BASE;
  }

  get inflight(): number {
    return this.nInflight;
  }

  insert(entries: ScheduleEntry[]): number {
    let n = 0;
    for (const e of entries) {
      if (this.recs.has(e.evpid)) continue;
      const rec = this.newRec(e, INCOMING);
      const msgid = e.evpid.slice(0, 8);
      const cs = this.changesets.get(msgid);
      if (cs) cs.push(rec);
      else this.changesets.set(msgid, [rec]);
      n++;
    }
    return n;
  }

  commit(msgid: string): number {
    const cs = this.changesets.get(msgid);
    if (!cs) return 0;
    this.changesets.delete(msgid);
    const now = this.nowSec();
    for (const rec of cs) this.enqueue(rec, now);
    this.counters.enqueued += cs.length;
    return cs.length;
  }

  rollback(msgid: string): number {
    const cs = this.changesets.get(msgid);
    if (!cs) return 0;
    this.changesets.delete(msgid);
    for (const rec of cs) this.recs.delete(rec.evpid);
    return cs.length;
  }

  load(entries: ScheduleEntry[]): number {
    const now = this.nowSec();
    let n = 0;
    for (const e of entries) {
      // Known already: a commit or an outcome got here first, and is newer than this copy.
      if (this.recs.has(e.evpid)) continue;
      const rec = this.newRec(e, PENDING);
      // After a restart, resume the grid after the last attempt: what would have happened anyway.
      const due = e.retry > 0 ? nextAttempt(e.ctime, this.retryBase[rec.type] ?? 10, e.retry, e.lastTry) : now;
      this.enqueue(rec, due);
      n++;
    }
    this.counters.enqueued += n;
    return n;
  }

  outcomes(reports: OutcomeReport[]): void {
    for (const r of reports) {
      const rec = this.recs.get(r.evpid);
      if (!rec || rec.state === INCOMING) continue;
      if (r.outcome === 'tempfail') this.reschedule(rec, r);
      else if (r.outcome === 'hold') this.hold(rec, r.holdq);
      else {
        this.forget(rec);
        this.counters[r.outcome]++;
      }
    }
  }

  release(holdq: string, count: number): number {
    if (!(count > 0)) return 0;
    const now = this.nowSec();
    const recs = this.holds.release(holdq, Math.floor(count));
    for (const rec of recs) this.enqueue(rec, now);
    this.counters.released += recs.length;
    return recs.length;
  }

  takeDue(limit: number): DueWork {
    const now = this.nowSec();
    this.holdTimeouts(now);
    const dispatch: DispatchItem[] = [];
    const expire: string[] = [];
    while (dispatch.length + expire.length < limit) {
      const top = this.earliest();
      if (!top || top.at > now) break;
      this.q(top).remove(top);
      top.state = INFLIGHT;
      this.nInflight++;
      if (now >= top.expiry) expire.push(top.evpid);
      else dispatch.push({ evpid: top.evpid, type: typeName(top.type) });
    }
    this.counters.dispatched += dispatch.length;
    return { dispatch, expire };
  }

  nextDue(): number | null {
    const run = this.earliest()?.at ?? null;
    const held = this.holds.nextDeadline();
    if (run === null) return held;
    return held === null ? run : Math.min(run, held);
  }

  scheduleNow(id: string): number {
    const now = this.nowSec();
    return this.each(id, (rec) => {
      if (rec.state === HELD) {
        this.holds.unpark(rec);
        this.enqueue(rec, now);
        return true;
      }
      if (rec.state !== PENDING) return false;
      this.q(rec).remove(rec);
      rec.at = now;
      this.q(rec).push(rec);
      return true;
    });
  }

  suspend(id: string): number {
    const now = this.nowSec();
    return this.each(id, (rec) => {
      if (rec.state === HELD) {
        // It was only waiting for its relay: on resume it is due at once.
        this.holds.unpark(rec);
        rec.at = now;
      } else if (rec.state === PENDING) this.q(rec).remove(rec);
      else return false;
      rec.state = SUSPENDED;
      this.nSuspended++;
      return true;
    });
  }

  resume(id: string): number {
    const now = this.nowSec();
    return this.each(id, (rec) => {
      if (rec.state !== SUSPENDED) return false;
      this.nSuspended--;
      rec.state = PENDING;
      if (rec.at < now) rec.at = now;
      this.q(rec).push(rec);
      return true;
    });
  }

  messages(after: string, limit: number): string[] {
    return smallestAfter(this.committedIds((evpid) => evpid.slice(0, 8)), after, limit);
  }

  envelopes(after: string, limit: number): EnvelopeState[] {
    return smallestAfter(this.committedIds((evpid) => evpid), after, limit).map((evpid) => {
      const rec = this.recs.get(evpid) as EvpRec;
      return { evpid, type: typeName(rec.type), state: STATE_NAMES[rec.state] ?? 'pending', at: rec.at, retry: rec.retry, expiry: rec.expiry };
    });
  }

  stats(): Record<string, number> {
    let incoming = 0;
    for (const cs of this.changesets.values()) incoming += cs.length;
    const c = this.counters;
    return {
      'scheduler.envelope': this.recs.size - incoming,
      'scheduler.envelope.incoming': incoming,
      'scheduler.envelope.inflight': this.nInflight,
      'scheduler.envelope.expired': c.expired,
      'scheduler.envelope.removed': c.removed,
      'scheduler.envelope.enqueued': c.enqueued,
      'scheduler.envelope.updated': c.updated,
      'scheduler.envelope.dispatched': c.dispatched,
      'scheduler.envelope.suspended': this.nSuspended,
      'scheduler.delivery.ok': c.ok,
      'scheduler.delivery.permfail': c.permfail,
      'scheduler.delivery.tempfail': c.tempfail,
      'scheduler.delivery.loop': c.loop,
      'scheduler.delivery.hold': c.hold,
      'scheduler.ramqueue.envelope': this.runqs.reduce((n, h) => n + h.size, 0),
      'scheduler.ramqueue.update': this.changesets.size,
      'scheduler.ramqueue.hold': this.holds.held,
      'scheduler.ramqueue.holdq': this.holds.count,
      'scheduler.ramqueue.hold-overflow': c.holdOverflow,
      'scheduler.ramqueue.hold-timeout': c.holdTimeout,
      'scheduler.ramqueue.hold-released': c.released,
    };
  }

  /** Control: stop (or restart) handing out envelopes of one type. */
  pauseType(type: number, paused: boolean): void {
    if (paused) this.pausedTypes.add(type);
    else this.pausedTypes.delete(type);
  }

  private q(rec: EvpRec): MinHeap<EvpRec> {
    return this.runqs[rec.type]!;
  }

  /** The earliest due record among the run queues of types not paused. */
  private earliest(): EvpRec | undefined {
    let best: EvpRec | undefined;
    this.runqs.forEach((h, type) => {
      if (this.pausedTypes.has(type)) return;
      const top = h.peek();
      if (top && (!best || top.at < best.at)) best = top;
    });
    return best;
  }

  private nowSec(): number {
    return Math.floor(this.now());
  }

  private newRec(e: ScheduleEntry, state: number): EvpRec {
    const rec = new EvpRec(e.evpid, typeCode(e.type), e.ctime, e.ctime + e.ttl, e.retry, state);
    this.recs.set(e.evpid, rec);
    return rec;
  }

  /** Into the run queue, due at `due` or at expiry, whichever comes first. */
  private enqueue(rec: EvpRec, due: number): void {
    rec.state = PENDING;
    rec.at = Math.min(due, rec.expiry);
    this.q(rec).push(rec);
  }

  /** Take a committed record out of wherever it is (run queue, hold queue, counts). */
  private detach(rec: EvpRec): void {
    if (rec.state === INFLIGHT) this.nInflight--;
    else if (rec.state === SUSPENDED) this.nSuspended--;
    else if (rec.state === HELD) this.holds.unpark(rec);
    else if (rec.state === PENDING) this.q(rec).remove(rec);
  }

  private reschedule(rec: EvpRec, r: OutcomeReport): void {
    this.detach(rec);
    rec.retry = r.retry ?? rec.retry + 1;
    this.counters.tempfail++;
    this.counters.updated++;
    // Past expiry the record comes due at once and the next pass hands it out as expired.
    this.enqueue(rec, nextAttempt(rec.ctime, this.retryBase[rec.type] ?? 10, rec.retry, this.nowSec()));
  }

  /** Outcome `hold` (not an attempt: retry unchanged). Only an envelope in flight can be held. */
  private hold(rec: EvpRec, holdq: string | undefined): void {
    if (rec.state !== INFLIGHT) return;
    this.detach(rec);
    const now = this.nowSec();
    if (typeof holdq === 'string' && holdq !== '' && this.holds.park(rec, holdq, now)) {
      this.counters.hold++;
      return;
    }
    // The relay's hold queue is full: try again on the 3 s grid (OpenSMTPD's BACKOFF_OVERFLOW).
    this.counters.holdOverflow++;
    this.enqueue(rec, nextAttempt(rec.ctime, OVERFLOW_BASE, 0, now));
  }

  /** Held records past their deadline go back to the run queue, due at that deadline. */
  private holdTimeouts(now: number): void {
    for (const rec of this.holds.timedOut(now)) {
      this.counters.holdTimeout++;
      this.enqueue(rec, rec.at);
    }
  }

  private forget(rec: EvpRec): void {
    this.detach(rec);
    this.recs.delete(rec.evpid);
  }

  /** Ids (mapped by `key`) of committed records: the listing's input. */
  private *committedIds(key: (evpid: string) => string): Iterable<string> {
    for (const rec of this.recs.values()) if (rec.state !== INCOMING) yield key(rec.evpid);
  }

  /** Apply `fn` to one envelope (16 hex) or every committed envelope of a message (8 hex). */
  private each(id: string, fn: (rec: EvpRec) => boolean): number {
    if (id.length === 16) {
      const rec = this.recs.get(id);
      return rec && rec.state !== INCOMING && fn(rec) ? 1 : 0;
    }
    let n = 0;
    for (const rec of this.recs.values()) if (rec.state !== INCOMING && rec.evpid.startsWith(id) && fn(rec)) n++;
    return n;
  }
}
