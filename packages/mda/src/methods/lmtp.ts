// `lmtp DEST [rcpt-to]` delivery (RFC 2033, REFERENCE 8.2 mail.lmtp): one session per
// envelope over a unix socket path or host:port; LHLO, MAIL FROM, RCPT TO, DATA with CRLF
// line endings and dot-stuffing, then the recipient's own reply. 4xx = temporary, 5xx =
// permanent. Our own client rather than nodemailer's: its reply reader accepts replies of up to
// 1 MB and skips malformed lines, this one refuses them (lmtp-reply.ts).
import { connect, type Socket } from 'node:net';
import { toErrorLine } from '@tsmtpd/proto';
import { delivered, permfail, tempfail, type MethodOutcome, type Sink, type SinkOpen } from '../sink.js';
import { LmtpError, ReplyReader, replyText, type Reply } from './lmtp-reply.js';

export interface LmtpJob {
  /** `/path/to/socket` or `host:port` (`[v6]:port`); port 24 when absent. */
  destination: string;
  /** Our name in LHLO. */
  lhlo: string;
  /** Reverse path, '' for <>. */
  mailFrom: string;
  /** The local user name, or the destination address with `rcpt-to`. */
  rcptTo: string;
  timeouts?: Partial<LmtpTimeouts>;
}

export interface LmtpTimeouts {
  connect: number;
  command: number;
  /** Waiting for the reply to the final dot. */
  data: number;
}

const DEFAULT_TIMEOUTS: LmtpTimeouts = { connect: 30_000, command: 300_000, data: 600_000 };

/** `/path` = unix socket; `host:port`, `[v6addr]:port`, `host` (port 24). */
export function parseDestination(dest: string): { path: string } | { host: string; port: number } | null {
  if (dest.startsWith('/')) return { path: dest };
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+))(?::(\d{1,5}))?$/.exec(dest);
  if (!m) return null;
  const port = m[3] === undefined ? 24 : Number(m[3]);
  if (port < 1 || port > 65535) return null;
  return { host: (m[1] ?? m[2])!, port };
}

/** Reply to outcome: 2xx ok, 4xx temporary, 5xx permanent (REFERENCE 8.2, 7.7). */
function replyOutcome(r: Reply, step: string): MethodOutcome | null {
  if (r.code >= 200 && r.code < 400) return null;
  const text = `${replyText(r)}${step === 'DATA end' ? '' : ` (${step})`}`;
  return r.code >= 500 ? permfail(text) : tempfail(text);
}

function openSocket(dest: string, timeoutMs: number): Promise<Socket> {
  const target = parseDestination(dest);
  if (!target) return Promise.reject(new LmtpError(`bad lmtp destination ${dest}`));
  return new Promise((resolve, reject) => {
    const sock = 'path' in target ? connect({ path: target.path }) : connect({ host: target.host, port: target.port });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new LmtpError('connect timeout'));
    }, timeoutMs);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.setNoDelay(true);
      resolve(sock);
    });
    sock.once('error', (e) => {
      clearTimeout(timer);
      reject(new LmtpError(`connect: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
    });
  });
}

/** LF to CRLF and dot-stuffing (RFC 5321 4.5.2), streaming across chunk boundaries. */
export class DataEncoder {
  private atLineStart = true;
  private lastLf = true;

  push(chunk: Uint8Array): Buffer {
    const src = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const out: Buffer[] = [];
    let pos = 0;
    while (pos < src.length) {
      if (this.atLineStart && src[pos] === 0x2e) out.push(Buffer.from('.'));
      const eol = src.indexOf(0x0a, pos);
      if (eol < 0) {
        out.push(src.subarray(pos));
        this.atLineStart = false;
        break;
      }
      const lineEnd = eol > pos && src[eol - 1] === 0x0d ? eol - 1 : eol;
      out.push(src.subarray(pos, lineEnd), Buffer.from('\r\n'));
      pos = eol + 1;
      this.atLineStart = true;
    }
    if (src.length > 0) this.lastLf = src[src.length - 1] === 0x0a;
    return Buffer.concat(out);
  }

  /** The end of data: a missing final line break, then the lone dot. */
  end(): Buffer {
    return Buffer.from(this.lastLf ? '.\r\n' : '\r\n.\r\n');
  }
}

class Session {
  constructor(
    readonly sock: Socket,
    readonly replies: ReplyReader,
    readonly timeouts: LmtpTimeouts,
  ) {}

  async send(data: string | Buffer): Promise<void> {
    if (this.sock.destroyed) throw new LmtpError('connection closed');
    if (!this.sock.write(data)) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          this.sock.off('drain', done);
          this.sock.off('close', done);
          resolve();
        };
        this.sock.once('drain', done);
        this.sock.once('close', done);
      });
    }
  }

  async command(line: string, step: string): Promise<{ reply: Reply; failure: MethodOutcome | null }> {
    await this.send(`${line}\r\n`);
    const reply = await this.replies.next(this.timeouts.command);
    return { reply, failure: replyOutcome(reply, step) };
  }

  quit(): void {
    if (this.sock.destroyed) return;
    this.sock.end('QUIT\r\n');
    setTimeout(() => this.sock.destroy(), 1000).unref();
  }
}

/** Greeting through DATA; answers the open session, or the outcome that ended it. */
async function handshake(job: LmtpJob, s: Session): Promise<MethodOutcome | null> {
  const greeting = await s.replies.next(s.timeouts.command);
  const g = replyOutcome(greeting, 'greeting') ?? (greeting.code === 220 ? null : tempfail(`unexpected greeting ${replyText(greeting)}`));
  if (g) return g;
  const lhlo = await s.command(`LHLO ${job.lhlo}`, 'LHLO');
  if (lhlo.failure) return lhlo.failure;
  const ext = new Set(lhlo.reply.lines.slice(1).map((l) => l.split(' ')[0]!.toUpperCase()));
  const utf8 = /[^\x00-\x7f]/.test(job.mailFrom + job.rcptTo);
  if (utf8 && !ext.has('SMTPUTF8')) return permfail('LMTP server does not support SMTPUTF8 (5.6.7)');
  const params = `${ext.has('8BITMIME') ? ' BODY=8BITMIME' : ''}${utf8 ? ' SMTPUTF8' : ''}`;
  const mail = await s.command(`MAIL FROM:<${job.mailFrom}>${params}`, 'MAIL FROM');
  if (mail.failure) return mail.failure;
  const rcpt = await s.command(`RCPT TO:<${job.rcptTo}>`, 'RCPT TO');
  if (rcpt.failure) return rcpt.failure;
  const data = await s.command('DATA', 'DATA');
  if (data.failure) return data.failure;
  return data.reply.code === 354 ? null : tempfail(`unexpected reply to DATA: ${replyText(data.reply)}`);
}

export async function openLmtp(job: LmtpJob): Promise<SinkOpen> {
  if (/[\r\n\0<>]/.test(job.mailFrom + job.rcptTo + job.lhlo)) return { ok: false, outcome: permfail('invalid characters in LMTP envelope') };
  const timeouts = { ...DEFAULT_TIMEOUTS, ...job.timeouts };
  let s: Session;
  try {
    const sock = await openSocket(job.destination, timeouts.connect);
    s = new Session(sock, new ReplyReader(sock), timeouts);
  } catch (e) {
    return { ok: false, outcome: tempfail(`lmtp ${job.destination}: ${(e as Error).message}`) };
  }
  try {
    const failure = await handshake(job, s);
    if (failure) {
      s.quit();
      return { ok: false, outcome: failure };
    }
  } catch (e) {
    s.sock.destroy();
    return { ok: false, outcome: tempfail(`lmtp ${job.destination}: ${(e as Error).message}`) };
  }
  return { ok: true, sink: dataSink(s, job.destination) };
}

function dataSink(s: Session, dest: string): Sink {
  const enc = new DataEncoder();
  let failure: MethodOutcome | null = null;
  const fail = (e: unknown): MethodOutcome => tempfail(`lmtp ${dest}: ${toErrorLine((e as Error).message)}`);
  return {
    async write(chunk) {
      if (failure) return;
      try {
        await s.send(enc.push(chunk));
      } catch (e) {
        failure = fail(e);
      }
    },
    async end() {
      if (failure) {
        s.sock.destroy();
        return failure;
      }
      try {
        await s.send(enc.end());
        const reply = await s.replies.next(s.timeouts.data);
        s.quit();
        return replyOutcome(reply, 'DATA end') ?? delivered(replyText(reply));
      } catch (e) {
        s.sock.destroy();
        return fail(e);
      }
    },
    async abort() {
      failure ??= tempfail('delivery aborted');
      s.sock.destroy();
    },
  };
}
