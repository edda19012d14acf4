// MAIL FROM / RCPT TO: the address (through proto's one validator) and the ESMTP parameters
// (RFC 1870 SIZE, RFC 6152 BODY, RFC 6531 SMTPUTF8, RFC 3461 DSN). smtp-server has parsed the
// syntax; here we decide what we accept and what it means for the envelope.
import { domainToASCII } from 'node:url';
import { DsnNotify, Replies, formatAddress, parseAddress, replyWith, type Reply } from '@tsmtpd/proto';
import type { SMTPServerAddress } from 'smtp-server';

export type Checked<T> = { ok: true; value: T } | { ok: false; reply: Reply };

const MAIL_PARAMS = new Set(['SIZE', 'BODY', 'SMTPUTF8', 'AUTH']);
const MAIL_DSN_PARAMS = new Set(['RET', 'ENVID']);
const RCPT_DSN_PARAMS = new Set(['NOTIFY', 'ORCPT']);

/**
 * smtp-server turns an ACE domain ("xn--…") into Unicode. Without SMTPUTF8 the address must
 * stay ASCII, so the domain goes back to its ASCII form before validation.
 */
function asciiDomain(address: string): string {
  const at = address.lastIndexOf('@');
  if (at < 0 || !/[^\x00-\x7f]/.test(address.slice(at + 1))) return address;
  const ace = domainToASCII(address.slice(at + 1));
  return ace ? `${address.slice(0, at + 1)}${ace}` : address;
}

/** Validate a mailbox and return its canonical form, or null. */
export function checkMailbox(address: string, utf8: boolean): string | null {
  // Bytes that were not UTF-8 arrive as U+FFFD: such an address is not valid (RFC 6531 3.3).
  if (address.includes('\uFFFD')) return null;
  const input = utf8 ? address : asciiDomain(address);
  const r = parseAddress(input, { utf8 });
  return r.ok ? formatAddress(r.address) : null;
}

function unsupported(key: string): Checked<never> {
  return { ok: false, reply: replyWith('unsupportedParam', `Unsupported option ${key}`) };
}

export interface MailParams {
  sender: string;
  smtputf8: boolean;
  dsnRet?: 'FULL' | 'HDRS';
  dsnEnvid?: string;
}

/** MAIL FROM: the reverse path ('' for <>) and its parameters. */
export function checkMail(addr: SMTPServerAddress, dsn: boolean): Checked<MailParams> {
  const args = addr.args || {};
  for (const key of Object.keys(args)) {
    if (!MAIL_PARAMS.has(key) && !(dsn && MAIL_DSN_PARAMS.has(key))) return unsupported(key);
  }
  const smtputf8 = args.SMTPUTF8 === true;
  let sender = '';
  if (addr.address !== '') {
    const s = checkMailbox(addr.address, smtputf8);
    if (s === null) return { ok: false, reply: Replies.senderSyntax };
    sender = s;
  }
  const out: MailParams = { sender, smtputf8 };
  const ret = typeof args.RET === 'string' ? args.RET.toUpperCase() : undefined;
  if (ret === 'FULL' || ret === 'HDRS') out.dsnRet = ret;
  if (typeof args.ENVID === 'string') {
    // RFC 3461 4.4: at most 100 characters, printable ASCII once xtext-decoded.
    if (args.ENVID.length > 100 || !/^[\x21-\x7e]+$/.test(args.ENVID)) {
      return { ok: false, reply: replyWith('syntaxParam', 'Invalid ENVID parameter') };
    }
    out.dsnEnvid = args.ENVID;
  }
  return { ok: true, value: out };
}

export interface RcptParams {
  rcpt: string;
  dsnNotify: number;
  dsnOrcpt?: string;
}

/**
 * RCPT TO. `postmaster` without a domain must be accepted (RFC 5321 4.1.1.3): it becomes
 * postmaster@<our name>.
 */
export function checkRcpt(addr: SMTPServerAddress, dsn: boolean, utf8: boolean, smtpname: string): Checked<RcptParams> {
  const args = addr.args || {};
  for (const key of Object.keys(args)) {
    if (!(dsn && RCPT_DSN_PARAMS.has(key))) return unsupported(key);
  }
  const given = addr.address.toLowerCase() === 'postmaster' ? `postmaster@${smtpname}` : addr.address;
  const rcpt = checkMailbox(given, utf8);
  if (rcpt === null) return { ok: false, reply: Replies.rcptSyntax };
  const out: RcptParams = { rcpt, dsnNotify: 0 };
  for (const n of addr.dsn?.notify ?? []) {
    const bit = DsnNotify[n.toLowerCase() as keyof typeof DsnNotify];
    if (bit !== undefined) out.dsnNotify |= bit;
  }
  const orcpt = addr.dsn?.orcpt;
  if (orcpt !== undefined) {
    const semi = orcpt.indexOf(';');
    const type = orcpt.slice(0, semi).toLowerCase();
    const value = orcpt.slice(semi + 1);
    const valid = orcpt.length <= 500 && !/[\x00-\x1f\x7f]/.test(orcpt) && (type !== 'rfc822' || checkMailbox(value, true) !== null);
    if (!valid) return { ok: false, reply: replyWith('rcptSyntax', 'ORCPT address syntax error') };
    out.dsnOrcpt = `${type};${value}`;
  }
  return { ok: true, value: out };
}
