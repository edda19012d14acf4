// The headers a local delivery adds (Return-Path, Delivered-To) and what it reads from the
// stored header block before delivering: Delivered-To values (loop detection, REFERENCE 8.1)
// and the X-Spam flags (`maildir junk`). Pure functions over bytes; used by the runner.

/**
 * `Return-Path: <sender>` then `Delivered-To: dest`, LF line endings like the stored body.
 * The null sender is written `Return-Path: <>` (RFC 5321 4.4); OpenSMTPD omits the header.
 */
export function deliveryPrefix(sender: string, dest: string): Buffer {
  return Buffer.from(`Return-Path: <${sender}>\nDelivered-To: ${dest}\n`, 'utf8');
}

export interface HeaderInfo {
  /** Delivered-To values, lowercased, angle brackets removed. */
  deliveredTo: Set<string>;
  /** An `X-Spam: yes` or `X-Spam-Flag: yes` header is present. */
  spam: boolean;
  /** The header block ended within the scan limit. */
  complete: boolean;
}

/** How much of a message is scanned for its header block. */
export const HEADER_SCAN_LIMIT = 1024 * 1024;

function normaliseAddress(value: string): string {
  let v = value.trim();
  if (v.startsWith('<') && v.endsWith('>')) v = v.slice(1, -1).trim();
  return v.toLowerCase();
}

/** Parse the fields of a header block (LF endings, folded lines joined). */
export function parseHeaderBlock(text: string, complete: boolean): HeaderInfo {
  const info: HeaderInfo = { deliveredTo: new Set(), spam: false, complete };
  const fields: string[] = [];
  for (const line of text.split('\n')) {
    if (line === '') break;
    if ((line.startsWith(' ') || line.startsWith('\t')) && fields.length > 0) fields[fields.length - 1] += ' ' + line.trim();
    else fields.push(line);
  }
  for (const f of fields) {
    const colon = f.indexOf(':');
    if (colon <= 0) continue;
    const name = f.slice(0, colon).trim().toLowerCase();
    const value = f.slice(colon + 1);
    if (name === 'delivered-to') info.deliveredTo.add(normaliseAddress(value));
    else if ((name === 'x-spam' || name === 'x-spam-flag') && /^\s*yes\b/i.test(value)) info.spam = true;
  }
  return info;
}

/**
 * Collects the beginning of a message until the header block has ended (an empty line) or the
 * scan limit is reached. Feed it chunks in order; `done` tells when to stop feeding.
 */
export class HeaderScanner {
  private readonly parts: Buffer[] = [];
  private size = 0;
  private end = -1;

  get done(): boolean {
    return this.end >= 0 || this.size >= HEADER_SCAN_LIMIT;
  }

  feed(chunk: Uint8Array): void {
    if (this.done) return;
    const prevTail = this.parts.length > 0 ? this.parts[this.parts.length - 1]!.subarray(-1) : Buffer.alloc(0);
    const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.parts.push(buf);
    const start = this.size;
    this.size += buf.length;
    // The block ends at the first empty line: a "\n" at offset 0, or "\n\n" anywhere.
    if (start === 0 && buf[0] === 0x0a) {
      this.end = 0;
      return;
    }
    if (prevTail.length === 1 && prevTail[0] === 0x0a && buf[0] === 0x0a) {
      this.end = start;
      return;
    }
    const i = buf.indexOf('\n\n');
    if (i >= 0) this.end = start + i + 1;
  }

  result(): HeaderInfo {
    // Only the header block is copied: a one-chunk message would otherwise be copied whole.
    const limit = this.end >= 0 ? this.end : Math.min(this.size, HEADER_SCAN_LIMIT);
    const first = this.parts[0];
    const head = first && first.length >= limit ? first.subarray(0, limit) : Buffer.concat(this.parts, this.size).subarray(0, limit);
    return parseHeaderBlock(head.toString('utf8'), this.end >= 0);
  }
}

/** A Delivered-To header equal to the destination: the message is looping (5.4.6). */
export function isLoop(info: HeaderInfo, dest: string): boolean {
  return info.deliveredTo.has(dest.toLowerCase());
}
