// The queue's delivery side: load dispatched envelopes and hand them to mda/mta, serve bodies,
// and settle outcomes (delete, or update retry/lastTry/errorline) in group-committed
// transactions before telling the scheduler. Bounces are not generated yet (a later issue):
// permanent failures are logged as such and deleted; bounce envelopes are retried.
import { transfer } from '@tsmtpd/actor';
import { fail, ok, toErrorLine } from '@tsmtpd/proto';
import type { DeliveryResult, DeliveryStatus, DispatchItem, Envelope, OutcomeReport, Result } from '@tsmtpd/proto';
import { ownArrayBuffer } from './backend.js';
import { ioMessage, type QueueShared } from './context.js';

/** About this much body per bodyRead answer. */
export const BODY_PAGE_BYTES = 1 << 20;

type SettleStatus = DeliveryStatus | 'expired';

interface Settle {
  evpid: string;
  status: SettleStatus;
  errorline: string;
}

const RESULT_WORD: Record<SettleStatus, string> = { ok: 'Ok', tempfail: 'TempFail', permfail: 'PermFail', loop: 'Loop', expired: 'Expired', hold: 'Hold' };

interface LogRecord {
  evpid: string;
  env: Envelope | null;
  status: SettleStatus;
  errorline: string;
}

export class Outbound {
  constructor(private readonly q: QueueShared) {}

  dispatch(items: DispatchItem[]): void {
    const byType: Record<'mda' | 'mta', Envelope[]> = { mda: [], mta: [] };
    const gone: OutcomeReport[] = [];
    const retry: Settle[] = [];
    for (const item of items) {
      let env: Envelope | null;
      try {
        env = this.q.backend.envelopeLoad(item.evpid);
      } catch (e) {
        this.q.counters.corrupt++;
        this.q.log.warn('envelope unreadable', { evpid: item.evpid, error: ioMessage(e) });
        env = null;
      }
      if (!env) gone.push({ evpid: item.evpid, outcome: 'removed' });
      else if (env.type === 'bounce') retry.push({ evpid: env.id, status: 'tempfail', errorline: '4.3.0 bounce delivery not implemented' });
      else byType[env.type].push(env);
    }
    this.q.counters.dispatched += byType.mda.length + byType.mta.length;
    this.handOver('mda', byType.mda);
    this.handOver('mta', byType.mta);
    if (gone.length > 0) void this.q.peers.scheduler().onOutcomes(gone);
    if (retry.length > 0) void this.settle(retry);
  }

  results(results: DeliveryResult[]): Promise<void> {
    return this.settle(results.map((r) => ({ evpid: r.evpid, status: r.status, errorline: toErrorLine(r.errorline) })));
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
    let sent: Promise<void> | null = null;
    if (kind === 'mda') sent = this.q.peers.mda()?.onDeliver(envs) ?? null;
    else sent = this.q.peers.mta()?.onRelay(envs) ?? null;
    if (!sent) return fallback('not connected');
    sent.catch((e: unknown) => fallback(ioMessage(e)));
  }

  /** Apply outcomes in one group-committed write, log them, then tell the scheduler. */
  private async settle(items: Settle[]): Promise<void> {
    const now = this.q.now();
    const logs: LogRecord[] = [];
    let reports: OutcomeReport[];
    try {
      // Outcomes need no fsync of their own: if a power loss undid one, the envelope would be
      // tried again (a duplicate at worst, never a loss); the next durable commit syncs them.
      reports = await this.q.gc.submit(
        () => {
          logs.length = 0;
          return items.map((it) => this.apply(it, now, logs));
        },
        { durable: false },
      );
    } catch (e) {
      // Nothing changed on disk: the envelopes stay, the scheduler tries them again later.
      this.q.log.warn('outcome update failed', { count: items.length, error: ioMessage(e) });
      reports = items.map((it) => ({ evpid: it.evpid, outcome: 'tempfail' }));
      logs.length = 0;
    }
    for (const r of logs) this.logOutcome(r, now);
    if (reports.length > 0) void this.q.peers.scheduler().onOutcomes(reports);
  }

  /** One outcome, inside the group transaction. */
  private apply(it: Settle, now: number, logs: LogRecord[]): OutcomeReport {
    let env: Envelope | null = null;
    try {
      env = this.q.backend.envelopeLoad(it.evpid);
    } catch {
      this.q.counters.corrupt++;
    }
    logs.push({ evpid: it.evpid, env, status: it.status, errorline: it.errorline });
    if (it.status === 'tempfail') {
      if (!env) return { evpid: it.evpid, outcome: 'removed' };
      const updated: Envelope = { ...env, retry: env.retry + 1, lastTry: now, errorline: it.errorline };
      this.q.backend.envelopeUpdate(updated);
      return { evpid: it.evpid, outcome: 'tempfail', retry: updated.retry, lastTry: now };
    }
    const del = this.q.backend.envelopeDelete(it.evpid);
    if (del.deleted) this.q.counters.envelopes--;
    if (del.messageDeleted) this.q.counters.messages--;
    return { evpid: it.evpid, outcome: it.status };
  }

  private logOutcome(r: LogRecord, now: number): void {
    const c = this.q.counters;
    c[r.status]++;
    const e = r.env;
    this.q.log.info('delivery', {
      evpid: r.evpid,
      from: e ? `<${e.sender}>` : undefined,
      to: e ? `<${e.dest}>` : undefined,
      rcpt: e ? `<${e.rcpt}>` : undefined,
      delay: e ? `${Math.max(0, now - e.ctime)}s` : undefined,
      result: RESULT_WORD[r.status],
      stat: r.errorline,
    });
    if (r.status === 'permfail' || r.status === 'loop' || r.status === 'expired') {
      c.bounceSkipped++;
      this.q.log.warn('bounce not implemented', { evpid: r.evpid, sender: e ? `<${e.sender}>` : undefined, reason: r.errorline });
    }
  }
}
