// One task = the envelopes of one message for one relay, sent as one SMTP transaction with
// several RCPTs (REFERENCE 6.1). This file turns a task into the client's Transaction (body
// pages read from the queue, the sender rewritten by `mail-from` and SRS) and the client's
// TxResult back into one outcome per envelope (REFERENCE 6.5). Talks to the queue (bodyRead).
import type { RelayMethod } from '@tsmtpd/config';
import { srsEncode, toErrorLine, type Envelope, type Result, type SrsKeys } from '@tsmtpd/proto';
import type { Transaction, TxResult } from './client/types.js';

export type BodyReadFn = (msgid: string, from: number) => Promise<Result<{ chunks: ArrayBuffer[]; next: number | null }>>;

/** What happened to one envelope. */
export interface Outcome {
  status: 'ok' | 'tempfail' | 'permfail';
  errorline: string;
  /** The text is the remote server's reply. */
  remote: boolean;
  relayed?: boolean;
}

export class BodyFailure extends Error {
  constructor(message: string, readonly kind: 'temp' | 'perm') {
    super(message);
  }
}

const MAX_PAGES = 1_000_000;

/** Page by page from chunk `from` on; throws BodyFailure when the queue cannot serve it. */
async function* readPages(read: BodyReadFn, msgid: string): AsyncGenerator<Uint8Array[]> {
  let next: number | null = 0;
  for (let n = 0; next !== null; n++) {
    if (n > MAX_PAGES) throw new BodyFailure('body has too many pages', 'temp');
    let r: Awaited<ReturnType<BodyReadFn>>;
    try {
      r = await read(msgid, next);
    } catch (e) {
      throw new BodyFailure(`body read failed: ${(e as Error).message}`, 'temp');
    }
    if (!r.ok) throw new BodyFailure(`body read failed: ${r.message}`, r.kind === 'perm' ? 'perm' : 'temp');
    if (r.value.next !== null && r.value.next <= next) throw new BodyFailure('body read did not advance', 'temp');
    next = r.value.next;
    yield r.value.chunks.map((c) => new Uint8Array(c));
  }
}

function has8bit(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i]! >= 0x80) return true;
  return false;
}

/** Bytes of the header block (up to the first empty line) that are not ASCII. */
function headerHas8bit(chunks: Uint8Array[]): boolean {
  let prevLf = true;
  for (const c of chunks) {
    for (let i = 0; i < c.length; i++) {
      const b = c[i]!;
      if (b === 0x0a && prevLf) return false;
      if (b >= 0x80) return true;
      prevLf = b === 0x0a;
    }
  }
  return false;
}

export interface PreparedBody {
  size: number;
  eightBit: boolean;
  headerUtf8: boolean;
  stream: () => AsyncIterable<Uint8Array>;
}

/**
 * Reads the first page. A body of one page (up to 1 MiB, the common case) stays in memory for
 * the transaction; a longer one is read once to learn its size and 8-bit content, and read
 * again page by page while it is sent, so it never sits whole in memory.
 */
export async function prepareBody(read: BodyReadFn, msgid: string): Promise<PreparedBody> {
  const pages = readPages(read, msgid);
  const first = (await pages.next()).value ?? [];
  let size = 0;
  let eightBit = false;
  for (const c of first) {
    size += c.length;
    eightBit ||= has8bit(c);
  }
  const headerUtf8 = headerHas8bit(first);
  let more = false;
  for await (const page of pages) {
    more = true;
    for (const c of page) {
      size += c.length;
      eightBit ||= has8bit(c);
    }
  }
  const stream = more
    ? async function* () {
        for await (const page of readPages(read, msgid)) yield* page;
      }
    : async function* () {
        yield* first;
      };
  return { size, eightBit, headerUtf8, stream };
}

/** `mail-from`: `@dom` replaces the domain, `user` the local part, a full address the whole. */
export function rewriteSender(sender: string, mailFrom: string | undefined): string {
  if (mailFrom === undefined || sender === '') return sender;
  const at = sender.lastIndexOf('@');
  const local = at >= 0 ? sender.slice(0, at) : sender;
  const domain = at >= 0 ? sender.slice(at + 1) : '';
  if (mailFrom.startsWith('@')) return `${local}${mailFrom}`;
  if (!mailFrom.includes('@')) return domain !== '' ? `${mailFrom}@${domain}` : mailFrom;
  return mailFrom;
}

function domainOf(addr: string): string {
  return addr.slice(addr.lastIndexOf('@') + 1);
}

/**
 * The reverse path of a task: `mail-from`, then SRS for forwarded mail (the first envelope's
 * RCPT differs from its destination: an alias, virtual or forward expanded it). The SRS domain
 * is that RCPT's domain, where the bounces come back (OpenSMTPD mta_session.c does the same).
 */
export function taskSender(first: Envelope, def: RelayMethod, srs: SrsKeys | null): string {
  const sender = rewriteSender(first.sender, def.mailFrom);
  const forwarded = first.rcpt.toLowerCase() !== first.dest.toLowerCase();
  if (srs === null || !def.srs || !forwarded || !sender.includes('@') || !first.rcpt.includes('@')) return sender;
  return srsEncode(sender, domainOf(first.rcpt), srs.key);
}

const NON_ASCII = /[^\x00-\x7f]/;

/**
 * The address of a stored ORCPT (`type;value`, RFC 3461 4.2): the client writes `rfc822;` itself,
 * so only the value goes on; an ORCPT of another address type is not passed on (as OpenSMTPD,
 * which keeps rfc822 ones only).
 */
function orcptAddress(stored: string | undefined): string | null {
  if (stored === undefined || !stored.toLowerCase().startsWith('rfc822;')) return null;
  const addr = stored.slice(7);
  return addr !== '' ? addr : null;
}

export function buildTransaction(envs: Envelope[], sender: string, body: PreparedBody): Transaction {
  const first = envs[0]!;
  const smtputf8 = body.headerUtf8 || NON_ASCII.test(sender) || envs.some((e) => NON_ASCII.test(e.dest));
  return {
    mailFrom: sender,
    ...(first.dsnRet !== undefined ? { ret: first.dsnRet } : {}),
    ...(first.dsnEnvid !== undefined ? { envid: first.dsnEnvid } : {}),
    smtputf8,
    eightBit: body.eightBit,
    size: body.size,
    recipients: envs.map((e) => {
      const orcpt = orcptAddress(e.dsnOrcpt);
      return { address: e.dest, notify: e.dsnNotify, ...(orcpt !== null ? { orcpt } : {}) };
    }),
    body: body.stream,
  };
}

/** What the server's EHLO said that a transaction must respect before MAIL. */
export function checkExtensions(tx: Transaction, extensions: readonly string[]): Outcome | null {
  const ext = extensions.map((e) => e.toUpperCase());
  if (tx.smtputf8 && !ext.some((e) => e === 'SMTPUTF8' || e.startsWith('SMTPUTF8 '))) {
    return { status: 'permfail', errorline: '553 5.6.7 Message needs SMTPUTF8 and the destination does not offer it', remote: false };
  }
  const size = ext.map((e) => /^SIZE\s+(\d+)$/.exec(e)).find((m) => m)?.[1];
  if (size !== undefined && Number(size) > 0 && tx.size > Number(size)) {
    return { status: 'permfail', errorline: `552 5.3.4 Message too large for peer (${tx.size} > ${size})`, remote: false };
  }
  return null;
}

/** One outcome per envelope, in order, from the client's result. */
export function outcomes(envs: Envelope[], r: TxResult): Outcome[] {
  if (!r.ok) return envs.map(() => ({ status: r.status, errorline: toErrorLine(r.reply), remote: /^[245]\d\d[ -]/.test(r.reply) }));
  return envs.map((e, i) => {
    const o = r.recipients[i];
    if (!o) return { status: 'tempfail', errorline: '451 4.3.0 no reply for this recipient', remote: false };
    const relayed = o.status === 'ok' && r.relayedWithoutDsn && (e.dsnNotify & 1) !== 0;
    return { status: o.status, errorline: toErrorLine(o.reply), remote: true, ...(relayed ? { relayed: true } : {}) };
  });
}
