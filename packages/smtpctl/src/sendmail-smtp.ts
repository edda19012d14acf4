// The small, strict SMTP client sendmail speaks to the daemon's local enqueue socket: one
// command, then its whole reply (no pipelining), every reply parsed strictly (three digits, one
// code across a multi-line reply, bounded length and count), a deadline on every wait.
import { connect, type Socket } from 'node:net';

export interface SmtpReply {
  code: number;
  lines: string[];
}

export class SmtpError extends Error {
  constructor(
    message: string,
    readonly reply?: SmtpReply,
  ) {
    super(message);
  }
}

const MAX_LINE = 4096;
const MAX_LINES = 200;
export const REPLY_TIMEOUT_MS = 300_000;

/** "250-x" / "250 x" / "250": the code, whether more lines follow, and the text. */
export function parseReplyLine(line: string): { code: number; more: boolean; text: string } | null {
  const m = /^([2-5][0-9][0-9])([ -]|$)(.*)$/.exec(line);
  if (!m) return null;
  return { code: Number(m[1]), more: m[2] === '-', text: m[3] ?? '' };
}

export class SmtpClient {
  private buf = '';
  private waiting: (() => void) | null = null;
  private failure: Error | null = null;

  private constructor(
    private readonly sock: Socket,
    private readonly trace: ((line: string) => void) | null,
  ) {
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      this.buf += d;
      if (this.buf.length > MAX_LINE * MAX_LINES) this.fail(new SmtpError('reply too long'));
      this.wake();
    });
    sock.on('error', (e) => this.fail(e));
    sock.on('close', () => this.fail(new SmtpError('connection closed by the server')));
  }

  /** Connect to the unix socket; rejects with the system error (ENOENT, ECONNREFUSED, ...). */
  static open(path: string, trace: ((line: string) => void) | null, timeoutMs = 10_000): Promise<SmtpClient> {
    return new Promise((resolve, reject) => {
      const sock = connect(path);
      const timer = setTimeout(() => {
        sock.destroy();
        reject(Object.assign(new Error(`${path}: connect timed out`), { code: 'ETIMEDOUT' }));
      }, timeoutMs);
      sock.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      sock.once('connect', () => {
        clearTimeout(timer);
        sock.removeAllListeners('error');
        resolve(new SmtpClient(sock, trace));
      });
    });
  }

  private fail(e: Error): void {
    this.failure ??= e;
    this.wake();
  }

  private wake(): void {
    const w = this.waiting;
    this.waiting = null;
    w?.();
  }

  private async line(deadline: number): Promise<string> {
    for (;;) {
      const nl = this.buf.indexOf('\n');
      if (nl !== -1) {
        const line = this.buf.slice(0, nl).replace(/\r$/, '');
        this.buf = this.buf.slice(nl + 1);
        if (line.length > MAX_LINE) throw new SmtpError('reply line too long');
        return line;
      }
      if (this.failure) throw this.failure;
      const left = deadline - Date.now();
      if (left <= 0) throw new SmtpError('timed out waiting for the server');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiting = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /** The next whole reply. */
  async reply(timeoutMs = REPLY_TIMEOUT_MS): Promise<SmtpReply> {
    const deadline = Date.now() + timeoutMs;
    const lines: string[] = [];
    let code = 0;
    for (;;) {
      const raw = await this.line(deadline);
      this.trace?.(`<<< ${raw}`);
      const p = parseReplyLine(raw);
      if (!p || (code !== 0 && p.code !== code)) throw new SmtpError(`bad reply from the server: ${JSON.stringify(raw.slice(0, 200))}`);
      code = p.code;
      lines.push(p.text);
      if (lines.length > MAX_LINES) throw new SmtpError('reply has too many lines');
      if (!p.more) return { code, lines };
    }
  }

  private write(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      this.sock.write(data, (e) => (e ? reject(e) : resolve()));
    });
  }

  /** Send one command line and wait for its reply; a reply not 2xx/3xx throws with it. */
  async command(line: string, timeoutMs = REPLY_TIMEOUT_MS): Promise<SmtpReply> {
    this.trace?.(`>>> ${line}`);
    await this.write(`${line}\r\n`);
    return expectOk(await this.reply(timeoutMs), line);
  }

  /** The message (LF line ends) dot-stuffed with CRLF, then the final dot and its reply. */
  async data(message: Buffer, timeoutMs = REPLY_TIMEOUT_MS): Promise<SmtpReply> {
    const CHUNK = 64 * 1024;
    let start = 0;
    let pending = '';
    const text = message.toString('latin1');
    while (start < text.length) {
      const end = Math.min(text.length, start + CHUNK);
      const nl = text.indexOf('\n', end - 1);
      const stop = nl === -1 ? text.length : nl + 1;
      pending = text.slice(start, stop).replace(/^\./gm, '..').replace(/\n/g, '\r\n');
      await this.write(Buffer.from(pending, 'latin1'));
      start = stop;
    }
    this.trace?.('>>> .');
    await this.write('.\r\n');
    return expectOk(await this.reply(timeoutMs), 'end of data');
  }

  close(): void {
    this.sock.destroy();
  }
}

function expectOk(r: SmtpReply, what: string): SmtpReply {
  if (r.code >= 400) throw new SmtpError(`${what.split(':')[0]}: ${r.code} ${r.lines.join(' ')}`, r);
  return r;
}
