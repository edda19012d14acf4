// The strict reader of SMTP/LMTP replies (RFC 5321 4.2): bytes from the socket in, whole replies
// out, and one line of text for storing a reply. Anything outside the grammar is a protocol error
// that ends the session (REFERENCE 14.2, CVE-2020-8794: a lax multi-line reader let server text
// inject envelope fields). Pure: the wire (wire.ts) feeds it, the fuzz test drives it directly.
import { toErrorLine } from '@tsmtpd/proto';

/** Longest reply line we take, without its CRLF (RFC 5321 4.5.3.1.5 says 512; servers exceed it). */
export const MAX_REPLY_LINE = 4096;
/** Most `DDD-` lines in one reply (an EHLO reply has a few dozen at most). */
export const MAX_CONTINUATIONS = 100;

export interface Reply {
  code: number;
  /** The text of each line after `DDD-` / `DDD ` ('' for a bare code). */
  lines: string[];
}

export type ParseOutput = { replies: Reply[]; error: string | null };

const LF = 0x0a;
const CR = 0x0d;
const LINE = /^([2-5][0-9][0-9])(?:([ -])(.*))?$/s;
const decoder = new TextDecoder('utf-8');

/** Incremental parser; after the first protocol error it stays failed (the session drops). */
export class ReplyParser {
  private partial: Buffer[] = [];
  private partialLen = 0;
  private code = 0;
  private lines: string[] = [];
  private failed: string | null = null;

  /** Bytes of an unfinished line or reply are waiting. */
  get pending(): boolean {
    return this.partialLen > 0 || this.lines.length > 0;
  }

  push(chunk: Uint8Array): ParseOutput {
    const replies: Reply[] = [];
    if (this.failed !== null) return { replies, error: this.failed };
    const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let pos = 0;
    while (pos < buf.length) {
      const lf = buf.indexOf(LF, pos);
      if (lf < 0) {
        this.partial.push(buf.subarray(pos));
        this.partialLen += buf.length - pos;
        // +1: a CR of the CRLF may already be here; refuse before the LF arrives, not after.
        if (this.partialLen > MAX_REPLY_LINE + 1) return this.fail(replies, 'reply line too long');
        break;
      }
      let line = buf.subarray(pos, lf);
      if (this.partialLen > 0) {
        line = Buffer.concat([...this.partial, line]);
        this.partial = [];
        this.partialLen = 0;
      }
      pos = lf + 1;
      const err = this.line(line, replies);
      if (err !== null) return this.fail(replies, err);
    }
    return { replies, error: null };
  }

  private line(raw: Buffer, out: Reply[]): string | null {
    // CRLF ends a line; a bare LF is tolerated as OpenSMTPD's reader does, a CR inside is not.
    const bytes = raw.length > 0 && raw[raw.length - 1] === CR ? raw.subarray(0, raw.length - 1) : raw;
    if (bytes.length > MAX_REPLY_LINE) return 'reply line too long';
    if (bytes.includes(0)) return 'NUL in reply';
    if (bytes.includes(CR)) return 'CR inside a reply line';
    const text = decoder.decode(bytes);
    const m = LINE.exec(text);
    if (!m) return `malformed reply line ${JSON.stringify(toErrorLine(text, 40))}`;
    const code = Number(m[1]);
    if (this.lines.length > 0 && code !== this.code) return `reply lines with different codes (${this.code}, ${code})`;
    this.code = code;
    this.lines.push(m[3] ?? '');
    if (m[2] === '-') {
      if (this.lines.length > MAX_CONTINUATIONS) return 'reply has too many lines';
      return null;
    }
    out.push({ code, lines: this.lines });
    this.lines = [];
    return null;
  }

  private fail(replies: Reply[], error: string): ParseOutput {
    this.failed = error;
    this.partial = [];
    this.partialLen = 0;
    this.lines = [];
    return { replies, error };
  }
}

const ENHANCED = /^([245])\.([0-9]{1,3})\.([0-9]{1,3})(?= |$)/;

/** The enhanced status code (RFC 3463) a reply starts with, when its class matches the code's. */
export function enhancedCode(r: Reply): string | null {
  const m = ENHANCED.exec(r.lines[0] ?? '');
  if (!m || Number(m[1]) !== Math.floor(r.code / 100)) return null;
  return m[0];
}

/**
 * The reply as one storable line: `550 5.1.1 text of line one text of line two`, CR/LF/NUL and
 * other controls removed, at most 512 characters. An enhanced code repeated on each continuation
 * line is kept only once.
 */
export function replyLine(r: Reply): string {
  const enh = enhancedCode(r);
  const parts = r.lines.map((l, i) => (i > 0 && enh !== null && l.startsWith(`${enh} `) ? l.slice(enh.length + 1) : l));
  return toErrorLine(`${r.code} ${parts.join(' ')}`.replace(/\s+/g, ' ').trim());
}

export type ReplyClass = 'ok' | 'intermediate' | 'tempfail' | 'permfail';

/** 2xx ok, 3xx intermediate (354, 334), 4xx temporary, 5xx permanent (REFERENCE 6.5). */
export function replyClass(r: Reply): ReplyClass {
  if (r.code < 300) return 'ok';
  if (r.code < 400) return 'intermediate';
  return r.code < 500 ? 'tempfail' : 'permfail';
}
