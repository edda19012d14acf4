// One mail transaction on an open link (RFC 5321 3.3, RFC 2920, RFC 2033 4.2): RSET when the
// previous one failed, MAIL, the RCPTs and DATA in one write when the server pipelines (else
// DATA only once a recipient was accepted), the body, and the end-of-data reply (one per
// accepted recipient for LMTP). Every recipient gets its own outcome (REFERENCE 6.5). Used by session.ts.
import { DsnNotify } from '@tsmtpd/proto';
import { writeBody } from './body.js';
import { mailCommand, rcptCommand, unsafeAddress } from './ehlo.js';
import { localLine, wireLine, type Link } from './link.js';
import { replyClass, replyLine, type Reply } from './reply.js';
import type { RcptOutcome, Transaction, TxResult } from './types.js';

export interface TxRun {
  result: TxResult;
  /** The server may hold transaction state: RSET before the next MAIL. */
  needsReset: boolean;
}

/** Reply to outcome; a 3xx where a final reply belongs breaks the protocol and drops the link. */
function outcome(link: Link, r: Reply): RcptOutcome {
  const c = replyClass(r);
  if (c === 'intermediate') {
    link.wire.destroy('protocol error: unexpected intermediate reply');
    return { status: 'tempfail', reply: replyLine(r) };
  }
  return { status: c === 'ok' ? 'ok' : c, reply: replyLine(r) };
}

function failAll(status: 'tempfail' | 'permfail', reply: string, connectionLost: boolean): TxResult {
  return { ok: false, status, reply, connectionLost };
}

class Run {
  /** Per recipient of tx, in order; null while unknown. */
  readonly outcomes: (RcptOutcome | null)[];
  /** Indexes of the recipients the server accepted at RCPT. */
  readonly accepted: number[] = [];
  /** Accepted recipients whose LMTP end-of-data reply came: their outcome is final. */
  readonly done = new Set<number>();
  /** The reply to a pipelined DATA, once read. */
  dataReply: Reply | null = null;

  constructor(
    readonly link: Link,
    readonly tx: Transaction,
  ) {
    this.outcomes = tx.recipients.map((r) => (unsafeAddress(r.address) ? { status: 'permfail', reply: localLine('5.1.3', 'invalid recipient address') } : null));
  }

  /** The accepted recipients (or every unknown one) get this outcome. */
  settle(o: RcptOutcome, onlyAccepted: boolean): void {
    const idx = onlyAccepted ? this.accepted : this.outcomes.map((_, i) => i);
    for (const i of idx) if (onlyAccepted ? !this.done.has(i) : this.outcomes[i] === null) this.outcomes[i] = o;
  }

  result(): TxResult {
    const recipients = this.outcomes.map((o) => o ?? { status: 'tempfail' as const, reply: localLine('4.4.2', 'no reply for this recipient') });
    // REFERENCE 6.7: without DSN at the peer, a NOTIFY=SUCCESS recipient gets our "relayed" DSN.
    const relayedWithoutDsn =
      !this.link.ext.dsn && recipients.some((o, i) => o.status === 'ok' && ((this.tx.recipients[i]?.notify ?? 0) & DsnNotify.success) !== 0);
    return { ok: true, recipients, relayedWithoutDsn };
  }
}

/** MAIL, RCPTs and DATA pipelined, or MAIL and RCPTs in lockstep; null when the envelope went through, else the end. */
async function envelope(run: Run, reset: boolean): Promise<TxRun | null> {
  const { link, tx } = run;
  const sendable = tx.recipients.map((_, i) => i).filter((i) => run.outcomes[i] === null);
  const rcpts = sendable.map((i) => rcptCommand(tx.recipients[i]!, link.ext));
  const mail = mailCommand(tx, link.ext);
  const pipe = link.ext.pipelining;
  // RFC 2920 3.1: DATA may end the group; its reply tells whether any RCPT got through.
  const head = (reset ? 'RSET\r\n' : '') + mail + (pipe ? `${rcpts.join('')}DATA\r\n` : '');
  const w = await link.write(head);
  if (!w.ok) return { result: failAll('tempfail', wireLine(w.reason), true), needsReset: true };
  if (reset) {
    const r = await link.read('RSET');
    if (!r.ok) return { result: failAll('tempfail', wireLine(r.reason), true), needsReset: true };
    if (replyClass(r.value) !== 'ok') {
      // The server is in a state we cannot name: give up on this connection.
      link.wire.destroy('RSET refused');
      return { result: failAll('tempfail', replyLine(r.value), true), needsReset: true };
    }
  }
  const m = await link.read('MAIL');
  if (!m.ok) return { result: failAll('tempfail', wireLine(m.reason), true), needsReset: true };
  const mo = outcome(link, m.value);
  const refused = mo.status === 'ok' ? null : { status: mo.status, reply: mo.reply };
  const mailFailed = (): TxRun | null =>
    refused === null ? null : { result: failAll(refused.status, refused.reply, !link.alive), needsReset: true };
  // Lockstep: the RCPTs were never sent. Pipelined: their replies must still be read.
  if (refused !== null && !pipe) return mailFailed();
  for (const [k, i] of sendable.entries()) {
    if (!pipe) {
      const wr = await link.write(rcpts[k]!);
      if (!wr.ok) return { result: lost(run, wr.reason), needsReset: true };
    }
    const r = await link.read('RCPT');
    if (!r.ok) return mailFailed() ?? { result: lost(run, r.reason), needsReset: true };
    if (refused !== null) continue;
    const o = outcome(link, r.value);
    run.outcomes[i] = o;
    if (o.status === 'ok') run.accepted.push(i);
  }
  if (pipe) return pipelinedData(run, mailFailed);
  return mailFailed();
}

/** The reply to the pipelined DATA: kept for data() when a recipient got through, else the end. */
async function pipelinedData(run: Run, mailFailed: () => TxRun | null): Promise<TxRun | null> {
  const { link } = run;
  const d = await link.read('DATA');
  if (!d.ok) return mailFailed() ?? { result: lost(run, d.reason), needsReset: true };
  if (mailFailed() !== null || run.accepted.length === 0) {
    // A server that opens the data with no recipient would deliver whatever follows: never send it.
    if (replyClass(d.value) === 'intermediate') link.wire.destroy('protocol error: DATA accepted without a recipient');
    return mailFailed() ?? { result: run.result(), needsReset: true };
  }
  run.dataReply = d.value;
  return null;
}

/** The connection broke mid-transaction: whoever is not settled yet is retried later. */
function lost(run: Run, reason: string): TxResult {
  const o: RcptOutcome = { status: 'tempfail', reply: wireLine(reason) };
  run.settle(o, true);
  run.settle(o, false);
  return run.result();
}

/** DATA, the body and the end-of-data reply or replies. */
async function data(run: Run): Promise<TxRun> {
  const { link, tx } = run;
  const d = run.dataReply !== null ? { ok: true as const, value: run.dataReply } : await link.command('DATA');
  if (!d.ok) return { result: lost(run, d.reason), needsReset: true };
  if (replyClass(d.value) !== 'intermediate') {
    if (replyClass(d.value) === 'ok') link.wire.destroy('protocol error: DATA answered without 354');
    run.settle({ status: replyClass(d.value) === 'permfail' ? 'permfail' : 'tempfail', reply: replyLine(d.value) }, true);
    return { result: run.result(), needsReset: true };
  }
  let body: AsyncIterable<Uint8Array>;
  try {
    body = tx.body();
  } catch (e) {
    link.wire.destroy();
    return { result: lost(run, `cannot read the message body: ${(e as Error).message}`), needsReset: true };
  }
  const b = await writeBody(link.wire, body, link.opts.commandTimeoutMs);
  if (!b.ok) {
    // Never end the data of a body we could not read in full: the server would deliver it.
    link.wire.destroy(b.reason);
    return { result: lost(run, b.reason), needsReset: true };
  }
  // SMTP: one reply for the whole message; LMTP: one per accepted recipient, in RCPT order.
  const replies = link.opts.lmtp ? run.accepted : [-1];
  let failed = false;
  for (const i of replies) {
    const r = await link.read('end of data');
    if (!r.ok) return { result: lost(run, r.reason), needsReset: true };
    const o = outcome(link, r.value);
    if (i === -1) run.settle(o, true);
    else {
      run.outcomes[i] = o;
      run.done.add(i);
    }
    failed ||= o.status !== 'ok';
  }
  // An LMTP transaction is over once every reply came, whatever they said.
  return { result: run.result(), needsReset: !link.opts.lmtp && failed };
}

/** Run one transaction; the link must be idle (every earlier reply read). */
export async function transaction(link: Link, tx: Transaction, reset: boolean): Promise<TxRun> {
  if (tx.recipients.length === 0) return { result: { ok: true, recipients: [], relayedWithoutDsn: false }, needsReset: reset };
  // RFC 6531 3.4: a message that needs SMTPUTF8 cannot go to a server without it.
  if (tx.smtputf8 && !link.ext.smtputf8) return { result: failAll('permfail', localLine('5.6.7', 'server does not offer SMTPUTF8'), false), needsReset: reset };
  // RFC 1870 6: refuse ourselves what the server announced it would refuse.
  if (link.ext.size && link.ext.sizeLimit > 0 && tx.size > link.ext.sizeLimit)
    return { result: failAll('permfail', localLine('5.3.4', 'message too large for peer'), false), needsReset: reset };
  if (unsafeAddress(tx.mailFrom, true)) return { result: failAll('permfail', localLine('5.1.7', 'invalid sender address'), false), needsReset: reset };
  const run = new Run(link, tx);
  if (run.outcomes.every((o) => o !== null)) return { result: run.result(), needsReset: reset };
  const env = await envelope(run, reset);
  if (env !== null) return env;
  // No recipient accepted: no body; the next transaction starts with RSET.
  if (run.accepted.length === 0) return { result: run.result(), needsReset: true };
  return data(run);
}
