// Sending the reports: bounce envelopes (outbound.ts stores them under the original message)
// are grouped per original message and kind for a short window, then become one new message
// from <> to the original sender, routed by lka's ruleset as a local submission. The new
// message's commit deletes the bounce envelopes in the same durable transaction, so a crash
// leaves either the reports to build again or the built message, never both or neither.
import type { Remote } from '@tsmtpd/actor';
import { mdaFields, newEvpid, newMsgid, newSessionId, type Envelope, type LkaMailbox, type OutcomeReport, type ResolvedRecipient, type SessionInfo } from '@tsmtpd/proto';
import { composeDsn, type DsnRecipient } from './compose.js';
import { ioMessage, type QueueShared } from '../context.js';
import { scheduleEntry } from '../intake.js';

/** Reports of one message arriving within this window make one notification (REFERENCE 9: ~1 s). */
export const BOUNCE_GROUP_MS = 1000;
/** The returned header block is cut here (the smtp actor caps headers far below). */
const MAX_RETURNED_HEADERS = 256 * 1024;
const LKA_DEADLINE_MS = 15_000;

/** How a report that cannot be sent now is settled: retried later, or dropped for good. */
export type BounceSettle = (evpids: string[], status: 'tempfail' | 'permfail', errorline: string) => void;

interface Group {
  envs: Envelope[];
  timer: NodeJS.Timeout;
}

/** ORCPT `rfc822;addr` as the address (stored xtext-decoded, as smtp-server gives it), else the RCPT as received. */
function originalRecipient(env: Envelope): string {
  const o = env.dsnOrcpt;
  if (o && o.toLowerCase().startsWith('rfc822;')) return o.slice(7);
  return env.rcpt;
}

function bounceSession(name: string): SessionInfo {
  return {
    id: newSessionId(), socket: true, remoteAddress: 'local', localAddress: 'local', rdns: 'localhost',
    helo: name, authUser: null, tls: false, tag: null, smtpname: name,
  };
}

export class BounceBuilder {
  private readonly groups = new Map<string, Group>();
  private stopped = false;

  constructor(
    private readonly q: QueueShared,
    private readonly lka: () => Remote<LkaMailbox> | null,
    private readonly settle: BounceSettle,
    private readonly windowMs = BOUNCE_GROUP_MS,
  ) {}

  /** A dispatched bounce envelope: joins its message's group, sent when the window closes. */
  add(env: Envelope): void {
    if (this.stopped) return;
    if (!env.report) {
      this.settle([env.id], 'permfail', 'bounce envelope without a report');
      return;
    }
    const key = `${env.msgid}:${env.report.kind}`;
    const g = this.groups.get(key);
    if (g) {
      if (!g.envs.some((e) => e.id === env.id)) g.envs.push(env);
      return;
    }
    const timer = setTimeout(() => {
      this.groups.delete(key);
      void this.send(group.envs);
    }, this.windowMs);
    const group: Group = { envs: [env], timer };
    this.groups.set(key, group);
  }

  /** Drop waiting groups: their envelopes stay stored and are reloaded at the next start. */
  stop(): void {
    this.stopped = true;
    for (const g of this.groups.values()) clearTimeout(g.timer);
    this.groups.clear();
  }

  private async send(envs: Envelope[]): Promise<void> {
    const first = envs[0];
    if (!first?.report) return;
    const ids = envs.map((e) => e.id);
    const route = await this.route(first.sender);
    if (!route.ok) {
      if (route.perm) this.q.log.warn('bounce dropped', { msgid: first.msgid, to: `<${first.sender}>`, reason: route.message });
      this.settle(ids, route.perm ? 'permfail' : 'tempfail', route.message);
      return;
    }
    try {
      const built = await this.q.gc.submit(() => this.store(envs, route.recipients));
      this.q.log.info('bounce', {
        msgid: built.msgid, for: first.msgid, to: `<${first.sender}>`, kind: first.report.kind,
        nrcpt: envs.length, size: built.size,
      });
      this.q.commits.add({ msgid: built.msgid, entries: built.envelopes.map(scheduleEntry) });
      const reports: OutcomeReport[] = ids.map((evpid) => ({ evpid, outcome: 'ok' }));
      void this.q.peers.scheduler().onOutcomes(reports);
    } catch (e) {
      this.q.log.warn('bounce not stored', { msgid: first.msgid, error: ioMessage(e) });
      this.settle(ids, 'tempfail', `4.3.0 bounce not stored: ${ioMessage(e)}`);
    }
  }

  /** The original sender as a recipient of a local submission from <> (the ruleset decides). */
  private async route(sender: string): Promise<{ ok: true; recipients: ResolvedRecipient[] } | { ok: false; perm: boolean; message: string }> {
    const lka = this.lka();
    if (!lka) return { ok: false, perm: false, message: '4.3.0 no lookup agent to route the bounce' };
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), LKA_DEADLINE_MS)));
    try {
      const r = await Promise.race([lka.rcptResolve({ session: bounceSession(this.q.serverName), sender: '', rcpt: sender }), deadline]);
      if (r === null) return { ok: false, perm: false, message: '4.4.3 bounce routing timed out' };
      if (r.ok) return r.recipients.length > 0 ? r : { ok: false, perm: true, message: '5.1.1 bounce recipient expands to nothing' };
      return { ok: false, perm: r.reply.code >= 500, message: `${r.reply.code} ${r.reply.enhanced ?? ''} ${r.reply.text}`.replace(/\s+/g, ' ') };
    } catch (e) {
      return { ok: false, perm: false, message: `4.3.0 bounce routing failed: ${ioMessage(e)}` };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Inside the group transaction: the notification as a committed message; the reports deleted. */
  private store(envs: Envelope[], recipients: ResolvedRecipient[]): { msgid: string; size: number; envelopes: Envelope[] } {
    const b = this.q.backend;
    const first = envs[0] as Envelope;
    const report = first.report!;
    const orig = first.msgid;
    const now = this.q.now();
    let msgid = newMsgid();
    for (let i = 0; b.messageExists(msgid) && i < 100; i++) msgid = newMsgid();
    const full = report.kind === 'failed' && first.dsnRet === 'FULL';
    const dsn = composeDsn({
      reportingMta: this.q.serverName, kind: report.kind, to: first.sender,
      ...(first.dsnEnvid !== undefined ? { envid: first.dsnEnvid } : {}),
      arrival: report.arrival, recipients: envs.map(toDsnRecipient), returnContent: full ? 'full' : 'headers',
      now, messageId: newSessionId(), ...(first.smtputf8 ? { smtputf8: true } : {}),
    });
    b.chunkAppend(msgid, 0, now, dsn.head);
    let seq = 1;
    let size = dsn.head.byteLength;
    if (full) {
      const copied = b.chunkCopy(orig, msgid, seq);
      if (copied) {
        seq += copied.count;
        size += copied.bytes;
      }
    } else {
      const headers = this.headerBlock(orig);
      if (headers.byteLength > 0) {
        b.chunkAppend(msgid, seq++, now, headers);
        size += headers.byteLength;
      }
    }
    b.chunkAppend(msgid, seq++, now, dsn.tail);
    size += dsn.tail.byteLength;
    // A report in UTF-8 (RFC 6533) needs SMTPUTF8 on its way, as its original did.
    const utf8 = first.smtputf8 === true || /[^\x00-\x7f]/.test(first.sender);
    const envelopes = recipients.map((r) => ({ ...notificationEnvelope(msgid, r, first.sender, this.q.serverName, now), ...(utf8 ? { smtputf8: true } : {}) }));
    b.messageCommit(msgid, now, size, seq, envelopes);
    const c = this.q.counters;
    c.messages++;
    c.envelopes += envelopes.length;
    c.bounces++;
    for (const e of envs) {
      const del = b.envelopeDelete(e.id);
      if (del.deleted) c.envelopes--;
      if (del.messageDeleted) c.messages--;
    }
    return { msgid, size, envelopes };
  }

  /** The original's header block (without the blank line that ends it), as stored. */
  private headerBlock(msgid: string): Uint8Array {
    const parts: Buffer[] = [];
    let bytes = 0;
    let from: number | null = 0;
    while (from !== null && bytes < MAX_RETURNED_HEADERS) {
      const page = this.q.backend.bodyRead(msgid, from, 64 * 1024);
      if (!page) break;
      for (const c of page.chunks) {
        parts.push(Buffer.from(c.buffer, c.byteOffset, c.byteLength));
        bytes += c.byteLength;
      }
      const all = Buffer.concat(parts);
      const end = all.indexOf('\n\n');
      if (all[0] === 0x0a) return new Uint8Array(0);
      if (end >= 0) return new Uint8Array(all.subarray(0, end + 1));
      from = page.next;
    }
    const all = Buffer.concat(parts).subarray(0, MAX_RETURNED_HEADERS);
    return all.length > 0 && all[all.length - 1] !== 0x0a ? Buffer.concat([all, Buffer.from('\n')]) : new Uint8Array(all);
  }
}

function toDsnRecipient(e: Envelope): DsnRecipient {
  const orcpt = originalRecipient(e);
  return { finalRecipient: e.dest, ...(orcpt !== e.dest ? { originalRecipient: orcpt } : {}), report: e.report! };
}

/** An envelope of the notification: from <>, flagged so its own failure is never reported. */
function notificationEnvelope(msgid: string, r: ResolvedRecipient, to: string, name: string, now: number): Envelope {
  return {
    id: newEvpid(msgid), msgid, type: r.type, dispatcher: r.dispatcher, smtpname: name, helo: name,
    hostname: 'localhost', sockaddr: 'local', sender: '', rcpt: to, dest: r.dest,
    ...mdaFields(r),
    ctime: now, lastTry: 0, lastBounce: 0, ttl: r.ttl, retry: 0, flags: ['bounce'], dsnNotify: 0,
  };
}
