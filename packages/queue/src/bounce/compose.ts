// Composes a delivery status notification (RFC 3464 inside RFC 6522 multipart/report) from bounce
// reports. Pure: no I/O, no clock. The bounce builder stores `head`, the original message or its
// header block, then `tail`; all with LF line ends like every stored message (the SMTP client
// sends CRLF). Non-ASCII follows RFC 6533: global media types when the notification travels with
// SMTPUTF8, else a 7-bit report with `utf-8;` addresses in utf-8-addr-xtext form.
import { randomBytes } from 'node:crypto';
import type { BounceKind, BounceReport } from '@tsmtpd/proto';

export interface DsnRecipient {
  /** Envelope destination (Final-Recipient). */
  finalRecipient: string;
  /** ORCPT as an address (already decoded from `rfc822;addr`), else the RCPT as received. */
  originalRecipient?: string;
  /** What happened to this recipient; its `kind` is the Action field. */
  report: BounceReport;
}

export interface DsnInput {
  /** Our server name: Reporting-MTA, From and Message-ID domain. */
  reportingMta: string;
  /** One notification has one kind: subject and human text. */
  kind: BounceKind;
  /** The original's envelope sender; never empty (no notification goes to <>). */
  to: string;
  /** ENVID of the original, xtext-decoded. */
  envid?: string;
  /** Epoch seconds the original arrived (Arrival-Date). */
  arrival: number;
  /** At least one. */
  recipients: DsnRecipient[];
  /** text/rfc822-headers (or message/global-headers), or message/rfc822 (message/global) for RET=FULL. */
  returnContent: 'headers' | 'full';
  /** Epoch seconds, for Date:. */
  now: number;
  /** Local part of Message-ID, e.g. 16 random hex digits. */
  messageId: string;
  /**
   * The notification goes out with SMTPUTF8 (the original came with it): RFC 6533 global types,
   * UTF-8 kept as is. Implied when `to` is not ASCII, since only SMTPUTF8 can carry it.
   */
  smtputf8?: boolean;
  /**
   * Whether the returned content may hold 8-bit bytes (BODY=8BITMIME). Unset: a full return is
   * labelled 8bit (that cannot be ruled out) and a header block 7bit (RFC 5322 headers are ASCII).
   */
  content8bit?: boolean;
}

export interface DsnParts {
  /** Header + human-readable part + delivery-status part + the opening of the returned-content part; LF line ends. */
  head: Uint8Array;
  /** The closing: a newline as needed and the final boundary; LF line ends. */
  tail: Uint8Array;
}

/** RFC 5322 2.1.1: lines SHOULD stay within 78 characters and MUST within 998 octets. */
const SOFT = 78;
const HARD = 998;
/** Text lines of the human-readable part. */
const TEXT_WIDTH = 76;

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

const isAscii = (s: string): boolean => /^[\x00-\x7f]*$/.test(s);
const pad2 = (n: number): string => String(n).padStart(2, '0');
const hex = (cp: number): string => cp.toString(16).toUpperCase().padStart(2, '0');

/**
 * One line of text, whatever came in: line breaks (including NEL, U+2028/9) and tabs become a
 * space, other controls go. Nothing interpolated can start a header field or a MIME part.
 */
function oneLine(s: string): string {
  return s
    .replace(/[\r\n\t\v\f\u0085\u2028\u2029]+/g, ' ')
    .replace(/[\x00-\x1f\x7f]/g, '')
    .trim();
}

/** A host name or address literal: letters, digits and . - _ : [ ] only. */
const hostName = (s: string): string => oneLine(s).replace(/[^\p{L}\p{N}.\-_:[\]]/gu, '');

/** Non-ASCII as `\x{HEX}` (RFC 6533's EmbeddedUnicodeChar notation), so a 7-bit part stays 7-bit. */
function escapeNonAscii(s: string): string {
  return s.replace(/[^\x00-\x7f]/gu, (c) => `\\x{${hex(c.codePointAt(0) ?? 0)}}`);
}

/** RFC 6533 section 3 utf-8-addr-xtext: QCHAR as is; SP, '\', '+', '=', controls, non-ASCII as \x{HEX}. */
function utf8AddrXtext(addr: string): string {
  let out = '';
  for (const c of addr) {
    const cp = c.codePointAt(0) ?? 0;
    out += cp > 0x20 && cp < 0x7f && c !== '\\' && c !== '+' && c !== '=' ? c : `\\x{${hex(cp)}}`;
  }
  return out;
}

/** RFC 3461 4 xtext: '+' and '=' and anything outside 33..126 as +HH of each UTF-8 octet. */
function xtext(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) out += b > 0x20 && b < 0x7f && b !== 0x2b && b !== 0x3d ? String.fromCharCode(b) : `+${hex(b)}`;
  return out;
}

/**
 * Original-Envelope-Id (RFC 3464 2.2.1) carries the decoded ENVID. One that would not survive as
 * one line of printable ASCII is given xtext-encoded instead: lossless, and it cannot break a line.
 */
const envelopeId = (envid: string): string => (/^[\x21-\x7e]+$/.test(envid) ? envid : xtext(envid));

/** An address with its RFC 3464 address type: rfc822 for ASCII, else RFC 6533 utf-8. */
function typedAddress(addr: string, global: boolean): string {
  const a = oneLine(addr);
  if (isAscii(a)) return `rfc822; ${a}`;
  return `utf-8; ${global ? a : utf8AddrXtext(a)}`;
}

/** RFC 5322 3.3 date-time, in UTC. */
export function rfc5322Date(epoch: number): string {
  const d = new Date(epoch * 1000);
  const time = `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;
  return `${DAYS[d.getUTCDay()]}, ${pad2(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${time} +0000`;
}

function utf8Width(code: number): number {
  if (code < 0x80) return 1;
  if (code < 0x800) return 2;
  if (code >= 0xd800 && code < 0xdc00) return 4; // a surrogate pair is one 4-octet character
  if (code >= 0xdc00 && code < 0xe000) return 0;
  return 3;
}

/**
 * Where to fold `line`: before a space that is followed by a non-space (so no continuation line is
 * blank), the last such point within 78 octets, else the first within 998; -1 when there is none.
 */
function foldPoint(line: string, min: number): number {
  let octets = 0;
  let soft = -1;
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (i >= min && c === 0x20 && i + 1 < line.length && line.charCodeAt(i + 1) !== 0x20) {
      if (octets <= SOFT) soft = i;
      else return soft >= 0 ? soft : octets <= HARD ? i : -1;
    }
    octets += utf8Width(c);
    if (octets > HARD && soft < 0) return -1;
  }
  return soft;
}

/** The longest prefix of `line` within 998 octets, not splitting a surrogate pair. */
function hardCut(line: string): number {
  let octets = 0;
  for (let i = 0; i < line.length; i++) {
    octets += utf8Width(line.charCodeAt(i));
    if (octets > HARD) return i > 0 && line.charCodeAt(i) >= 0xdc00 && line.charCodeAt(i) < 0xe000 ? i - 1 : i;
  }
  return line.length;
}

/**
 * `Name: value` folded (RFC 5322 2.2.3) by putting a line break before existing white space, so
 * unfolding gives the value back exactly. Only a single word longer than a whole line is cut, and
 * then unfolding shows a space at the cut. Ends with LF.
 */
function field(name: string, value: string): string {
  let line = `${name}: ${value}`;
  const out: string[] = [];
  let min = name.length + 2;
  while (Buffer.byteLength(line) > SOFT) {
    const at = foldPoint(line, min);
    if (at > 0) {
      out.push(line.slice(0, at));
      line = line.slice(at);
    } else if (Buffer.byteLength(line) > HARD) {
      const cut = hardCut(line);
      out.push(line.slice(0, cut));
      line = ` ${line.slice(cut)}`;
    } else break;
    min = 1;
  }
  out.push(line);
  return `${out.join('\n')}\n`;
}

/** Greedy word wrap for the human-readable text; words longer than a line are split. */
function wrap(text: string, first: string, rest: string): string[] {
  const out: string[] = [];
  const room = TEXT_WIDTH - rest.length;
  let cur = first;
  let empty = true;
  for (const word of text.split(' ')) {
    const chars = Array.from(word);
    for (let i = 0; i < chars.length; i += room) {
      const piece = chars.slice(i, i + room).join('');
      if (!empty && cur.length + 1 + piece.length > TEXT_WIDTH) {
        out.push(cur);
        cur = rest;
        empty = true;
      }
      cur += (empty ? '' : ' ') + piece;
      empty = false;
    }
  }
  out.push(cur);
  return out;
}

/** RFC 2045 6.7 quoted-printable of LF-separated text (lines stay LF: the client makes CRLF). */
function quotedPrintable(text: string): string {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const bytes = Buffer.from(line, 'utf8');
    let cur = '';
    bytes.forEach((b, i) => {
      const literal = (b > 0x20 && b < 0x7f && b !== 0x3d) || (b === 0x20 && i < bytes.length - 1);
      const enc = literal ? String.fromCharCode(b) : `=${hex(b)}`;
      if (cur.length + enc.length > 75) {
        out.push(`${cur}=`);
        cur = '';
      }
      cur += enc;
    });
    out.push(cur);
  }
  return out.join('\n');
}

/** "3 days 4 hours", "25 minutes": how long, roughly, for people (the largest unit and the next). */
function duration(seconds: number): string {
  const units: [number, string][] = [[86400, 'day'], [3600, 'hour'], [60, 'minute'], [1, 'second']];
  let left = Math.max(0, Math.floor(seconds));
  const lead = units.findIndex(([size]) => left >= size);
  if (lead < 0) return '0 seconds';
  const parts: string[] = [];
  for (const [size, name] of units.slice(lead, lead + 2)) {
    const n = Math.floor(left / size);
    left -= n * size;
    if (n > 0) parts.push(`${n} ${name}${n === 1 ? '' : 's'}`);
  }
  return parts.join(' ');
}

const INTRO: Record<BounceKind, (mta: string) => string> = {
  failed: (mta) =>
    `The mail server ${mta} could not deliver your message to the recipients below and has stopped trying. ` +
    'Next to each address is the reason it gave up.',
  delayed: (mta) =>
    `The mail server ${mta} has not yet been able to deliver your message to the recipients below. ` +
    'It keeps trying, so there is no need to send the message again. Should it still fail when the time ' +
    'shown runs out, you will get another notice.',
  delivered: () => 'Your message has been delivered to the recipients below, as you asked to be told.',
  relayed: (mta) =>
    `The mail server ${mta} has passed your message on, for the recipients below, to a server that does not ` +
    'send delivery notices. It got that far; you will hear nothing more about its final delivery.',
};

/** The human-readable part (RFC 3464 2.1, first part): our own words. */
function humanText(input: DsnInput, mta: string): string {
  const lines = [...wrap(INTRO[input.kind](mta), '', ''), ''];
  for (const r of input.recipients) {
    const addr = oneLine(r.finalRecipient);
    const diag = oneLine(r.report.diagnostic) || (r.report.kind === 'delivered' || r.report.kind === 'relayed' ? 'ok' : 'no reason given');
    lines.push(...wrap(`<${addr}>: ${diag}`, '  ', '      '));
    const orig = r.originalRecipient === undefined ? '' : oneLine(r.originalRecipient);
    if (orig !== '' && orig.toLowerCase() !== addr.toLowerCase()) lines.push(...wrap(`(sent to you as <${orig}>)`, '      ', '      '));
    if (r.report.kind === 'delayed') {
      const since = `In the queue since ${rfc5322Date(r.report.arrival)} (${duration(input.now - r.report.arrival)}).`;
      const until = r.report.retryUntil === undefined ? '' : ` Will keep trying until ${rfc5322Date(r.report.retryUntil)}.`;
      lines.push(...wrap(since + until, '      ', '      '));
    }
  }
  const returned = input.returnContent === 'full' ? 'your original message' : 'the header of your original message';
  lines.push('', ...wrap(`Attached are a report for mail programs and ${returned}. This notice was generated automatically.`, '', ''));
  return `${lines.join('\n')}\n`;
}

/** The delivery-status part's body (RFC 3464 2.2, 2.3): per-message fields, then one group per recipient. */
function statusFields(input: DsnInput, mta: string, global: boolean): string {
  const text = (s: string): string => (global ? oneLine(s) : escapeNonAscii(oneLine(s)));
  let out = '';
  if (input.envid !== undefined && input.envid !== '') out += field('Original-Envelope-Id', envelopeId(input.envid));
  out += field('Reporting-MTA', `dns; ${mta}`);
  out += field('Arrival-Date', rfc5322Date(input.arrival));
  for (const { finalRecipient, originalRecipient, report } of input.recipients) {
    out += '\n';
    if (originalRecipient !== undefined && oneLine(originalRecipient) !== '') out += field('Original-Recipient', typedAddress(originalRecipient, global));
    out += field('Final-Recipient', typedAddress(finalRecipient, global));
    out += field('Action', report.kind);
    out += field('Status', statusCode(report));
    const remote = report.remoteMta === undefined ? '' : text(hostName(report.remoteMta));
    if (remote !== '') out += field('Remote-MTA', `dns; ${remote}`);
    const diag = text(report.diagnostic);
    if (diag !== '') out += field('Diagnostic-Code', `${report.diagnosticType === 'smtp' ? 'smtp' : 'x-local'}; ${diag}`);
    out += field('Last-Attempt-Date', rfc5322Date(report.lastAttempt));
    if (report.kind === 'delayed' && report.retryUntil !== undefined) out += field('Will-Retry-Until', rfc5322Date(report.retryUntil));
  }
  return out;
}

/** RFC 3463 X.Y.Z as given when well formed, else the generic code of the action's class. */
function statusCode(report: BounceReport): string {
  if (/^[245]\.\d{1,3}\.\d{1,3}$/.test(report.status)) return report.status;
  return report.kind === 'failed' ? '5.0.0' : report.kind === 'delayed' ? '4.0.0' : '2.0.0';
}

/** The returned-content part's media type and transfer encoding (RFC 6522, RFC 6533 section 6). */
function returnedType(input: DsnInput, global: boolean): { type: string; cte: '7bit' | '8bit'; what: string } {
  const full = input.returnContent === 'full';
  const what = full ? 'Original message' : 'Header of the original message';
  if (global) return { type: full ? 'message/global' : 'message/global-headers', cte: '8bit', what };
  const eight = input.content8bit ?? full;
  return { type: full ? 'message/rfc822' : 'text/rfc822-headers', cte: eight ? '8bit' : '7bit', what };
}

/** The local part of Message-ID: dot-atom text only. */
function messageIdLocal(id: string): string {
  const clean = id.replace(/[^A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]/g, '');
  return clean !== '' ? clean : randomBytes(8).toString('hex');
}

/**
 * The notification around the returned content. Throws on no recipients or an empty `to`
 * (callers never bounce to <>). Subject: "Delivery Status Notification: <kind>", a fixed pattern
 * with the RFC 3464 action word that filters can match; the explanation is in the first part.
 */
export function composeDsn(input: DsnInput): DsnParts {
  const to = oneLine(input.to);
  if (input.recipients.length === 0 || to === '') throw new Error('composeDsn needs a sender and at least one recipient');
  const mta = hostName(input.reportingMta);
  const global = input.smtputf8 === true || !isAscii(to);
  // "=_" cannot occur in quoted-printable or base64, and 160 random bits make any other clash moot.
  const boundary = `=_tsmtpd-dsn-${randomBytes(20).toString('hex')}`;
  const human = humanText(input, mta);
  const humanCte = isAscii(human) ? '7bit' : global ? '8bit' : 'quoted-printable';
  const returned = returnedType(input, global);
  const eight = global || humanCte === '8bit' || returned.cte === '8bit';
  const head =
    field('From', `Mail Delivery System <MAILER-DAEMON@${mta}>`) +
    field('To', `<${to}>`) +
    field('Subject', `Delivery Status Notification: ${input.kind}`) +
    field('Date', rfc5322Date(input.now)) +
    field('Message-ID', `<${messageIdLocal(input.messageId)}@${mta}>`) +
    field('MIME-Version', '1.0') +
    field('Auto-Submitted', 'auto-replied') +
    // RFC 6522 section 3: report-type names the subtype of the second part.
    field('Content-Type', `multipart/report; report-type=${global ? 'global-delivery-status' : 'delivery-status'}; boundary="${boundary}"`) +
    (eight ? field('Content-Transfer-Encoding', '8bit') : '') +
    '\nThis is a delivery status notification in MIME format (RFC 3464).\n' +
    `\n--${boundary}\n` +
    field('Content-Type', 'text/plain; charset=utf-8') +
    field('Content-Transfer-Encoding', humanCte) +
    field('Content-Description', 'Notification') +
    `\n${humanCte === 'quoted-printable' ? quotedPrintable(human) : human}` +
    `\n--${boundary}\n` +
    field('Content-Type', global ? 'message/global-delivery-status' : 'message/delivery-status') +
    field('Content-Transfer-Encoding', global ? '8bit' : '7bit') +
    field('Content-Description', 'Delivery report') +
    `\n${statusFields(input, mta, global)}` +
    `\n--${boundary}\n` +
    field('Content-Type', returned.type) +
    field('Content-Transfer-Encoding', returned.cte) +
    field('Content-Description', returned.what) +
    '\n';
  // The LF before the closing delimiter belongs to the delimiter (RFC 2046 5.1.1), so content
  // that ends with a newline or without one comes back unchanged.
  return { head: Buffer.from(head, 'utf8'), tail: Buffer.from(`\n--${boundary}--\n`, 'utf8') };
}
