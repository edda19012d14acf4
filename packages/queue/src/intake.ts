// Message intake (smtp's side of the queue): reserve msgids for smtp's stock ahead of its MAIL
// FROMs, open a message on the first call naming a reserved id, write body chunks as they
// arrive, commit the envelopes smtp sends with the commit (group commit, then answer) and roll
// back. A small message costs smtp one round trip (messageCommit). The scheduler hears of a
// message only once it is durable: its envelopes and its commit in one notification.
import type { Logger, Remote } from '@tsmtpd/actor';
import { MSGID_RESERVE_MAX, fail, newMsgid, ok, type Envelope, type MessageCommitted, type Result, type ScheduleEntry, type SchedulerMailbox } from '@tsmtpd/proto';
import { TickBatcher } from './group-commit.js';
import { ioMessage, type QueueShared } from './context.js';

interface OpenMessage {
  msgid: string;
  ctime: number;
  nchunks: number;
  size: number;
  committing: boolean;
  /** Last call for this message, epoch seconds (the idle sweep drops abandoned ones). */
  touched: number;
  /** Set when a chunk write failed: the message cannot commit. */
  failed: string | null;
  failedCode?: 'ERR_QUEUE_FULL' | 'ERR_QUEUE_IO';
}

const MSGID_ATTEMPTS = 100;

/**
 * A failed write as a temporary failure; a full disk (SQLite's SQLITE_FULL, ENOSPC beneath it)
 * gets its own code, so that smtp answers 452 4.3.1 instead of 451 4.3.0.
 */
function writeFailure(e: unknown): { code: 'ERR_QUEUE_FULL' | 'ERR_QUEUE_IO'; message: string } {
  const code = (e as { code?: unknown } | null)?.code;
  return { code: code === 'SQLITE_FULL' || code === 'ENOSPC' ? 'ERR_QUEUE_FULL' : 'ERR_QUEUE_IO', message: ioMessage(e) };
}

/**
 * Why these envelopes cannot be the message's (one of another message, or a duplicate), else
 * null. No schema parse: smtp built each envelope from its own parse of the client's input
 * (transaction.ts runs EnvelopeSchema on it), and a thread of this process is no trust
 * boundary. Only what ties the envelope to this message is checked.
 */
function foreignEnvelope(msgid: string, envelopes: Envelope[]): string | null {
  const seen = new Set<string>();
  for (const e of envelopes) {
    const id: unknown = e?.id;
    if (typeof id !== 'string' || e.msgid !== msgid || !id.startsWith(msgid) || seen.has(id)) {
      return `envelope ${String(id)} does not belong to ${msgid} or is a duplicate`;
    }
    seen.add(id);
  }
  return null;
}

export function scheduleEntry(e: Envelope): ScheduleEntry {
  return { evpid: e.id, type: e.type, ctime: e.ctime, ttl: e.ttl, retry: e.retry, lastTry: e.lastTry };
}

/** A durable message, for the scheduler. */
export interface CommitNotice {
  msgid: string;
  entries: ScheduleEntry[];
}

/**
 * The commits of one event-loop turn as one notification to the scheduler: the envelopes and
 * the commit of their messages (onMessagesCommit). Should the scheduler not take it (dead), it
 * gets them at the next start; failing the commits now would duplicate the messages.
 */
export function commitBatcher(scheduler: () => Remote<SchedulerMailbox>, log?: Logger): TickBatcher<CommitNotice> {
  return new TickBatcher<CommitNotice>(
    (items) => scheduler().onMessagesCommit(items.flatMap((i) => i.entries), items.map((i) => i.msgid)),
    (e, items) => log?.warn('scheduler did not take the commits', { msgids: items.map((i) => i.msgid).join(','), error: ioMessage(e) }),
  );
}

export class Intake {
  private readonly open = new Map<string, OpenMessage>();
  /** Msgids handed to smtp and not yet named by any call, with the time of reservation (s). */
  private readonly reserved = new Map<string, number>();

  constructor(private readonly q: QueueShared) {}

  get openCount(): number {
    return this.open.size;
  }

  get reservedCount(): number {
    return this.reserved.size;
  }

  /** Up to `n` fresh msgids for smtp's stock; each is unique against open, reserved and stored ones. */
  msgidsReserve(n: number): Result<string[]> {
    const want = Number.isInteger(n) ? Math.min(Math.max(n, 1), MSGID_RESERVE_MAX) : 1;
    const out: string[] = [];
    const now = this.q.now();
    while (out.length < want) {
      const r = this.freshMsgid();
      if (!r.ok) {
        if (out.length > 0) break;
        return r;
      }
      this.reserved.set(r.value, now);
      out.push(r.value);
    }
    return ok(out);
  }

  private freshMsgid(): Result<string> {
    for (let i = 0; i < MSGID_ATTEMPTS; i++) {
      const msgid = newMsgid();
      if (this.open.has(msgid) || this.reserved.has(msgid)) continue;
      try {
        if (this.q.backend.messageExists(msgid)) continue;
      } catch (e) {
        return fail('ERR_QUEUE_IO', 'temp', ioMessage(e));
      }
      return ok(msgid);
    }
    return fail('ERR_QUEUE_MSGID', 'temp', 'no free message id');
  }

  async bodyAppend(msgid: string, chunk: ArrayBuffer): Promise<Result<void>> {
    const found = this.openMessage(msgid);
    if (!found.ok) return found;
    const m = found.value;
    if (m.failed !== null) return fail(m.failedCode ?? 'ERR_QUEUE_IO', 'temp', m.failed);
    if (chunk.byteLength === 0) return ok(undefined);
    const seq = m.nchunks++;
    m.size += chunk.byteLength;
    const data = new Uint8Array(chunk);
    try {
      // Not durable on its own: the message's commit (durable) fsyncs the WAL and with it this chunk.
      await this.q.gc.submit(() => this.q.backend.chunkAppend(msgid, seq, m.ctime, data), { durable: false });
      this.q.counters.chunks++;
      return ok(undefined);
    } catch (e) {
      const w = writeFailure(e);
      m.failed = w.message;
      m.failedCode = w.code;
      return fail(w.code, 'temp', m.failed);
    }
  }

  async messageCommit(msgid: string, envelopes: Envelope[], tail?: ArrayBuffer | null): Promise<Result<MessageCommitted>> {
    const found = this.openMessage(msgid);
    if (!found.ok) return found;
    const m = found.value;
    if (m.failed !== null) return this.abandon(m, m.failed, m.failedCode);
    if (!Array.isArray(envelopes) || envelopes.length === 0) return fail('ERR_QUEUE_NO_ENVELOPE', 'internal', `message ${msgid} has no envelope`);
    const refused = foreignEnvelope(msgid, envelopes);
    if (refused !== null) return this.abandon(m, refused, 'ERR_QUEUE_BAD_ENVELOPE');
    m.committing = true;
    const last = tail && tail.byteLength > 0 ? new Uint8Array(tail) : null;
    const seq = m.nchunks;
    try {
      await this.q.gc.submit(() => {
        if (last) this.q.backend.chunkAppend(msgid, seq, m.ctime, last);
        this.q.backend.messageCommit(msgid, m.ctime, m.size + (last?.byteLength ?? 0), seq + (last ? 1 : 0), envelopes);
      });
      if (last) {
        m.nchunks++;
        m.size += last.byteLength;
        this.q.counters.chunks++;
      }
    } catch (e) {
      const w = writeFailure(e);
      return this.abandon(m, w.message, w.code);
    }
    this.open.delete(msgid);
    const c = this.q.counters;
    c.committed++;
    c.messages++;
    c.envelopes += envelopes.length;
    this.q.log.info('message committed', { msgid, size: m.size, nrcpt: envelopes.length });
    // Durable now: answer at once; the scheduler hears of it by a notification (commitBatcher).
    this.q.commits.add({ msgid, entries: envelopes.map(scheduleEntry) });
    return ok({ msgid, size: m.size });
  }

  /**
   * Drop open messages untouched for `maxIdle` seconds: their session is gone without a
   * rollback (a crashed smtp worker), and they would hold memory and chunk rows. Reservations
   * older than that are forgotten too (that worker's stock of msgids).
   */
  sweep(maxIdle: number): number {
    const limit = this.q.now() - maxIdle;
    let n = 0;
    let stale = 0;
    for (const [msgid, at] of this.reserved) {
      if (at > limit) continue;
      this.reserved.delete(msgid);
      stale++;
    }
    if (stale > 0) this.q.log.info('reserved msgids forgotten unused', { count: stale });
    for (const m of [...this.open.values()]) {
      if (m.committing || m.touched > limit) continue;
      this.q.log.warn('open message abandoned', { msgid: m.msgid, idle: `${this.q.now() - m.touched}s` });
      this.drop(m);
      n++;
    }
    return n;
  }

  messageRollback(msgid: string): void {
    if (this.reserved.delete(msgid)) return;
    const m = this.open.get(msgid);
    if (!m || m.committing) return;
    this.drop(m);
  }

  /** A commit that cannot happen: drop the message everywhere and fail temporarily. */
  private abandon(m: OpenMessage, reason: string, code: 'ERR_QUEUE_FULL' | 'ERR_QUEUE_IO' | 'ERR_QUEUE_BAD_ENVELOPE' = 'ERR_QUEUE_IO'): Result<never> {
    this.q.log.warn('message commit failed', { msgid: m.msgid, code, error: reason });
    this.drop(m);
    return fail(code, 'temp', reason);
  }

  private drop(m: OpenMessage): void {
    this.open.delete(m.msgid);
    this.q.counters.rolledBack++;
    if (m.nchunks > 0 || m.committing) {
      this.q.gc.submit(() => this.q.backend.messageDelete(m.msgid)).catch((e: unknown) => {
        this.q.log.warn('rollback failed', { msgid: m.msgid, error: ioMessage(e) });
      });
    }
  }

  /** The open message `msgid`, opened now if this is the first call naming a reserved id. */
  private openMessage(msgid: string): Result<OpenMessage> {
    let m = this.open.get(msgid);
    if (!m && this.reserved.delete(msgid)) {
      const now = this.q.now();
      m = { msgid, ctime: now, nchunks: 0, size: 0, committing: false, touched: now, failed: null };
      this.open.set(msgid, m);
    }
    if (!m) return fail('ERR_QUEUE_UNKNOWN_MSGID', 'internal', `no open message ${msgid}`);
    if (m.committing) return fail('ERR_QUEUE_STATE', 'internal', `message ${msgid} is committing`);
    m.touched = this.q.now();
    return ok(m);
  }
}
