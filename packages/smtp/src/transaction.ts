// MAIL FROM and RCPT TO: take a msgid the queue reserved, resolve each recipient with lka,
// and keep the resulting envelopes in the transaction: they go to the queue with the commit
// (data.ts), so neither command costs a queue call (DESIGN 1, steps 1-2). Every failure of
// a peer (a Result failure, a timeout, a dead worker) becomes a 4xx, never a hang.
import { EnvelopeSchema, Replies, mdaFields, newEvpid, type Envelope, type Reply, type ResolvedRecipient } from '@tsmtpd/proto';
import { errorInfo } from '@tsmtpd/actor';
import type { SMTPServerAddress } from 'smtp-server';
import { checkMail, checkRcpt, type RcptParams } from './params.js';
import { LocalReplies } from './replies.js';
import { count, type Session, type Transaction } from './session.js';
import { foreignSender } from './local-user.js';

/** Either a reply refusing the command, or null: accepted. */
export type Verdict = Reply | null;

export async function mailFrom(s: Session, addr: SMTPServerAddress): Promise<Verdict> {
  const env = s.env;
  const l = s.profile.listener;
  // OpenSMTPD's order: TLS, then AUTH, then the session's message count.
  if (l.tlsRequire && !s.info.tls) return LocalReplies.needStarttls;
  if (l.auth && s.info.authUser === null) return LocalReplies.needAuth;
  if (s.mails >= env.config.smtp.maxMails) return Replies.tooManyMails;
  const checked = checkMail(addr, !l.noDsn);
  if (!checked.ok) return checked.reply;
  const p = checked.value;
  if (s.localUser) {
    const u = (s.user ??= await s.localUser);
    // OpenSMTPD lets any local user choose the sender (sendmail -f); we say who did.
    if (foreignSender(u, p.sender)) env.log.info('sender set by local user', { session: s.info.id, user: u.name ?? `#${u.uid}`, uid: u.uid, sender: `<${p.sender}>` });
  }
  const refused = await senderCheck(s, p.sender);
  if (refused !== null) return refused;
  const tx = s.begin(p.sender, p.smtputf8);
  if (p.dsnRet !== undefined) tx.dsnRet = p.dsnRet;
  if (p.dsnEnvid !== undefined) tx.dsnEnvid = p.dsnEnvid;
  const room = await spoolRoom(s, declaredSize(addr));
  if (room !== null) {
    s.rollback(tx);
    return room;
  }
  // From the stock the queue reserved (msgid-pool.ts): a round trip only when it ran dry.
  const r = await env.msgids.take();
  if (!r.ok) {
    env.log.warn('message create failed', { session: s.info.id, code: r.code, error: r.message });
    s.rollback(tx);
    return Replies.tempFailure;
  }
  tx.msgid = r.value;
  // The client left, or reset, while the stock was refilled: give the msgid back.
  if (s.closed || s.tx !== tx) {
    s.rollback(tx);
    return Replies.tempFailure;
  }
  s.mails++;
  return null;
}

/**
 * `senders <table>`: an authenticated user may only use the MAIL FROM addresses the table lists
 * for them (OpenSMTPD: 530 Sender rejected). Unauthenticated sessions are not checked.
 */
async function senderCheck(s: Session, sender: string): Promise<Verdict> {
  const table = s.profile.listener.senders;
  const user = s.info.authUser;
  if (table === undefined || user === null) return null;
  try {
    const v = await s.env.lka().senderCheck(table, user, sender);
    if (v === 'ok') return null;
    s.env.log.info('sender refused', { session: s.info.id, user, sender: `<${sender}>`, verdict: v });
    return v === 'refused' ? LocalReplies.senderRejected : Replies.tempLookup;
  } catch (e) {
    s.env.log.warn('sender check failed', { session: s.info.id, error: errorInfo(e).message });
    return Replies.tempLookup;
  }
}

/** RFC 1870 SIZE= of the MAIL command, 0 when absent. */
function declaredSize(addr: SMTPServerAddress): number {
  const args = addr.args as Record<string, string> | false;
  const n = args ? Number(args['SIZE']) : 0;
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}

/**
 * 452 4.3.1 when the spool's file system is below the free-space floor, or has less room than
 * the size the client declared (RFC 1870 6.1); null when there is room. Refusing here costs the
 * client no body; a write that fails anyway is caught at the end of DATA.
 */
async function spoolRoom(s: Session, size: number): Promise<Verdict> {
  const space = await s.env.space.check();
  if (space.ok && size <= space.freeBytes) return null;
  s.env.log.warn('spool full', { session: s.info.id, why: space.ok ? `${size} bytes declared, ${space.freeBytes} free` : space.why });
  count(s.env, 'smtp.refused.storage');
  return Replies.storageFull;
}

export async function rcptTo(s: Session, addr: SMTPServerAddress): Promise<Verdict> {
  const tx = s.tx;
  if (!tx || tx.msgid === null) return Replies.badSequence;
  const env = s.env;
  if (tx.rcpts.size >= env.config.smtp.maxRcpt) return Replies.tooManyRcpt;
  const checked = checkRcpt(addr, !s.profile.listener.noDsn, tx.smtputf8, s.profile.smtpname);
  if (!checked.ok) return checked.reply;
  const p = checked.value;
  const key = p.rcpt.toLowerCase();
  // The same recipient twice in one transaction is accepted once (one delivery).
  if (tx.rcpts.has(key)) return null;
  let recipients: ResolvedRecipient[];
  try {
    const res = await env.lka().rcptResolve({ session: { ...s.info }, sender: tx.sender, rcpt: p.rcpt, gen: env.gen });
    if (!res.ok) {
      if (res.reply.code >= 400 && res.reply.code <= 599) return res.reply;
      env.log.warn('lka refused with a non-error reply', { session: s.info.id, rcpt: p.rcpt, code: res.reply.code });
      return Replies.tempLookup;
    }
    recipients = res.recipients;
  } catch (e) {
    env.log.warn('rcpt lookup failed', { session: s.info.id, rcpt: p.rcpt, error: errorInfo(e).message });
    return Replies.tempLookup;
  }
  if (recipients.length === 0) return Replies.expansionFailed;
  if (s.closed || s.tx !== tx || tx.msgid === null) return Replies.tempFailure;
  return addEnvelopes(s, tx, tx.msgid, p, recipients);
}

function addEnvelopes(s: Session, tx: Transaction, msgid: string, p: RcptParams, recipients: ResolvedRecipient[]): Verdict {
  const env = s.env;
  const envelopes: Envelope[] = [];
  for (const r of recipients) {
    const parsed = EnvelopeSchema.safeParse(buildEnvelope(s, tx, msgid, p, r));
    if (!parsed.success) {
      env.log.warn('bad envelope', { session: s.info.id, rcpt: p.rcpt, error: parsed.error.message });
      return Replies.tempFailure;
    }
    envelopes.push(parsed.data);
  }
  // Kept for the commit: envelopes the queue refuses there fail the commit (451 after DATA),
  // so nothing is acknowledged that is not stored.
  tx.rcpts.set(p.rcpt.toLowerCase(), { rcpt: p.rcpt, evpids: envelopes.map((e) => e.id) });
  tx.envelopes.push(...envelopes);
  count(env, 'smtp.rcpt');
  return null;
}

function buildEnvelope(s: Session, tx: Transaction, msgid: string, p: RcptParams, r: ResolvedRecipient): Envelope {
  const i = s.info;
  return {
    id: newEvpid(msgid),
    msgid,
    type: r.type,
    dispatcher: r.dispatcher,
    ...(i.tag !== null ? { tag: i.tag } : {}),
    smtpname: i.smtpname,
    helo: i.helo,
    hostname: i.rdns ?? '',
    sockaddr: i.remoteAddress,
    ...(i.authUser !== null ? { username: i.authUser } : {}),
    sender: tx.sender,
    rcpt: p.rcpt,
    dest: r.dest,
    ...mdaFields(r),
    ctime: Math.floor(Date.now() / 1000),
    lastTry: 0,
    lastBounce: 0,
    ttl: r.ttl,
    retry: 0,
    flags: i.authUser !== null ? ['authenticated'] : [],
    dsnNotify: p.dsnNotify,
    ...(tx.dsnRet !== undefined ? { dsnRet: tx.dsnRet } : {}),
    ...(tx.dsnEnvid !== undefined ? { dsnEnvid: tx.dsnEnvid } : {}),
    ...(p.dsnOrcpt !== undefined ? { dsnOrcpt: p.dsnOrcpt } : {}),
    ...(tx.smtputf8 ? { smtputf8: true } : {}),
  };
}
