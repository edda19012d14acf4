// Message intake (smtp's side of the queue): allocate msgids, keep the envelopes of open messages,
// write body chunks as they arrive, commit (group commit, then scheduler.messagesCommit, then
// answer) and roll back. The scheduler hears of envelopes through its changeset calls.
import { EnvelopeSchema, fail, newMsgid, ok, type Envelope, type MessageCommitted, type Result, type ScheduleEntry } from '@tsmtpd/proto';
import { ioMessage, type QueueShared } from './context.js';

interface OpenMessage {
  msgid: string;
  ctime: number;
  envelopes: Envelope[];
  evpids: Set<string>;
  nchunks: number;
  size: number;
  committing: boolean;
  /** Last call for this message, epoch seconds (the idle sweep drops abandoned ones). */
  touched: number;
  /** Set when a chunk write failed: the message cannot commit. */
  failed: string | null;
}

const MSGID_ATTEMPTS = 100;

export function scheduleEntry(e: Envelope): ScheduleEntry {
  return { evpid: e.id, type: e.type, ctime: e.ctime, ttl: e.ttl, retry: e.retry, lastTry: e.lastTry };
}

export class Intake {
  private readonly open = new Map<string, OpenMessage>();

  constructor(private readonly q: QueueShared) {}

  get openCount(): number {
    return this.open.size;
  }

  messageCreate(): Result<string> {
    for (let i = 0; i < MSGID_ATTEMPTS; i++) {
      const msgid = newMsgid();
      if (this.open.has(msgid)) continue;
      try {
        if (this.q.backend.messageExists(msgid)) continue;
      } catch (e) {
        return fail('ERR_QUEUE_IO', 'temp', ioMessage(e));
      }
      this.open.set(msgid, {
        msgid, ctime: this.q.now(), envelopes: [], evpids: new Set(), nchunks: 0, size: 0, committing: false, touched: this.q.now(), failed: null,
      });
      return ok(msgid);
    }
    return fail('ERR_QUEUE_MSGID', 'temp', 'no free message id');
  }

  envelopesAdd(msgid: string, envelopes: Envelope[]): Result<void> {
    const m = this.openMessage(msgid);
    if (!m.ok) return m;
    const valid: Envelope[] = [];
    for (const raw of envelopes) {
      const r = EnvelopeSchema.safeParse(raw);
      if (!r.success) return fail('ERR_QUEUE_BAD_ENVELOPE', 'internal', `invalid envelope: ${r.error.issues[0]?.message ?? ''}`);
      const e = r.data;
      if (e.msgid !== msgid || !e.id.startsWith(msgid) || m.value.evpids.has(e.id)) {
        return fail('ERR_QUEUE_BAD_ENVELOPE', 'internal', `envelope ${e.id} does not belong to ${msgid} or is a duplicate`);
      }
      valid.push(e);
    }
    for (const e of valid) {
      m.value.envelopes.push(e);
      m.value.evpids.add(e.id);
    }
    if (valid.length > 0) void this.q.peers.scheduler().onEnvelopesInsert(valid.map(scheduleEntry));
    return ok(undefined);
  }

  async bodyAppend(msgid: string, chunk: ArrayBuffer): Promise<Result<void>> {
    const found = this.openMessage(msgid);
    if (!found.ok) return found;
    const m = found.value;
    if (m.failed !== null) return fail('ERR_QUEUE_IO', 'temp', m.failed);
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
      m.failed = ioMessage(e);
      return fail('ERR_QUEUE_IO', 'temp', m.failed);
    }
  }

  async messageCommit(msgid: string, tail?: ArrayBuffer | null): Promise<Result<MessageCommitted>> {
    const found = this.openMessage(msgid);
    if (!found.ok) return found;
    const m = found.value;
    if (m.failed !== null) return this.abandon(m, m.failed);
    if (m.envelopes.length === 0) return fail('ERR_QUEUE_NO_ENVELOPE', 'internal', `message ${msgid} has no envelope`);
    m.committing = true;
    const last = tail && tail.byteLength > 0 ? new Uint8Array(tail) : null;
    const seq = m.nchunks;
    try {
      await this.q.gc.submit(() => {
        if (last) this.q.backend.chunkAppend(msgid, seq, m.ctime, last);
        this.q.backend.messageCommit(msgid, m.ctime, m.size + (last?.byteLength ?? 0), seq + (last ? 1 : 0), m.envelopes);
      });
      if (last) {
        m.nchunks++;
        m.size += last.byteLength;
        this.q.counters.chunks++;
      }
    } catch (e) {
      return this.abandon(m, ioMessage(e));
    }
    this.open.delete(msgid);
    const c = this.q.counters;
    c.committed++;
    c.messages++;
    c.envelopes += m.envelopes.length;
    this.q.log.info('message committed', { msgid, size: m.size, nrcpt: m.envelopes.length });
    try {
      await this.q.commits.add(msgid);
    } catch (e) {
      // Durable already: the scheduler gets it at the next start. Failing now would duplicate it.
      this.q.log.warn('scheduler did not take the commit', { msgid, error: ioMessage(e) });
    }
    return ok({ msgid, size: m.size });
  }

  /**
   * Drop open messages untouched for `maxIdle` seconds: their session is gone without a
   * rollback (a crashed smtp worker), and they would hold memory, chunk rows and a changeset.
   */
  sweep(maxIdle: number): number {
    const limit = this.q.now() - maxIdle;
    let n = 0;
    for (const m of [...this.open.values()]) {
      if (m.committing || m.touched > limit) continue;
      this.q.log.warn('open message abandoned', { msgid: m.msgid, idle: `${this.q.now() - m.touched}s` });
      this.drop(m);
      n++;
    }
    return n;
  }

  messageRollback(msgid: string): void {
    const m = this.open.get(msgid);
    if (!m || m.committing) return;
    this.drop(m);
  }

  /** A commit that cannot happen: drop the message everywhere and fail temporarily. */
  private abandon(m: OpenMessage, reason: string): Result<never> {
    this.q.log.warn('message commit failed', { msgid: m.msgid, error: reason });
    this.drop(m);
    return fail('ERR_QUEUE_IO', 'temp', reason);
  }

  private drop(m: OpenMessage): void {
    this.open.delete(m.msgid);
    this.q.counters.rolledBack++;
    if (m.nchunks > 0 || m.committing) {
      this.q.gc.submit(() => this.q.backend.messageDelete(m.msgid)).catch((e: unknown) => {
        this.q.log.warn('rollback failed', { msgid: m.msgid, error: ioMessage(e) });
      });
    }
    if (m.envelopes.length > 0) void this.q.peers.scheduler().onMessageRollback(m.msgid);
  }

  private openMessage(msgid: string): Result<OpenMessage> {
    const m = this.open.get(msgid);
    if (!m) return fail('ERR_QUEUE_UNKNOWN_MSGID', 'internal', `no open message ${msgid}`);
    if (m.committing) return fail('ERR_QUEUE_STATE', 'internal', `message ${msgid} is committing`);
    m.touched = this.q.now();
    return ok(m);
  }
}
