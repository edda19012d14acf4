// A strict reader of SMTP/LMTP replies (RFC 5321 4.2, RFC 2033) from a socket. Bounded:
// overlong lines, replies with too many lines, malformed lines, mixed codes and control
// characters are refused (REFERENCE 14: CVE-2020-8794 came from a lax multi-line parser).
// Used by the lmtp client only.
import type { Socket } from 'node:net';

export interface Reply {
  code: number;
  /** Text of each line, without the code and separator. */
  lines: string[];
}

export class LmtpError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LmtpError';
  }
}

/** RFC 5321 4.5.3.1.5 says 512 octets with CRLF; servers exceed it a little, we allow 2 KiB. */
export const MAX_REPLY_LINE = 2048;
export const MAX_REPLY_LINES = 100;

const LINE = /^([2-5][0-9][0-9])(?:([ -])(.*))?$/;

/** Parse one reply line; null when malformed. */
export function parseReplyLine(line: string): { code: number; more: boolean; text: string } | null {
  if (line.length > MAX_REPLY_LINE || /[\x00-\x08\x0a-\x1f\x7f]/.test(line)) return null;
  const m = LINE.exec(line);
  if (!m) return null;
  return { code: Number(m[1]), more: m[2] === '-', text: m[3] ?? '' };
}

/** One line of a reply for an error text: `550 5.1.1 text ...` (lines joined by spaces). */
export function replyText(r: Reply): string {
  return `${r.code} ${r.lines.join(' ')}`.trim();
}

export class ReplyReader {
  private buf = '';
  private readonly lines: string[] = [];
  private waiter: (() => void) | null = null;
  private closedReason: string | null = null;
  private fatal: string | null = null;

  constructor(socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (s: string) => {
      if (this.fatal !== null) return;
      this.buf += s;
      let i: number;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        this.lines.push(this.buf.slice(0, i).replace(/\r$/, ''));
        this.buf = this.buf.slice(i + 1);
      }
      if (this.buf.length > MAX_REPLY_LINE) this.fail('reply line too long');
      // A server talking without being asked: stop buffering it.
      if (this.lines.length > 4 * MAX_REPLY_LINES) this.fail('too many unsolicited reply lines');
      this.wake();
    });
    socket.on('close', () => this.close('connection closed'));
    socket.on('error', (e) => this.close(`connection error: ${e.message}`));
  }

  private close(reason: string): void {
    this.closedReason ??= reason;
    this.wake();
  }

  /** A protocol violation: drop what was buffered, every later read fails. */
  private fail(reason: string): void {
    this.fatal ??= reason;
    this.lines.length = 0;
    this.buf = '';
    this.close(reason);
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  private async line(deadline: number): Promise<string> {
    for (;;) {
      if (this.fatal !== null) throw new LmtpError(this.fatal);
      const l = this.lines.shift();
      if (l !== undefined) return l;
      if (this.closedReason !== null) throw new LmtpError(this.closedReason);
      const left = deadline - Date.now();
      if (left <= 0) throw new LmtpError('timeout waiting for a reply');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /** The next complete reply; throws LmtpError on timeout, close or a malformed reply. */
  async next(timeoutMs: number): Promise<Reply> {
    const deadline = Date.now() + timeoutMs;
    const lines: string[] = [];
    let code = 0;
    for (;;) {
      const raw = await this.line(deadline);
      const p = parseReplyLine(raw);
      if (!p) throw new LmtpError(`malformed reply line: ${JSON.stringify(raw.slice(0, 80))}`);
      if (lines.length > 0 && p.code !== code) throw new LmtpError('reply lines with different codes');
      code = p.code;
      lines.push(p.text);
      if (!p.more) return { code, lines };
      if (lines.length >= MAX_REPLY_LINES) throw new LmtpError('reply has too many lines');
    }
  }
}
