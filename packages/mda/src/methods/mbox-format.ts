// The mbox format as mail.local writes it (REFERENCE 8.2): a `From sender asctime` line,
// body lines matching /^>*From / quoted with one more '>' (mboxrd), a blank line after the
// message. Pure byte transforms, streaming across chunk boundaries; used by mbox.ts.

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** asctime(3) of the local time: `Sun Nov  2 15:13:05 2026`. */
export function asctime(d: Date): string {
  const p2 = (n: number) => String(n).padStart(2, '0');
  const day = String(d.getDate()).padStart(2, ' ');
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${day} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())} ${d.getFullYear()}`;
}

/** The envelope line that starts a message in an mbox. */
export function mboxFromLine(sender: string, date: Date): string {
  return `From ${sender === '' ? 'MAILER-DAEMON' : sender} ${asctime(date)}\n`;
}

const FROM = Buffer.from('From ');
const GT = 0x3e;
const LF = 0x0a;
const QUOTE = Buffer.from('>');

/** True when `b` (a line start) could still turn into />*From / with more bytes. */
function couldBecomeFrom(b: Uint8Array): boolean {
  let i = 0;
  while (i < b.length && b[i] === GT) i++;
  for (let j = 0; i + j < b.length; j++) if (j >= FROM.length || b[i + j] !== FROM[j]) return false;
  return true;
}

/** True when the line starting at `pos` begins with />*From /. */
function startsWithFrom(b: Uint8Array, pos: number): boolean {
  let i = pos;
  while (i < b.length && b[i] === GT) i++;
  if (i + FROM.length > b.length) return false;
  for (let j = 0; j < FROM.length; j++) if (b[i + j] !== FROM[j]) return false;
  return true;
}

/**
 * Quotes `From ` lines of a stream. A line start that may still become one is held back
 * until the next chunk (at most the length of `>>>From`), so memory stays bounded by that.
 */
export class FromQuoter {
  private carry: Buffer | null = null;
  private atLineStart = true;
  private last = LF;

  /** Quote one chunk; returns the bytes to write (possibly empty). */
  push(chunk: Uint8Array): Buffer {
    const data = this.carry ? Buffer.concat([this.carry, chunk]) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.carry = null;
    const out: Buffer[] = [];
    let pos = 0;
    let runStart = 0;
    while (pos < data.length) {
      if (this.atLineStart) {
        const eol = data.indexOf(LF, pos);
        const lineEnd = eol < 0 ? data.length : eol;
        if (eol < 0 && couldBecomeFrom(data.subarray(pos, lineEnd))) {
          out.push(data.subarray(runStart, pos));
          this.carry = Buffer.from(data.subarray(pos));
          return this.finish(out);
        }
        if (startsWithFrom(data.subarray(0, lineEnd), pos)) {
          out.push(data.subarray(runStart, pos), QUOTE);
          runStart = pos;
        }
        this.atLineStart = false;
      }
      const eol = data.indexOf(LF, pos);
      if (eol < 0) break;
      pos = eol + 1;
      this.atLineStart = true;
    }
    out.push(data.subarray(runStart));
    return this.finish(out);
  }

  private finish(out: Buffer[]): Buffer {
    const b = Buffer.concat(out);
    if (b.length > 0) this.last = b[b.length - 1]!;
    return b;
  }

  /** The bytes ending the message: held-back text, a missing final newline, the blank line. */
  end(): Buffer {
    const held = this.carry ?? Buffer.alloc(0);
    this.carry = null;
    if (held.length > 0) this.last = held[held.length - 1]!;
    return Buffer.concat([held, Buffer.from(this.last === LF ? '\n' : '\n\n')]);
  }
}
