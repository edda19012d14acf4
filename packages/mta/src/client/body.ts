// The message body on the wire (RFC 5321 4.5.2): the stored form (LF line ends) becomes CRLF
// lines with dot-stuffing, streaming chunk by chunk with bounded memory, and the last piece of
// the body leaves in the same write as the final `.\r\n` (STACK 8: Nagle and delayed ACK cost
// 40 ms a message when the dot goes alone). Used by transaction.ts.
import type { Wire, WireResult } from './wire.js';

const LF = 0x0a;
const CR = 0x0d;
const DOT = 0x2e;
const CRLF_BUF = Buffer.from('\r\n');
const DOT_BUF = Buffer.from('.');

/**
 * LF to CRLF and a dot doubled at the start of each line, across chunk boundaries. A bare CR
 * (RFC 5321 2.3.8: CR and LF only together) is sent as CRLF too, and a stored CRLF stays one line
 * end, so no byte sequence of the body can end the data early at a lenient receiver (smuggling).
 */
export class BodyEncoder {
  private atLineStart = true;
  /** The previous chunk ended in CR: an LF that starts this one belongs to that line end. */
  private skipLf = false;

  encode(chunk: Uint8Array): Buffer {
    const src = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const out: Buffer[] = [];
    const n = src.length;
    let pos = 0;
    // Next LF / CR at or after pos; -1 none left. Kept across iterations so the scan is linear.
    let nextLf = -2;
    let nextCr = -2;
    while (pos < n) {
      if (this.skipLf) {
        this.skipLf = false;
        if (src[pos] === LF) {
          pos++;
          continue;
        }
      }
      if (this.atLineStart) {
        this.atLineStart = false;
        if (src[pos] === DOT) out.push(DOT_BUF);
      }
      if (nextLf !== -1 && nextLf < pos) nextLf = src.indexOf(LF, pos);
      if (nextCr !== -1 && nextCr < pos) nextCr = src.indexOf(CR, pos);
      const eol = nextLf === -1 ? nextCr : nextCr === -1 ? nextLf : Math.min(nextLf, nextCr);
      if (eol === -1) {
        out.push(src.subarray(pos));
        break;
      }
      if (eol > pos) out.push(src.subarray(pos, eol));
      out.push(CRLF_BUF);
      this.atLineStart = true;
      this.skipLf = src[eol] === CR;
      pos = eol + 1;
    }
    return out.length === 1 ? out[0]! : Buffer.concat(out);
  }

  /** The end of data: a line end if the body lacked a final one, then the lone dot. */
  finish(): Buffer {
    return Buffer.from(this.atLineStart ? '.\r\n' : '\r\n.\r\n');
  }
}

/** Encoded bytes gathered before a write: fewer syscalls, memory still bounded. */
export const WRITE_BATCH = 64 * 1024;

export type BodyResult = WireResult<void> & { bodyError?: boolean };

/**
 * Stream the body and the end-of-data dot. A body that cannot be read is reported with
 * `bodyError`: the caller must drop the connection, never end the data (that would deliver a
 * truncated message).
 */
export async function writeBody(wire: Wire, body: AsyncIterable<Uint8Array>, timeoutMs: number): Promise<BodyResult> {
  const enc = new BodyEncoder();
  let batch: Buffer[] = [];
  let batchLen = 0;
  try {
    for await (const chunk of body) {
      const b = enc.encode(chunk);
      if (b.length === 0) continue;
      batch.push(b);
      batchLen += b.length;
      if (batchLen < WRITE_BATCH) continue;
      const w = await wire.write(batch.length === 1 ? batch[0]! : Buffer.concat(batch, batchLen), timeoutMs);
      batch = [];
      batchLen = 0;
      if (!w.ok) return w;
    }
  } catch (e) {
    return { ok: false, reason: `cannot read the message body: ${(e as Error).message}`, bodyError: true };
  }
  batch.push(enc.finish());
  return wire.write(Buffer.concat(batch), timeoutMs);
}
