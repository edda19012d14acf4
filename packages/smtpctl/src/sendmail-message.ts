// The message as sendmail(8) submits it (REFERENCE 2.2): the header section read line by line,
// recipients taken from To/Cc/Bcc with -t, the envelope sender from From: when no -f is given
// (OpenSMTPD's choice), Bcc and Return-Path and mbox "From " lines removed, From/Date/Message-ID
// added when missing, and a body with lines of 990 bytes or more sent quoted-printable.
import { randomBytes } from 'node:crypto';
import addressparser from 'nodemailer/lib/addressparser';
import { encodeWord } from 'nodemailer/lib/mime-funcs';
import { encode as qpEncode, wrap as qpWrap } from 'nodemailer/lib/qp';

/** Lines this long or longer (without the line end) are over SMTP's 1000 (RFC 5321 4.5.3.1.6). */
export const LINESPLIT = 990;

export interface HeaderField {
  /** Lower-case field name. */
  name: string;
  /** The field's lines, LF-terminated, as read. */
  lines: string[];
}

export interface ParsedMessage {
  fields: HeaderField[];
  /** Everything after the header section, LF line ends. */
  body: Buffer;
  /** No header field at all: the whole input is body. */
  noHeader: boolean;
  /** Some line (header or body) is LINESPLIT bytes or longer. */
  longLines: boolean;
}

/** CRLF -> LF, and a final line without a line end gets one. */
export function normalizeLines(input: Buffer): Buffer {
  let s = input.toString('latin1').replace(/\r\n/g, '\n');
  if (s.length > 0 && !s.endsWith('\n')) s += '\n';
  return Buffer.from(s, 'latin1');
}

function fieldName(line: string): string | null {
  const m = /^([\x21-\x39\x3b-\x7e]+):/.exec(line);
  return m ? (m[1] as string).toLowerCase() : null;
}

/** Split the input into its header fields and body. Latin-1 strings keep bytes as they are. */
export function parseMessage(input: Buffer): ParsedMessage {
  const text = normalizeLines(input).toString('latin1');
  const fields: HeaderField[] = [];
  let pos = 0;
  let longLines = false;
  while (pos < text.length) {
    const nl = text.indexOf('\n', pos);
    const line = text.slice(pos, nl + 1);
    if (line === '\n') {
      pos = nl + 1; // the separator is consumed; we write our own
      break;
    }
    if (/^from /i.test(line) && fields.length === 0) {
      pos = nl + 1; // an mbox "From " line: not a header field
      continue;
    }
    const name = fieldName(line);
    const last = fields[fields.length - 1];
    if (name !== null) fields.push({ name, lines: [line] });
    else if ((line[0] === ' ' || line[0] === '\t') && last) last.lines.push(line);
    else break; // not a header line: the body starts here
    if (line.length - 1 >= LINESPLIT) longLines = true;
    pos = nl + 1;
  }
  const body = Buffer.from(text.slice(pos), 'latin1');
  if (!longLines) longLines = hasLongLine(body);
  return { fields, body, noHeader: fields.length === 0, longLines };
}

function hasLongLine(b: Buffer): boolean {
  let start = 0;
  for (let nl = b.indexOf(0x0a); nl !== -1; nl = b.indexOf(0x0a, start)) {
    if (nl - start >= LINESPLIT) return true;
    start = nl + 1;
  }
  return b.length - start >= LINESPLIT;
}

/** A field's value: the text after the colon, unfolded. */
export function fieldValue(f: HeaderField): string {
  const raw = f.lines.join('');
  return raw.slice(raw.indexOf(':') + 1).replace(/\n[ \t]/g, ' ').replace(/\n$/, '').trim();
}

/** A bare local part ("root"): addressparser reads it as a display name. */
const BARE_LOCAL = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+$/;

/** The addresses of an address-list field (RFC 5322 3.4), groups flattened. */
export function addressesOf(value: string): string[] {
  // Header bytes were read as Latin-1; an address in UTF-8 comes back as UTF-8 here.
  const utf8 = Buffer.from(value, 'latin1').toString('utf8');
  const out: string[] = [];
  for (const a of addressparser(utf8, { flatten: true })) {
    if (a.address) out.push(a.address);
    else if (BARE_LOCAL.test(a.name)) out.push(a.name);
  }
  return out;
}

/** "user" -> "user@host"; an address with a domain, or the null sender, stays as it is. */
export function qualify(address: string, host: string): string {
  return address !== '' && !address.includes('@') ? `${address}@${host}` : address;
}

export interface Submission {
  sender: string;
  recipients: string[];
}

/**
 * The envelope: `-f` (without its angle brackets) else the From: field's first address else the
 * login name; recipients from the command line (comma-separated lists allowed) and, with -t, from
 * To/Cc/Bcc. Every address is qualified with `host`; duplicates are dropped.
 */
export function envelopeOf(m: ParsedMessage, o: { from?: string; login: string; host: string; tflag: boolean; argv: string[] }): Submission {
  let sender = o.from !== undefined ? stripBrackets(o.from) : undefined;
  if (sender === undefined) {
    const from = m.fields.find((f) => f.name === 'from');
    sender = (from ? addressesOf(fieldValue(from))[0] : undefined) ?? o.login;
  }
  const wanted: string[] = o.argv.flatMap((a) => a.split(',')).map((a) => stripBrackets(a.trim())).filter((a) => a !== '');
  if (o.tflag) {
    for (const f of m.fields) if (f.name === 'to' || f.name === 'cc' || f.name === 'bcc') wanted.push(...addressesOf(fieldValue(f)));
  }
  const seen = new Set<string>();
  const recipients: string[] = [];
  for (const r of wanted.map((a) => qualify(a, o.host))) {
    if (seen.has(r.toLowerCase())) continue;
    seen.add(r.toLowerCase());
    recipients.push(r);
  }
  return { sender: qualify(sender, o.host), recipients };
}

/** "<a@b>" -> "a@b" (sendmail -f accepts both forms). */
export function stripBrackets(a: string): string {
  return a.startsWith('<') && a.endsWith('>') ? a.slice(1, -1) : a;
}

/** A display name as a phrase: plain atoms as they are, else quoted, non-ASCII as RFC 2047. */
export function displayName(name: string): string {
  if (/[^\x20-\x7e]/.test(name)) return encodeWord(name, 'Q', 52);
  if (/^[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]+$/.test(name)) return name;
  return `"${name.replace(/(["\\])/g, '\\$1')}"`;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => String(n).padStart(2, '0');

/** RFC 5322 3.3 date-time in local time: "Wed, 2 Dec 2026 03:20:35 +0000". */
export function rfc5322Date(d: Date): string {
  const off = -d.getTimezoneOffset();
  const zone = `${off < 0 ? '-' : '+'}${pad(Math.floor(Math.abs(off) / 60))}${pad(Math.abs(off) % 60)}`;
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return `${DAYS[d.getDay()]}, ${d.getDate()} ${MONTHS[d.getMonth()]} ${d.getFullYear()} ${time} ${zone}`;
}

export interface ComposeOptions {
  sender: string;
  fullName?: string;
  date: Date;
  host: string;
}

const DROPPED = new Set(['bcc', 'return-path']);

/** The message to send (LF line ends): our additions, the kept fields, then the body. */
export function composeMessage(m: ParsedMessage, o: ComposeOptions): Buffer {
  const has = (n: string) => m.fields.some((f) => f.name === n);
  const head: string[] = [];
  for (const f of m.fields) if (!DROPPED.has(f.name)) head.push(foldLong(f.lines.join('')));
  if (!has('from')) head.push(`From: ${o.fullName ? `${displayName(o.fullName)} ` : ''}<${o.sender}>\n`);
  if (!has('date')) head.push(`Date: ${rfc5322Date(o.date)}\n`);
  if (!has('message-id')) head.push(`Message-ID: <${Date.now().toString(36)}.${randomBytes(8).toString('hex')}@${o.host}>\n`);
  let body = m.body;
  if (m.longLines && quotablePart(m)) {
    // The encoder wants CRLF line ends to see hard line breaks; we store LF.
    const crlf = Buffer.from(body.toString('latin1').replace(/\n/g, '\r\n'), 'latin1');
    body = Buffer.from(qpWrap(qpEncode(crlf), 76).replace(/\r\n/g, '\n'), 'latin1');
    const kept = head.filter((h) => !/^content-transfer-encoding:/i.test(h));
    head.length = 0;
    head.push(...kept);
    if (!has('mime-version')) head.push('MIME-Version: 1.0\n');
    if (!has('content-type')) head.push(`Content-Type: text/plain; charset=${charsetOf(m.body)}\n`);
    head.push('Content-Transfer-Encoding: quoted-printable\n');
  }
  return Buffer.concat([Buffer.from(head.join('') + '\n', 'latin1'), body]);
}

/**
 * Only a single part without an encoding of its own (or 7bit/8bit) can be re-encoded: a
 * multipart body must stay 7bit/8bit/binary (RFC 2045 6.4), so it is sent as it is.
 */
function quotablePart(m: ParsedMessage): boolean {
  const ct = m.fields.find((f) => f.name === 'content-type');
  if (ct && /^\s*(multipart|message)\//i.test(fieldValue(ct))) return false;
  const cte = m.fields.find((f) => f.name === 'content-transfer-encoding');
  return !cte || /^(7bit|8bit)$/i.test(fieldValue(cte));
}

function charsetOf(body: Buffer): string {
  if (!/[^\x00-\x7f]/.test(body.toString('latin1'))) return 'us-ascii';
  return Buffer.from(body.toString('utf8'), 'utf8').equals(body) ? 'utf-8' : 'unknown-8bit';
}

/** A header line over the limit is folded at its last spaces before it (RFC 5322 2.2.3). */
function foldLong(field: string): string {
  return field
    .split(/(?<=\n)/)
    .map((line) => {
      let out = '';
      let rest = line;
      while (rest.length - 1 >= LINESPLIT) {
        const cut = rest.lastIndexOf(' ', LINESPLIT - 1);
        if (cut <= 0) break; // no place to fold: sent as it is
        out += rest.slice(0, cut) + '\n';
        rest = rest.slice(cut);
      }
      return out + rest;
    })
    .join('');
}
