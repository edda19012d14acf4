// The queue's delivery side: load dispatched envelopes and hand them to mda/mta (bounce
// envelopes to the BounceBuilder), serve bodies, and settle outcomes in group-committed
// transactions before telling the scheduler. Settling stores, in the same transaction, the
// bounce envelope a failure, expiry, delay or requested success report needs (bounce/reports.ts).
import { ownArrayBuffer, transfer } from '@tsmtpd/actor';
import { fail, ok, toErrorLine } from '@tsmtpd/proto';
import type { DeliveryResult, DispatchItem, Envelope, OutcomeReport, Result, ScheduleEntry } from '@tsmtpd/proto';
import { ioMessage, type QueueShared } from './context.js';
import { scheduleEntry } from './intake.js';
import { BounceBuilder } from './bounce/builder.js';
import { bounceEnvelope, delayWarningDue, reportFor, reportKind, type Attempt, type NoReport } from './bounce/reports.js';

/** About this much body per bodyRead answer. */
export const BODY_PAGE_BYTES = 1 << 20;

type SettleStatus = Attempt['status'] | 'hold';

interface Settle extends Omit<Attempt, 'status'> {
  evpid: string;
  status: SettleStatus;
  holdq?: string;
  /** The delivery agent logged this attempt already (one `delivery` line per attempt). */
  agentLogged?: boolean;
}

const RESULT_WORD: Record<SettleStatus, string> = { ok: 'Ok', tempfail: 'TempFail', permfail: 'PermFail', loop: 'Loop', expired: 'Expired', hold: 'Hold' };

interface LogRecord {
  evpid: string;
  agentLogged: boolean;
  env: Envelope | null;
  status: SettleStatus;
  errorline: string;
  bounce?: Envelope;
  noReport?: NoReport;
}

export class Outbound {
  readonly bounces: BounceBuilder;
  /**
   * Envelopes handed to mda/mta, as loaded at dispatch: their outcome is settled from this copy
   * instead of a second read and parse (nothing else writes an envelope while it is in flight).
   * Bounded by the scheduler's in-flight limit.
   */
  private readonly inflight = new Map<string, Envelope>();
  /** In-flight envelopes smtpctl removed: deleted when their attempt comes back (unless delivered). */
  private readonly removeOnReturn = new Set<string>();

  /** Called for each delivered envelope (metrics: delivery delay). */
  delivered: ((env: Envelope | null) => void) | null = null;

  constructor(private readonly q: QueueShared, bounceWindowMs?: number) {
    this.bounces = new BounceBuilder(
      q,
      () => q.peers.lka(),
      (evpids, status, errorline) => void this.settle(evpids.map((evpid) => ({ evpid, status, errorline: toErrorLine(errorline) }))),
      bounceWindowMs,
    );
  }

  dispatch(items: DispatchItem[]): void {
    const byType: Record<'mda' | 'mta', Envelope[]> = { mda: [], mta: [] };
    const gone: OutcomeReport[] = [];
    for (const item of items) {
      let env: Envelope | null;
      try {
        env = this.q.backend.envelopeLoad(item.evpid);
      } catch (e) {
        // A storage outage (a shared queue's server gone) is not damage: the backend hands the
        // envelope out again once it is back (lease.ts).
        if ((e as { code?: unknown }).code !== 'ERR_QUEUE_IO') this.q.counters.corrupt++;
        this.q.log.warn('envelope unreadable', { evpid: item.evpid, error: ioMessage(e) });
        env = null;
      }
      if (!env) gone.push({ evpid: item.evpid, outcome: 'removed' });
      else if (env.type === 'bounce') this.bounces.add(env);
      else {
        byType[env.type].push(env);
        this.inflight.set(env.id, env);
      }
    }
    this.q.counters.dispatched += byType.mda.length + byType.mta.length;
    this.handOver('mda', byType.mda);
    this.handOver('mta', byType.mta);
    if (gone.length > 0) void this.q.peers.scheduler().onOutcomes(gone);
  }

  /** Control: mark an in-flight envelope for removal; false when it is not in flight. */
  markRemoval(evpid: string): boolean {
    if (!this.inflight.has(evpid)) return false;
    this.removeOnReturn.add(evpid);
    return true;
  }

  results(results: DeliveryResult[]): Promise<void> {
    // A hold is not an attempt and changes nothing stored: it goes to the scheduler at once, so
    // it keeps its order with the mta's later onHoldRelease (which does not wait for a commit).
    const holds = results.filter((r) => r.status === 'hold');
    if (holds.length > 0) {
      this.q.counters.hold += holds.length;
      void this.q.peers.scheduler().onOutcomes(holds.map((r) => ({
        evpid: r.evpid, outcome: 'hold', ...(r.holdq !== undefined ? { holdq: toErrorLine(r.holdq, 512) } : {}),
      })));
      for (const r of holds) this.inflight.delete(r.evpid);
      results = results.filter((r) => r.status !== 'hold');
      if (results.length === 0) return Promise.resolve();
    }
    return this.settle(results.map((r) => ({
      agentLogged: true,
      evpid: r.evpid,
      status: r.status,
      errorline: toErrorLine(r.errorline),
      ...(r.remote !== undefined ? { remote: r.remote } : {}),
      ...(r.remoteMta !== undefined ? { remoteMta: toErrorLine(r.remoteMta, 255) } : {}),
      ...(r.relayed !== undefined ? { relayed: r.relayed } : {}),
      ...(r.holdq !== undefined ? { holdq: toErrorLine(r.holdq, 512) } : {}),
    })));
  }

  expire(evpids: string[]): Promise<void> {
    return this.settle(evpids.map((evpid) => ({ evpid, status: 'expired', errorline: '5.4.7 Envelope expired' })));
  }

  bodyRead(msgid: string, from: number): Result<{ chunks: ArrayBuffer[]; next: number | null }> {
    if (!Number.isInteger(from) || from < 0) return fail('ERR_QUEUE_BAD_REQUEST', 'internal', `bad chunk index ${from}`);
    let page;
    try {
      page = this.q.backend.bodyRead(msgid, from, BODY_PAGE_BYTES);
    } catch (e) {
      return fail('ERR_QUEUE_IO', 'temp', ioMessage(e));
    }
    if (!page) return fail('ERR_QUEUE_UNKNOWN_MSGID', 'perm', `no committed message ${msgid}`);
    const chunks = page.chunks.map(ownArrayBuffer);
    const value = ok({ chunks, next: page.next });
    return chunks.length > 0 ? transfer(value, chunks) : value;
  }

  private handOver(kind: 'mda' | 'mta', envs: Envelope[]): void {
    if (envs.length === 0) return;
    const fallback = (why: string): void => {
      this.q.log.warn('dispatch failed', { to: kind, count: envs.length, error: why });
      void this.settle(envs.map((e) => ({ evpid: e.id, status: 'tempfail', errorline: `4.3.0 ${kind} unavailable` })));
    };
    // One-way: a peer that dies with these in hand takes the daemon down (fail fast), and the
    // next start dispatches them again from the store.
    const mda = kind === 'mda' ? this.q.peers.mda() : null;
    const mta = kind === 'mta' ? this.q.peers.mta() : null;
    if (!mda && !mta) return fallback('not connected');
    const bodies = this.keptBodies(envs);
    if (mda) mda.onDeliver(envs, bodies);
    else mta?.onRelay(envs, bodies);
  }

  /**
   * The bodies still in memory (committed, small: recent.ts) of these envelopes' messages, to
   * travel along, moved rather than copied, so the mda or mta skips a bodyRead round trip per
   * message. Undefined when there are none.
   */
  private keptBodies(envs: Envelope[]): Record<string, ArrayBuffer[]> | undefined {
    const bodies: Record<string, ArrayBuffer[]> = Object.create(null) as Record<string, ArrayBuffer[]>;
    const moved: ArrayBuffer[] = [];
    for (const env of envs) {
      if (env.msgid in bodies) continue;
      const kept = this.q.backend.bodyKept?.(env.msgid);
      if (!kept) continue;
      const chunks = kept.map(ownArrayBuffer); // theirs to move: copied only where a buffer is shared
      bodies[env.msgid] = chunks;
      moved.push(...chunks);
    }
    return moved.length === 0 ? undefined : transfer(bodies, moved);
  }

  /** Apply outcomes in one group-committed write, log them, then tell the scheduler. */
  private async settle(items: Settle[]): Promise<void> {
    const now = this.q.now();
    const logs: LogRecord[] = [];
    const born: ScheduleEntry[] = [];
    let reports: OutcomeReport[];
    try {
      // A success needs no fsync of its own: if a power loss undid it, the envelope would be
      // tried again (a duplicate at worst, never a loss) and the next durable commit syncs it.
      // Anything else (retry count, last error, a report) is on disk before the scheduler acts.
      const durable = items.some((it) => it.status !== 'ok' && it.status !== 'hold');
      reports = await this.q.gc.submit(
        () => {
          logs.length = 0;
          born.length = 0;
          return items.map((it) => this.apply(it, now, logs, born));
        },
        { durable },
      );
    } catch (e) {
      if (this.q.deferOnOutage?.(e, () => void this.settle(items))) return;
      // Nothing changed on disk: the envelopes stay, the scheduler tries them again later.
      this.q.log.warn('outcome update failed', { count: items.length, error: ioMessage(e) });
      reports = items.map((it) => ({ evpid: it.evpid, outcome: 'tempfail' }));
      logs.length = 0;
      born.length = 0;
    }
    for (const r of logs) this.logOutcome(r, now);
    if (reports.length > 0) void this.q.peers.scheduler().onOutcomes(reports);
    if (born.length > 0) void this.q.peers.scheduler().onEnvelopesLoad(born);
  }

  /** One outcome, inside the group transaction. */
  private apply(it: Settle, now: number, logs: LogRecord[], born: ScheduleEntry[]): OutcomeReport {
    if (it.status === 'hold') {
      this.q.counters.hold++;
      return { evpid: it.evpid, outcome: 'hold', ...(it.holdq !== undefined ? { holdq: it.holdq } : {}) };
    }
    let env: Envelope | null = this.inflight.get(it.evpid) ?? null;
    this.inflight.delete(it.evpid);
    if (it.status === 'ok') this.delivered?.(env);
    try {
      env ??= this.q.backend.envelopeLoad(it.evpid);
    } catch {
      this.q.counters.corrupt++;
    }
    const log: LogRecord = { evpid: it.evpid, agentLogged: it.agentLogged === true, env, status: it.status, errorline: it.errorline };
    logs.push(log);
    if (!env) {
      // An unreadable envelope cannot be retried or reported: it leaves the schedule.
      return { evpid: it.evpid, outcome: it.status === 'tempfail' ? 'removed' : it.status };
    }
    if (this.removeOnReturn.delete(it.evpid) && it.status !== 'ok') {
      // smtpctl removed it while in flight: no retry, no report.
      const del = this.q.backend.envelopeDelete(it.evpid);
      if (del.deleted) this.q.counters.envelopes--;
      if (del.messageDeleted) this.q.counters.messages--;
      this.q.counters.removed++;
      return { evpid: it.evpid, outcome: 'removed' };
    }
    const attempt: Attempt = { ...it, status: it.status };
    if (it.status === 'tempfail') {
      const updated: Envelope = { ...env, retry: env.retry + 1, lastTry: now, errorline: it.errorline };
      if (delayWarningDue(env, now, this.q.warnIntervals)) {
        log.bounce = this.addBounce(env, reportFor(env, 'delayed', attempt, now), now, born);
        updated.lastBounce = now;
      }
      this.q.backend.envelopeUpdate(updated);
      return { evpid: it.evpid, outcome: 'tempfail', retry: updated.retry, lastTry: now };
    }
    const { kind, why } = reportKind(env, attempt);
    if (kind) log.bounce = this.addBounce(env, reportFor(env, kind, attempt, now), now, born);
    else if (why) log.noReport = why;
    const del = this.q.backend.envelopeDelete(it.evpid);
    if (del.deleted) this.q.counters.envelopes--;
    if (del.messageDeleted) this.q.counters.messages--;
    return { evpid: it.evpid, outcome: it.status };
  }

  /** Store a bounce envelope under `env`'s message (before `env` may be deleted). */
  private addBounce(env: Envelope, report: NonNullable<Envelope['report']>, now: number, born: ScheduleEntry[]): Envelope {
    const b = bounceEnvelope(env, report, now, (id) => this.q.backend.envelopeLoad(id) !== null);
    this.q.backend.envelopeAdd(b);
    this.q.counters.envelopes++;
    born.push(scheduleEntry(b));
    return b;
  }

  private logOutcome(r: LogRecord, now: number): void {
    const c = this.q.counters;
    if (r.status !== 'hold') c[r.status]++;
    const e = r.env;
    if (!r.agentLogged) this.q.log.info('delivery', {
      evpid: r.evpid,
      from: e ? `<${e.sender}>` : undefined,
      to: e ? `<${e.dest}>` : undefined,
      rcpt: e ? `<${e.rcpt}>` : undefined,
      delay: e ? `${Math.max(0, now - e.ctime)}s` : undefined,
      result: RESULT_WORD[r.status],
      stat: r.errorline,
    });
    if (r.bounce) {
      this.q.log.info('bounce scheduled', { evpid: r.evpid, bounce: r.bounce.id, kind: r.bounce.report?.kind, status: r.bounce.report?.status });
    } else if (r.noReport) {
      c.bounceSkipped++;
      if (r.noReport === 'double-bounce') this.q.log.warn('bounce failed, not reported', { evpid: r.evpid, result: RESULT_WORD[r.status], stat: r.errorline });
      else this.q.log.info('no bounce', { evpid: r.evpid, reason: r.noReport });
    }
  }
}
