// The message bytes between DATA and the final dot, as stored: CRLF line ends become LF
// (LfNormalizer), and the header section is filtered (HeaderFilter): Bcc removed, Received
// counted for loop detection, Message-ID/Date added for local submissions, From: masqueraded
// (`senders ... masquerade`). Only the header block is ever held in memory, and only up to a
// cap; the body streams through.

import { masqueradeFrom } from './masquerade.js';

const CR = 0x0d;
const LF = 0x0a;
const EMPTY = Buffer.alloc(0);
const CR_BYTE = Buffer.from([CR]);

/**
 * Streaming CRLF → LF. A bare CR or a bare LF is content and stays as it is. The chunk is
 * rewritten in place (each line moved left over the CRs before it) and a view of it returned:
 * the data stream hands every chunk to us alone, and a view per line plus a concatenation cost
 * a thousand small objects per 64 KiB.
 */
export class LfNormalizer {
  private heldCr = false;

  push(chunk: Buffer): Buffer {
    if (chunk.length === 0) return EMPTY;
    let lead = false;
    if (this.heldCr) {
      this.heldCr = false;
      lead = chunk[0] !== LF;
    }
    let out = 0;
    let start = 0;
    const keep = (end: number): void => {
      if (out !== start) chunk.copyWithin(out, start, end);
      out += end - start;
    };
    for (let i = chunk.indexOf(CR); i !== -1; i = chunk.indexOf(CR, i + 1)) {
      if (i === chunk.length - 1) {
        keep(i);
        start = chunk.length;
        this.heldCr = true;
        break;
      }
      if (chunk[i + 1] === LF) {
        keep(i);
        start = i + 1;
      }
    }
    if (start < chunk.length) keep(chunk.length);
    const body = chunk.subarray(0, out);
    // A CR that ended the last chunk and is not followed by LF is content after all.
    return lead ? Buffer.concat([CR_BYTE, body]) : body;
  }

  /** The CR held back at the end, if the data ended on one. */
  end(): Buffer {
    if (!this.heldCr) return EMPTY;
    this.heldCr = false;
    return Buffer.from(CR_BYTE);
  }
}

export interface HeaderFilterOptions {
  /** Cap of the header section in bytes; above it the message is refused. */
  maxHeaderBytes: number;
  /** This many Received fields or more is a loop (REFERENCE 1.9: 100). */
  maxReceived: number;
  /** Fields to add when the message has none of that name (local submissions). */
  addIfMissing?: { messageId: string; date: string };
  /** `senders ... masquerade`: the From: addresses become this envelope sender. */
  masquerade?: string;
}

export type HeaderVerdict = 'pending' | 'ok' | 'loop' | 'too-big';

interface Field {
  /** Lower-case field name. */
  name: string;
  lines: Buffer[];
}

/** Field name: printable US-ASCII except colon (RFC 5322 2.2). */
function fieldName(line: Buffer): string | null {
  const colon = line.indexOf(0x3a);
  if (colon <= 0) return null;
  for (let i = 0; i < colon; i++) {
    const c = line[i] as number;
    if (c < 0x21 || c > 0x7e) return null;
  }
  return line.toString('latin1', 0, colon).toLowerCase();
}

/**
 * Reads the header section line by line (input already LF-normalised) until the blank
 * line, or the first line that is neither a field nor a continuation (then the rest is
 * body as it stands), and emits the filtered section followed by everything after it.
 */
export class HeaderFilter {
  verdict: HeaderVerdict = 'pending';
  /** Received fields seen. */
  received = 0;
  private readonly fields: Field[] = [];
  private pending: Buffer = EMPTY;
  private bytes = 0;

  constructor(private readonly opts: HeaderFilterOptions) {}

  /** Feed bytes; returns what may go downstream now (nothing while in the header section). */
  push(buf: Buffer): Buffer[] {
    if (this.verdict === 'ok') return buf.length ? [buf] : [];
    if (this.verdict !== 'pending') return [];
    const data = this.pending.length ? Buffer.concat([this.pending, buf]) : buf;
    let pos = 0;
    for (let nl = data.indexOf(LF, pos); nl !== -1; nl = data.indexOf(LF, pos)) {
      const line = data.subarray(pos, nl + 1);
      if (!this.takeLine(line)) return this.finish(data.subarray(pos));
      pos = nl + 1;
      if (this.verdict !== 'pending') return [];
    }
    this.pending = data.subarray(pos);
    if (this.bytes + this.pending.length > this.opts.maxHeaderBytes) this.verdict = 'too-big';
    return [];
  }

  /** End of data: whatever is still held goes out (a section with no body at all). */
  end(): Buffer[] {
    if (this.verdict !== 'pending') return [];
    const rest = this.pending;
    this.pending = EMPTY;
    return this.finish(rest);
  }

  /** Adds a header line; false when the line does not belong to the header section. */
  private takeLine(line: Buffer): boolean {
    const first = line[0];
    if (line.length === 1) return false; // the blank separator line
    if (first === 0x20 || first === 0x09) {
      const last = this.fields[this.fields.length - 1];
      if (!last) return false;
      last.lines.push(line);
    } else {
      const name = fieldName(line);
      if (name === null) return false;
      if (name === 'received') this.received++;
      this.fields.push({ name, lines: [line] });
    }
    this.bytes += line.length;
    if (this.bytes > this.opts.maxHeaderBytes) this.verdict = 'too-big';
    return true;
  }

  private finish(rest: Buffer): Buffer[] {
    if (this.received >= this.opts.maxReceived) {
      this.verdict = 'loop';
      return [];
    }
    this.verdict = 'ok';
    const out: Buffer[] = [];
    const masq = this.opts.masquerade;
    for (const f of this.fields) {
      if (f.name === 'bcc') continue;
      if (f.name === 'from' && masq !== undefined) {
        // latin1 keeps the header's bytes as they are; the sender is UTF-8 (SMTPUTF8).
        const text = Buffer.concat(f.lines).toString('latin1');
        out.push(Buffer.from(masqueradeFrom(text, Buffer.from(masq, 'utf8').toString('latin1')), 'latin1'));
      } else out.push(...f.lines);
    }
    const added = this.missingFields();
    if (added) {
      out.push(Buffer.from(added));
      // A message with no header at all gets the separator, so its first line stays body.
      if (this.fields.length === 0 && rest.length > 0 && rest[0] !== LF) out.push(Buffer.from('\n'));
    }
    if (rest.length) out.push(rest);
    this.fields.length = 0;
    return out;
  }

  private missingFields(): string {
    const add = this.opts.addIfMissing;
    if (!add) return '';
    const has = (n: string) => this.fields.some((f) => f.name === n);
    let s = '';
    if (!has('message-id')) s += `Message-ID: ${add.messageId}\n`;
    if (!has('date')) s += `Date: ${add.date}\n`;
    return s;
  }
}
