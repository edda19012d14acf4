// smtp-server, bent to our needs by subclassing only (never a fork of its code): the
// greeting delay becomes a setting, every reply passes through our reply bridge, a session
// reset (RSET, HELO/EHLO) reaches our session layer so it can roll back, new connections pass
// the guard (guard.ts), and the input is watched for early talkers and slow-drip lines.
import type { Socket } from 'node:net';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { SMTPConnection, type SMTPConnectionOptions } from 'smtp-server/lib/smtp-connection.js';
import type { SMTPStream } from 'smtp-server/lib/smtp-stream.js';
import { ConnectionGuard, type Admission } from './guard.js';
import { LineClock } from './line-clock.js';
import { LocalReplies, bridgeReply, replyText, type BridgeSession } from './replies.js';
import { socketPeer, type LocalUser } from './local-user.js';

/** What a connection asks of the session layer. */
export interface ConnectionHooks {
  /** Our name for the listener, the client's HELO and address, for the EHLO line. */
  bridgeSession(conn: SMTPConnection): BridgeSession;
  /** The library reset the transaction (RSET, HELO/EHLO, end of DATA). */
  onReset(conn: SMTPConnection): void;
  /** A reply is written (the session layer notes QUIT and timeouts); 'close' ends the session after it. */
  onReply(conn: SMTPConnection, code: number, text: string): void | 'close';
  /**
   * Before a command line reaches its handler (the filters' phases): null to go on at once, else
   * a promise of the (possibly rewritten) line to run, or of a reply that replaces the command.
   */
  beforeCommand?(conn: SMTPConnection, line: string, continuation: boolean): Promise<{ run: true; line: string } | { run: false; code: number; text: string; close: boolean }> | null;
  /** A connection the guard turned away (per-address, rate or waiting-line limit), for the log. */
  onRefused(address: string, why: Admission): void;
}

export interface TsmtpdServerOptions extends SMTPServerOptions {
  /** Wait before the 220 greeting, ms (early-talker detection; 0 = none). */
  greetingDelayMs: number;
  hooks: ConnectionHooks;
  guard: ConnectionGuard;
  /** A line (command or DATA) must arrive whole within this, ms (slow-drip clients). */
  lineTimeoutMs: number;
  /** A unix-socket listener: record each client's kernel credentials (SO_PEERCRED). */
  unixPeers?: boolean;
}

/** What a client the guard turns away reads before the close. */
const REFUSALS: Record<Exclude<Admission, 'admit' | 'wait'>, string> = {
  'per-ip': '421 4.7.0 Too many connections from your address, try again later',
  rate: '421 4.7.0 Connection rate limit exceeded, try again later',
  full: '421 4.3.2 Too many sessions waiting, try again later',
};

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
  /** Created lazily: the library builds its parser inside its constructor, before our fields. */
  private clock: LineClock | undefined;

  constructor(server: TsmtpdServer, socket: Socket, options: SMTPConnectionOptions | null, delayMs: number, hooks: ConnectionHooks) {
    super(server, socket, options);
    this.delayMs = delayMs;
    this.hooks = hooks;
    // Replies are written whole; without this a pipelined client waits out Nagle + delayed ACK.
    socket.setNoDelay?.(true);
    socket.once('close', () => this.clock?.stop());
  }

  /**
   * Every byte the client sends passes the parser (the one after STARTTLS too): bytes before
   * our greeting make an early talker, refused at once (the library only sees whole lines);
   * a line still incomplete after the line timeout ends the session.
   */
  override _createParser(): SMTPStream {
    const parser = super._createParser();
    const write = parser._write.bind(parser);
    parser._write = (chunk: Buffer, encoding: BufferEncoding, next: (err?: Error | null) => void) => {
      if (chunk.length > 0 && !this._ready && !this._closing && !this._closed) {
        this.send(LocalReplies.earlyTalker.code, replyText(LocalReplies.earlyTalker));
        next();
        return;
      }
      this.lineClock().feed(chunk);
      write(chunk, encoding, next);
    };
    return parser;
  }

  private lineClock(): LineClock {
    this.clock ??= new LineClock((this._server as TsmtpdServer).lineTimeoutMs, () => {
      if (this._closing || this._closed) return;
      this.send(LocalReplies.lineTimeout.code, replyText(LocalReplies.lineTimeout));
    });
    return this.clock;
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
    const after = this.hooks.onReply(this, out.code, out.lines.join(' '));
    super.send(out.code, out.lines.length === 1 ? out.lines[0] : out.lines, false);
    // The library closes after any 421; a 421 it wrote that we reworded keeps that effect.
    if ((code === 421 && out.code !== 421) || after === 'close') this.close();
  }

  /** The filters' phases run here, before the library's own handler sees the command. */
  override _onCommand(command: Buffer, callback?: () => void): void {
    const hook = this.hooks.beforeCommand;
    const pending = hook && this._ready && !this._upgrading ? hook(this, command.toString(), this._nextHandler !== false) : null;
    if (!pending) return super._onCommand(command, callback);
    pending.then(
      (v) => {
        if (this._closing || this._closed) return callback?.();
        if (v.run) return super._onCommand(Buffer.from(v.line), callback);
        this.send(v.code, v.text, false);
        if (v.close) this.close();
        callback?.();
      },
      () => {
        this.send(421, 'Temporary failure', false);
        this.close();
        callback?.();
      },
    );
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
  private readonly guard: ConnectionGuard;
  readonly lineTimeoutMs: number;
  private readonly unixPeers: boolean;
  /** Credentials of unix-socket clients by connection id, until the session takes them. */
  private readonly peers = new Map<string, Omit<LocalUser, 'name'> | null>();

  constructor(options: TsmtpdServerOptions) {
    const { greetingDelayMs, hooks, guard, lineTimeoutMs, unixPeers, ...rest } = options;
    super(rest);
    this.delayMs = greetingDelayMs;
    this.hooks = hooks;
    this.guard = guard;
    this.lineTimeoutMs = lineTimeoutMs;
    this.unixPeers = unixPeers === true;
  }

  /** The kernel's credentials of a unix-socket client (once; undefined for inet listeners). */
  takePeer(id: string): Omit<LocalUser, 'name'> | null | undefined {
    const p = this.peers.get(id);
    this.peers.delete(id);
    return p;
  }

  /** The guard decides first: refuse with a 421, wait for a session slot, or start now. */
  override connect(socket: Socket, socketOptions?: SMTPConnectionOptions | null): void {
    const ip = socket.remoteAddress ?? '';
    const verdict = this.guard.check(ip);
    if (verdict !== 'admit' && verdict !== 'wait') {
      this.hooks.onRefused(ip, verdict);
      socket.on('error', () => {});
      socket.end(`${REFUSALS[verdict]}\r\n`);
      setTimeout(() => socket.destroy(), 2000).unref();
      return;
    }
    this.guard.enter(ip, socket);
    const start = () => {
      this.guard.occupy(socket);
      this.startConnection(socket, socketOptions ?? null);
    };
    if (verdict === 'admit') start();
    else this.guard.park(socket, start, Number(this.options.socketTimeout) || 300_000);
  }

  private startConnection(socket: Socket, socketOptions: SMTPConnectionOptions | null): void {
    const connection = new TsmtpdConnection(this, socket, socketOptions, this.delayMs, this.hooks);
    // Read while the connection is fresh: the peer cannot change, and the fd is still open.
    if (this.unixPeers) {
      this.peers.set(connection.id, socketPeer(socket));
      socket.once('close', () => this.peers.delete(connection.id));
    }
    this.connections.add(connection);
    connection.on('error', (err: Error) => this.emit('error', err));
    connection.on('connect', (data: unknown) => this.emit('connect', data));
    connection.init();
  }
}
