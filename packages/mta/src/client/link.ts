// The session's current connection: the wire, what the server offers, whether TLS is up, and
// command/reply helpers that apply the rules shared by every step (a reply to a command nobody
// sent is a protocol error; a 421 ends the connection). Also the one-line texts of failures we
// produce ourselves. Used by handshake.ts, transaction.ts, session.ts.
import { toErrorLine } from '@tsmtpd/proto';
import { NO_EXTENSIONS, type Extensions } from './ehlo.js';
import { replyLine, type Reply } from './reply.js';
import type { ClientOptions } from './types.js';
import type { Wire, WireResult } from './wire.js';

export class Link {
  ext: Extensions = NO_EXTENSIONS;
  tls = false;

  constructor(
    readonly opts: ClientOptions,
    public wire: Wire,
  ) {}

  get alive(): boolean {
    return this.wire.failure === null;
  }

  /** Write a group of commands (one write: RFC 2920 pipelining, STACK 8 Nagle). */
  async write(data: string): Promise<WireResult<void>> {
    if (this.wire.failure === null && this.wire.hasUnread) this.wire.destroy('protocol error: reply without a command');
    return this.wire.write(data, this.opts.commandTimeoutMs);
  }

  async read(what: string): Promise<WireResult<Reply>> {
    const r = await this.wire.read(this.opts.commandTimeoutMs, what);
    // RFC 5321 3.8: 421 means the server is closing; nothing more will come.
    if (r.ok && r.value.code === 421) this.wire.destroy(`server closing: ${replyLine(r.value)}`);
    return r;
  }

  async command(line: string, what = line.split(' ')[0] ?? line): Promise<WireResult<Reply>> {
    const w = await this.write(`${line}\r\n`);
    if (!w.ok) return w;
    return this.read(what);
  }
}

/**
 * A failure of our own as a stored line: the enhanced code (RFC 3463) first, no reply code,
 * since no server said it: `4.4.2 connection closed by server`.
 */
export function localLine(enhanced: string, text: string): string {
  return toErrorLine(`${enhanced} ${text}`);
}

/** The stored line for a connection-level failure reason from the wire or the sockets. */
export function wireLine(reason: string): string {
  if (reason.startsWith('protocol error')) return localLine('4.5.0', reason);
  if (reason.startsWith('TLS')) return localLine('4.7.0', reason);
  if (reason.startsWith('connect to')) return localLine('4.4.1', reason);
  return localLine('4.4.2', reason);
}
