// DATA: stream the message from smtp-server's data stream through the LF normaliser and
// the header filter into queue.bodyAppend (chunks ≤ 256 KiB, transferred), our Received
// header first; then queue.messageCommit with the transaction's envelopes and the body's
// last bytes (a small message's only queue call), and only then 250 (DESIGN 1, step 3). A message
// over the size limit, a loop or a broken queue is drained to its end, refused and rolled
// back (452 4.3.1 when the spool's disk is full, else 451 4.3.0), and the session stays usable.
import { Replies, type Reply } from '@tsmtpd/proto';
import { errorInfo, hrNow, transfer } from '@tsmtpd/actor';
import type { SMTPServerDataStream } from 'smtp-server';
import { HeaderFilter, LfNormalizer } from './body.js';
import { newMessageId, receivedHeader, rfc5322Date } from './received.js';
import { ChunkSink } from './sink.js';
import { LocalReplies, acceptedReply } from './replies.js';
import { storageFailureReply } from './storage.js';
import { count, type Session, type Transaction } from './session.js';
import { filterCommit, FILTER_TEMPFAIL, filterReply } from './filters/hooks.js';
import type { DataLineRun } from './filters/dataline.js';

export const CHUNK_SIZE = 256 * 1024;
export const MAX_HEADER_BYTES = 1024 * 1024;
export const MAX_RECEIVED = 100;
/**
 * Longest line of a message, LF excluded. RFC 5321 4.5.3.1.6 asks senders for 1000 with CRLF, but
 * real mail breaks that; like OpenSMTPD we take up to 64 KiB and refuse the message beyond.
 */
export const MAX_DATA_LINE = 65_535;

type BodyOutcome = { ok: true; raw: number; stored: number; tail: ArrayBuffer | null } | { ok: false; reply: Reply | null; why: string };

/** `senders <t> masquerade` applies: an authenticated session with a sender. */
function masquerades(s: Session, tx: Transaction): boolean {
  const l = s.profile.listener;
  return l.masquerade && l.senders !== undefined && s.info.authUser !== null && tx.sender !== '';
}

/** The stages one message's bytes pass through, Received header already written. */
class BodyPipeline {
  raw = 0;
  refusal: Reply | null = null;
  readonly sink: ChunkSink;
  /** Length of the line now arriving, so far. */
  private lineLen = 0;
  private readonly norm = new LfNormalizer();
  private readonly filter: HeaderFilter;
  /** The data-line filters the message passes through before the header filter, if any. */
  private readonly lines: DataLineRun | null;

  constructor(private readonly s: Session, tx: Transaction, msgid: string) {
    const env = s.env;
    const now = new Date();
    this.sink = new ChunkSink((ab) => env.queue().bodyAppend(msgid, transfer(ab, [ab])), { chunkSize: CHUNK_SIZE, maxInFlight: 2 });
    this.filter = new HeaderFilter({
      maxHeaderBytes: MAX_HEADER_BYTES,
      maxReceived: MAX_RECEIVED,
      ...(s.localSubmission ? { addIfMissing: { messageId: newMessageId(s.profile.smtpname), date: rfc5322Date(now) } } : {}),
      ...(masquerades(s, tx) ? { masquerade: tx.sender } : {}),
    });
    const single = tx.rcpts.size === 1 ? [...tx.rcpts.values()][0] : undefined;
    if (s.filters?.isJunk) this.sink.write(Buffer.from('X-Spam: Yes\n'));
    this.lines = s.filters?.openDataLines((line) => {
      if (this.storing) void this.forward(this.filter.push(line));
    }) ?? null;
    this.sink.write(Buffer.from(receivedHeader({
      helo: s.info.helo, rdns: s.info.rdns, remote: s.info.remoteAddress, maskSrc: s.profile.listener.maskSrc,
      ...(s.user ? { localUser: { name: s.user.name, uid: s.user.uid } } : {}),
      name: s.profile.smtpname, esmtp: s.esmtp, msgid, rcpt: single ? single.rcpt : null, date: now,
      tls: s.tlsInfo, authUser: s.info.authUser, receivedAuth: s.profile.listener.receivedAuth,
    })));
  }

  /** Still storing (not refused, no queue failure)? Otherwise the rest is only drained. */
  get storing(): boolean {
    return this.refusal === null && this.sink.failure === null;
  }

  refuse(r: Reply, why: string): void {
    this.refusal ??= r;
    this.sink.abandon(why);
    if (this.lines) this.lines.discard = true;
  }

  /** Take a chunk from the data stream; a promise means: wait before the next one. */
  push(chunk: Buffer, maxSize: number): Promise<void> | null {
    this.raw += chunk.length;
    if (maxSize > 0 && this.raw > maxSize) this.refuse(Replies.sizeTooBig, 'too big');
    if (!this.storing) return null;
    if (this.lineTooLong(chunk)) {
      this.refuse(LocalReplies.dataLineTooLong, 'line too long');
      return null;
    }
    if (this.lines) return this.lines.push(this.norm.push(chunk));
    return this.forward(this.filter.push(this.norm.push(chunk)));
  }

  /** End of data: flush the stages, wait for the queue, and say how it went. */
  async end(): Promise<BodyOutcome> {
    if (this.lines) {
      if (this.storing) this.lines.push(this.norm.end());
      const failed = await this.lines.end();
      if (failed !== null && this.storing) this.refuse(filterReply(FILTER_TEMPFAIL), failed);
      if (this.storing) this.forward(this.filter.end());
    } else if (this.storing) this.forward(this.filter.push(this.norm.end()).concat(this.filter.end()));
    const { failure, tail } = await this.sink.finishTail();
    if (this.refusal) return { ok: false, reply: this.refusal, why: failure ?? 'refused' };
    // The sink's failure reads "CODE: message" (sink.ts): the queue's code comes first.
    if (failure !== null) return { ok: false, reply: await storageFailureReply(this.s.env.space, failure.split(':')[0] ?? '', failure), why: failure };
    return { ok: true, raw: this.raw, stored: this.sink.bytes, tail };
  }

  /** Whether a line of this chunk (with the part before it) exceeds MAX_DATA_LINE. */
  private lineTooLong(chunk: Buffer): boolean {
    for (let start = 0; ; ) {
      const lf = chunk.indexOf(10, start);
      if (lf < 0) {
        this.lineLen += chunk.length - start;
        return this.lineLen > MAX_DATA_LINE;
      }
      // The CR before the LF is not part of the line.
      if (this.lineLen + (lf - start) - 1 > MAX_DATA_LINE) return true;
      this.lineLen = 0;
      start = lf + 1;
    }
  }

  private forward(pieces: Buffer[]): Promise<void> | null {
    if (this.filter.verdict === 'loop') this.refuse(Replies.loop, 'loop');
    if (this.filter.verdict === 'too-big') this.refuse(LocalReplies.headerTooBig, 'header too big');
    let wait: Promise<void> | null = null;
    for (const p of pieces) wait = this.sink.write(p) ?? wait;
    return wait;
  }
}

/** Receive the body of `tx` from `stream`; resolves once the stream has ended or broken. */
function receiveBody(s: Session, tx: Transaction, msgid: string, stream: SMTPServerDataStream): Promise<BodyOutcome> {
  const maxSize = s.env.config.smtp.maxMessageSize;
  const pipe = new BodyPipeline(s, tx, msgid);
  return new Promise<BodyOutcome>((resolve) => {
    let settled = false;
    stream.on('data', (chunk: Buffer) => {
      const wait = pipe.push(chunk, maxSize);
      if (wait) {
        stream.pause();
        void wait.then(() => stream.resume());
      }
    });
    stream.on('end', () => {
      if (settled) return;
      settled = true;
      void pipe.end().then(resolve);
    });
    const broken = (why: string) => {
      if (settled) return;
      settled = true;
      pipe.sink.abandon(why);
      resolve({ ok: false, reply: null, why });
    };
    stream.on('error', (e: Error) => broken(e.message));
    stream.on('close', () => broken('connection closed during DATA'));
  });
}

/** Commit the stored message and log it the way OpenSMTPD does. */
async function commit(s: Session, tx: Transaction, msgid: string, tail: ArrayBuffer | null): Promise<Reply> {
  const env = s.env;
  // The log lines of the message carry the moment the commit was asked for: everything the
  // commit sets going (the queue's line, the delivery's) comes after it in the log (log-writer.ts).
  const asked = hrNow();
  try {
    const r = await env.queue().messageCommit(msgid, tx.envelopes, tail ? transfer(tail, [tail]) : null);
    if (!r.ok) {
      env.log.warn('commit failed', { session: s.info.id, msgid, code: r.code, error: r.message });
      // The queue does not know the id: it restarted, and the rest of the stock is as stale.
      if (r.code === 'ERR_QUEUE_UNKNOWN_MSGID') env.msgids.clear();
      s.rollback(tx);
      return storageFailureReply(env.space, r.code, r.message);
    }
    s.committed(tx);
    const esmtp = s.esmtp ? 'ESMTP' : 'SMTP';
    env.log.info('message', { session: s.info.id, msgid, size: r.value.size, nrcpt: tx.envelopes.length, proto: esmtp }, asked);
    for (const a of tx.rcpts.values()) {
      for (const evpid of a.evpids) env.log.info('envelope', { session: s.info.id, evpid, from: `<${tx.sender}>`, to: `<${a.rcpt}>` }, asked);
    }
    count(env, 'smtp.message');
    return acceptedReply(msgid);
  } catch (e) {
    // A timeout leaves the commit's fate unknown; the rollback asks the queue to drop the
    // message if it has not committed it (the client will retry on 451).
    const info = errorInfo(e);
    env.log.warn('commit failed', { session: s.info.id, msgid, code: info.code, error: info.message });
    s.rollback(tx);
    return storageFailureReply(env.space, info.code, info.message);
  }
}

/** The onData handler: the reply for the message (null when the client is gone). */
export async function dataReceive(s: Session, stream: SMTPServerDataStream): Promise<Reply | null> {
  const tx = s.tx;
  if (!tx || tx.msgid === null || tx.envelopes.length === 0) {
    stream.resume();
    await new Promise((r) => stream.once('end', r).once('close', r));
    return Replies.noRecipients;
  }
  const msgid = tx.msgid;
  const body = await receiveBody(s, tx, msgid, stream);
  if (!body.ok) {
    s.filters?.report('tx-data', [msgid, body.reply && body.reply.code >= 500 ? 'permfail' : 'tempfail']);
    s.rollback(tx);
    s.env.log.info('message refused', { session: s.info.id, msgid, reason: body.why });
    if (body.reply === Replies.sizeTooBig) count(s.env, 'smtp.refused.size');
    return body.reply;
  }
  if (s.closed) {
    s.rollback(tx);
    return null;
  }
  const refused = await filterCommit(s);
  if (refused || s.closed) {
    s.filters?.report('tx-data', [msgid, refused && refused.code < 500 ? 'tempfail' : 'permfail']);
    s.rollback(tx);
    return s.closed ? null : refused;
  }
  s.filters?.report('tx-data', [msgid, 'ok']);
  // End-of-DATA latency: from the final dot to the reply (the commit and its fsync).
  const t0 = performance.now();
  const reply = await commit(s, tx, msgid, body.tail);
  s.env.timing?.('smtp.data.latency', (performance.now() - t0) / 1000);
  if (reply.code < 300) s.filters?.report('tx-commit', [msgid, String(body.stored)]);
  return reply;
}
