// RamSchedulerBackend: every envelope's schedule in memory, as OpenSMTPD's ramqueue (REFERENCE 5):
// per-message changesets, a run queue ordered by due time (intrusive binary heap), in-flight and
// suspended records. Records hold numbers and the evpid string only (target < 300 bytes each).
import type { DispatchItem, OutcomeReport, ScheduleEntry } from '@tsmtpd/proto';
import { evpidMsgid } from '@tsmtpd/proto';
import type { DueWork, SchedulerBackend } from './backend.js';
import { MinHeap } from './heap.js';
import { RETRY_BASE, nextAttempt, typeCode, typeName } from './backoff.js';

const INCOMING = 0;
const PENDING = 1;
const INFLIGHT = 2;
const SUSPENDED = 3;

/** One envelope's schedule. A class so every record shares one hidden class. */
class EvpRec {
  /** Due time: min(next attempt, expiry), integer seconds. */
  at = 0;
  heapIdx = -1;
  constructor(
    readonly evpid: string,
    readonly type: number,
    readonly ctime: number,
    readonly expiry: number,
    public retry: number,
    public state: number,
  ) {}
}

export interface RamSchedulerOptions {
  /** Clock in epoch seconds (fractional allowed); default the real one. Tests inject a fake. */
  now?: () => number;
}

export class RamSchedulerBackend implements SchedulerBackend {
  private readonly recs = new Map<string, EvpRec>();
  private readonly changesets = new Map<string, EvpRec[]>();
  private readonly runq = new MinHeap<EvpRec>();
  private nInflight = 0;
  private nSuspended = 0;
  private readonly counters = {
    ok: 0, permfail: 0, tempfail: 0, loop: 0, expired: 0, removed: 0, updated: 0, dispatched: 0, hold: 0,
  };
  readonly now: () => number;

  constructor(opts: RamSchedulerOptions = {}) {
    this.now = opts.now ?? (() => Date.now() / 1000);
  }

  get inflight(): number {
    return this.nInflight;
  }

  insert(entries: ScheduleEntry[]): number {
    let n = 0;
    for (const e of entries) {
      if (this.recs.has(e.evpid)) continue;
      const rec = this.newRec(e, INCOMING);
      const msgid = evpidMsgid(e.evpid);
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
      if (this.recs.has(e.evpid)) continue;
      const rec = this.newRec(e, PENDING);
      // After a restart, resume the grid after the last attempt: what would have happened anyway.
      const due = e.retry > 0 ? nextAttempt(e.ctime, RETRY_BASE[rec.type] ?? 10, e.retry, e.lastTry) : now;
      this.enqueue(rec, due);
      n++;
    }
    return n;
  }

  outcomes(reports: OutcomeReport[]): void {
    for (const r of reports) {
      const rec = this.recs.get(r.evpid);
      if (!rec || rec.state === INCOMING) continue;
      if (r.outcome === 'tempfail') this.reschedule(rec, r);
      else {
        this.forget(rec);
        this.counters[r.outcome]++;
      }
    }
  }

  takeDue(limit: number): DueWork {
    const now = this.nowSec();
    const dispatch: DispatchItem[] = [];
    const expire: string[] = [];
    while (dispatch.length + expire.length < limit) {
      const top = this.runq.peek();
      if (!top || top.at > now) break;
      this.runq.remove(top);
      top.state = INFLIGHT;
      this.nInflight++;
      if (now >= top.expiry) expire.push(top.evpid);
      else dispatch.push({ evpid: top.evpid, type: typeName(top.type) });
    }
    this.counters.dispatched += dispatch.length;
    return { dispatch, expire };
  }

  nextDue(): number | null {
    return this.runq.peek()?.at ?? null;
  }

  scheduleNow(id: string): number {
    const now = this.nowSec();
    return this.each(id, (rec) => {
      if (rec.state !== PENDING) return false;
      this.runq.remove(rec);
      rec.at = now;
      this.runq.push(rec);
      return true;
    });
  }

  suspend(id: string): number {
    return this.each(id, (rec) => {
      if (rec.state !== PENDING) return false;
      this.runq.remove(rec);
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
      this.runq.push(rec);
      return true;
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
      'scheduler.envelope.updated': c.updated,
      'scheduler.envelope.dispatched': c.dispatched,
      'scheduler.envelope.suspended': this.nSuspended,
      'scheduler.delivery.ok': c.ok,
      'scheduler.delivery.permfail': c.permfail,
      'scheduler.delivery.tempfail': c.tempfail,
      'scheduler.delivery.loop': c.loop,
      'scheduler.ramqueue.envelope': this.runq.size,
      'scheduler.ramqueue.update': this.changesets.size,
    };
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
    this.runq.push(rec);
  }

  private reschedule(rec: EvpRec, r: OutcomeReport): void {
    const now = this.nowSec();
    if (rec.state === INFLIGHT) this.nInflight--;
    else if (rec.state === SUSPENDED) this.nSuspended--;
    this.runq.remove(rec);
    rec.retry = r.retry ?? rec.retry + 1;
    this.counters.tempfail++;
    this.counters.updated++;
    // Past expiry the record comes due at once and the next pass hands it out as expired.
    this.enqueue(rec, nextAttempt(rec.ctime, RETRY_BASE[rec.type] ?? 10, rec.retry, now));
  }

  private forget(rec: EvpRec): void {
    if (rec.state === INFLIGHT) this.nInflight--;
    else if (rec.state === SUSPENDED) this.nSuspended--;
    this.runq.remove(rec);
    this.recs.delete(rec.evpid);
  }

  /** Apply `fn` to one envelope (16 hex) or every committed envelope of a message (8 hex). */
  private each(id: string, fn: (rec: EvpRec) => boolean): number {
    if (id.length === 16) {
      const rec = this.recs.get(id);
      return rec && fn(rec) ? 1 : 0;
    }
    let n = 0;
    for (const rec of this.recs.values()) if (evpidMsgid(rec.evpid) === id && fn(rec)) n++;
    return n;
  }
}
