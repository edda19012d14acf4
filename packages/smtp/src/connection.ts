// smtp-server, bent to our needs by subclassing only (never a fork of its code): the
// greeting delay becomes a setting, every reply passes through our reply bridge, and a
// session reset (RSET, HELO/EHLO) reaches our session layer so it can roll back.
import type { Socket } from 'node:net';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { SMTPConnection, type SMTPConnectionOptions } from 'smtp-server/lib/smtp-connection.js';
import { bridgeReply, type BridgeSession } from './replies.js';

/** What a connection asks of the session layer. */
export interface ConnectionHooks {
  /** Our name for the listener, the client's HELO and address, for the EHLO line. */
  bridgeSession(conn: SMTPConnection): BridgeSession;
  /** The library reset the transaction (RSET, HELO/EHLO, end of DATA). */
  onReset(conn: SMTPConnection): void;
  /** A reply was written (the session layer notes QUIT and timeouts for its log). */
  onReply(conn: SMTPConnection, code: number, text: string): void;
}

export interface TsmtpdServerOptions extends SMTPServerOptions {
  /** Wait before the 220 greeting, ms (early-talker detection; 0 = none). */
  greetingDelayMs: number;
  hooks: ConnectionHooks;
}

/**
 * One SMTP connection. smtp-server's `init()` arms a hard-coded 100 ms timer before the
 * greeting (STACK.md 8, rule 4) and offers no option for it. We let that timer run but make
 * `connectionReady` ignore every call except the one from our own timer, armed with
 * `greetingDelayMs`: the library code stays untouched and the delay is ours.
 */
export class TsmtpdConnection extends SMTPConnection {
  private greetingDue = false;
  private readonly delayMs: number;
  private readonly hooks: ConnectionHooks;

  constructor(server: TsmtpdServer, socket: Socket, options: SMTPConnectionOptions | null, delayMs: number, hooks: ConnectionHooks) {
    super(server, socket, options);
    this.delayMs = delayMs;
    this.hooks = hooks;
    // Replies are written whole; without this a pipelined client waits out Nagle + delayed ACK.
    socket.setNoDelay?.(true);
  }

  override init(): void {
    super.init();
    const greet = () => {
      if (this._closing || this._closed) return;
      this.greetingDue = true;
      this.connectionReady();
    };
    // setTimeout(fn, 0) waits at least 1 ms; with no delay asked for, greet on the next turn.
    if (this.delayMs <= 0) setImmediate(greet);
    else setTimeout(greet, this.delayMs).unref();
  }

  override connectionReady(next?: () => void): void {
    if (!this.greetingDue) return; // the library's own 100 ms timer: ignored
    this.greetingDue = false;
    super.connectionReady(next);
  }

  /** Every reply of the library goes through here: rewritten by the bridge, then written. */
  override send(code: number, data?: string | string[] | null, context?: string | false): void {
    const out = bridgeReply(code, data, context, this.hooks.bridgeSession(this));
    this.hooks.onReply(this, out.code, out.lines.join(' '));
    super.send(out.code, out.lines.length === 1 ? out.lines[0] : out.lines, false);
    // The library closes after any 421; a 421 it wrote that we reworded keeps that effect.
    if (code === 421 && out.code !== 421) this.close();
  }

  override _resetSession(): void {
    if (this.session.envelope) this.hooks.onReset(this);
    super._resetSession();
  }
}

/**
 * The server: creates our connection class. `connect` repeats the library's four lines of
 * wiring because the connection class is fixed inside it.
 */
export class TsmtpdServer extends SMTPServer {
  private readonly delayMs: number;
  private readonly hooks: ConnectionHooks;

  constructor(options: TsmtpdServerOptions) {
    const { greetingDelayMs, hooks, ...rest } = options;
    super(rest);
    this.delayMs = greetingDelayMs;
    this.hooks = hooks;
  }

  override connect(socket: Socket, socketOptions?: SMTPConnectionOptions | null): void {
    const connection = new TsmtpdConnection(this, socket, socketOptions ?? null, this.delayMs, this.hooks);
    this.connections.add(connection);
    connection.on('error', (err: Error) => this.emit('error', err));
    connection.on('connect', (data: unknown) => this.emit('connect', data));
    connection.init();
  }
}
