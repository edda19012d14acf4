// What the server offers, read from its EHLO/LHLO reply (RFC 5321 4.1.1.1 and each extension's
// RFC), and the MAIL/RCPT command lines built from a transaction with only the parameters the
// server offers (REFERENCE 6.7: DSN parameters only with DSN). Used by session.ts.
import { DsnNotify, parseAddress } from '@tsmtpd/proto';
import type { Reply } from './reply.js';
import type { Transaction, TxRecipient } from './types.js';

export interface Extensions {
  pipelining: boolean;
  dsn: boolean;
  smtputf8: boolean;
  eightBitMime: boolean;
  startTls: boolean;
  enhancedCodes: boolean;
  /** SIZE offered; `sizeLimit` 0 when the server gave no number. */
  size: boolean;
  sizeLimit: number;
  /** SASL mechanisms, upper case. */
  auth: string[];
  /** The keyword lines as received (the EHLO lines after the first). */
  lines: string[];
}

export const NO_EXTENSIONS: Extensions = {
  pipelining: false,
  dsn: false,
  smtputf8: false,
  eightBitMime: false,
  startTls: false,
  enhancedCodes: false,
  size: false,
  sizeLimit: 0,
  auth: [],
  lines: [],
};

export function parseExtensions(r: Reply): Extensions {
  const ext: Extensions = { ...NO_EXTENSIONS, auth: [], lines: r.lines.slice(1).map((l) => l.trim()).filter((l) => l !== '') };
  for (const line of ext.lines) {
    const [kw = '', ...args] = line.trim().split(/\s+/);
    const key = kw.toUpperCase();
    if (key === 'PIPELINING') ext.pipelining = true;
    else if (key === 'DSN') ext.dsn = true;
    else if (key === 'SMTPUTF8') ext.smtputf8 = true;
    else if (key === '8BITMIME') ext.eightBitMime = true;
    else if (key === 'STARTTLS') ext.startTls = true;
    else if (key === 'ENHANCEDSTATUSCODES') ext.enhancedCodes = true;
    else if (key === 'SIZE') {
      ext.size = true;
      const n = /^[0-9]{1,15}$/.test(args[0] ?? '') ? Number(args[0]) : 0;
      ext.sizeLimit = Number.isSafeInteger(n) ? n : 0;
    } else if (key === 'AUTH' || key.startsWith('AUTH=')) {
      // `AUTH=PLAIN LOGIN` is the pre-RFC 4954 form some servers still send.
      const mechs = key.startsWith('AUTH=') ? [key.slice(5), ...args] : args;
      for (const m of mechs) if (m !== '' && !ext.auth.includes(m.toUpperCase())) ext.auth.push(m.toUpperCase());
    }
  }
  return ext;
}

/** RFC 3461 4: xtext, `+HH` for `+`, `=`, controls, space and anything outside ASCII. */
export function xtext(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    out += b > 0x20 && b < 0x7f && b !== 0x2b && b !== 0x3d ? String.fromCharCode(b) : `+${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** RFC 3461 4.1: NEVER alone, else SUCCESS, FAILURE, DELAY in that order; '' for none. */
export function notifyParam(bits: number): string {
  if (bits & DsnNotify.never) return 'NEVER';
  const words: string[] = [];
  if (bits & DsnNotify.success) words.push('SUCCESS');
  if (bits & DsnNotify.failure) words.push('FAILURE');
  if (bits & DsnNotify.delay) words.push('DELAY');
  return words.join(',');
}

/**
 * An address that could end or split a command line (CR, LF, NUL, controls) never goes out, nor
 * one the house's validator refuses (a `mail-from` rewrite or an SRS sender is checked here too).
 * The null reverse path is valid only as a sender (`nullOk`).
 */
export function unsafeAddress(a: string, nullOk = false): boolean {
  if (a === '') return !nullOk;
  return /[\x00-\x1f\x7f]/.test(a) || !parseAddress(a, { utf8: true }).ok;
}

export function mailCommand(tx: Transaction, ext: Extensions): string {
  const params: string[] = [];
  if (ext.size && tx.size > 0) params.push(`SIZE=${tx.size}`);
  if (ext.eightBitMime && tx.eightBit) params.push('BODY=8BITMIME');
  if (tx.smtputf8) params.push('SMTPUTF8');
  if (ext.dsn && tx.ret !== undefined) params.push(`RET=${tx.ret}`);
  if (ext.dsn && tx.envid !== undefined && tx.envid !== '') params.push(`ENVID=${xtext(tx.envid)}`);
  return `MAIL FROM:<${tx.mailFrom}>${params.map((p) => ` ${p}`).join('')}\r\n`;
}

export function rcptCommand(r: TxRecipient, ext: Extensions): string {
  const params: string[] = [];
  if (ext.dsn) {
    const notify = notifyParam(r.notify);
    if (notify !== '') params.push(`NOTIFY=${notify}`);
    if (r.orcpt !== undefined && r.orcpt !== '') params.push(`ORCPT=rfc822;${xtext(r.orcpt)}`);
  }
  return `RCPT TO:<${r.address}>${params.map((p) => ` ${p}`).join('')}\r\n`;
}
