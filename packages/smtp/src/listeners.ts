// Listeners: one smtp-server per bound address (every address of every `listen on` × its
// port, plus the local enqueue socket), their options, and the glue from smtp-server's
// callbacks to the session layer (session.ts, transaction.ts, data.ts). Owns pause, resume,
// stop and the list of bound addresses.
import { chmod, unlink } from 'node:fs/promises';
import { isIPv6, type Server } from 'node:net';
import { formatBound, listen, socketAlive, type ListenerChange, type Wanted } from './listen-util.js';
import { Replies, type ListenFd, type Reply } from '@tsmtpd/proto';
import { errorInfo } from '@tsmtpd/actor';
import type { TLSSocket } from 'node:tls';
import type { TlsMaterial } from '@tsmtpd/proto';
import type { SMTPServerAuthentication, SMTPServerAuthenticationResponse, SMTPServerOptions, SMTPServerSession } from 'smtp-server';
import { authAttempt } from './auth.js';
import { describeTls, listenerTlsOptions } from './tls.js';
import type { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import { TsmtpdServer, type ConnectionHooks } from './connection.js';
import { ConnectionGuard } from './guard.js';
import { dataReceive } from './data.js';
import { enqueueSocketPath } from './index.js';
import { ReverseLookup } from './rdns.js';
import { userName, type LocalUser } from './local-user.js';
import { replyError, replyText } from './replies.js';
import { count, Session, type ListenerProfile, type SmtpEnv } from './session.js';
import { mailFrom, rcptTo, type Verdict } from './transaction.js';
import { beforeCommand, filterConnect, filteredMail, filteredRcpt } from './filters/hooks.js';

/** Listen queue: OpenSMTPD's 5 collapses under concurrent connects (STACK.md 8, rule 1). */
export const LISTEN_BACKLOG = 511;
/**
 * Longest command line, CRLF excluded: RFC 5321 4.5.3.1.4 sets 512 and lets extensions add to it
 * (SIZE, DSN's ENVID and ORCPT, AUTH=, SMTPUTF8 addresses); OpenSMTPD's LINE_MAX buffer is 2048.
 * Longer: `500 5.5.2 Line too long` and the connection closes.
 */
export const MAX_COMMAND_LINE = 2048;
/** How long stop() lets sessions finish before they get 421. */
export const STOP_GRACE_MS = 2_000;
/** Commands we never offer (not ours to run); STARTTLS and AUTH only where a listener has them. */
const DISABLED = ['XCLIENT', 'XFORWARD', 'VRFY', 'WIZ', 'SHELL', 'KILL'];
/** SASL mechanisms offered under TLS (REFERENCE 7.1). */
const AUTH_METHODS = ['PLAIN', 'LOGIN'];

interface Bound {
  /** "address|port", or "socket": what a reload compares. */
  key: string;
  /** The listening socket; kept across reloads while its address and port stay configured. */
  net: Server;
  /** The smtp-server that takes its new connections (replaced on reload, see reload()). */
  server: TsmtpdServer;
  profile: ListenerProfile;
  path?: string;
}

export class Listeners {
  private readonly bound: Bound[] = [];
  /** smtp-servers replaced by a reload, still serving the sessions they accepted. */
  private readonly retired = new Set<TsmtpdServer>();
  private readonly rdns: ReverseLookup | null;
  /** One admission guard for every listener: the limits are per daemon, not per address bound. */
  readonly guard: ConnectionGuard;
  /** Listening sockets inherited from the privileged process, by address and port. */
  private readonly inherited: ListenFd[];

  constructor(
    private env: SmtpEnv,
    private readonly spool: string,
    private tls?: TlsMaterial,
  ) {
    this.rdns = env.settings.reverseDns ? new ReverseLookup(env.settings.dnsServers) : null;
    this.guard = new ConnectionGuard(env.config.smtp.limits);
    this.inherited = [...(env.settings.listenFds ?? [])];
  }

  /** Bind every configured listener. An inet bind failure is fatal; the socket's is not. */
  async start(): Promise<void> {
    try {
      await this.bindAll();
    } catch (e) {
      await this.stop(); // release what was bound before the failure
      throw e;
    }
  }

  private async bindAll(): Promise<void> {
    for (const w of this.wanted().values()) {
      if (w.profile.socket) await this.bindSocket(w.profile).catch((e: unknown) => this.env.log.warn('enqueue socket unavailable', { error: errorInfo(e).message }));
      else await this.bindInet(w);
    }
  }

  /** Every address the configuration listens on, by key, with its listener's profile. */
  private wanted(): Map<string, Wanted> {
    const out = new Map<string, Wanted>();
    for (const listener of this.env.config.listeners) {
      const profile: ListenerProfile = { listener, smtpname: listener.hostname ?? this.env.config.serverName, socket: listener.kind === 'socket' };
      if (listener.kind === 'socket') out.set('socket', { key: 'socket', profile, address: '', port: 0, family: 0 });
      else if (listener.addresses.length === 0) this.env.log.warn('listener without address', { target: listener.target });
      for (const a of listener.addresses) {
        // Port 0 (tests): each such line is a listener of its own, whatever port it gets.
        const key = `${a.address}|${listener.port}${listener.port === 0 ? `#${out.size}` : ''}`;
        if (!out.has(key)) out.set(key, { key, profile, address: a.address, port: listener.port, family: a.family });
      }
    }
    return out;
  }

  private async bindInet(w: Wanted): Promise<void> {
    const { key, profile, address, port, family } = w;
    const server = this.createServer(profile);
    // Bound by the privileged process (root daemon): listen on the inherited descriptor.
    const fd = this.inherited.find((x) => x.address === address && x.port === port)?.fd;
    if (fd !== undefined) await listen(server, { fd, backlog: LISTEN_BACKLOG });
    else await listen(server, { host: address, port, backlog: LISTEN_BACKLOG, ipv6Only: family === 6 });
    this.bound.push({ key, net: server.server, server, profile });
  }

  /**
   * A reloaded configuration: removed addresses stop accepting (their sessions go on), added
   * ones are bound (`fds`: bound by the privileged process), kept sockets stay open and their
   * new connections go to a fresh smtp-server built from the new configuration, so options,
   * TLS material and limits change without a rebind and running sessions keep their own.
   */
  async reload(env: SmtpEnv, tls: TlsMaterial | undefined, fds: ListenFd[]): Promise<ListenerChange> {
    this.env = env;
    this.tls = tls;
    this.inherited.push(...fds);
    this.guard.setLimits(env.config.smtp.limits);
    const wanted = this.wanted();
    const change: ListenerChange = { added: [], removed: [], errors: [] };
    for (const b of [...this.bound]) {
      const w = wanted.get(b.key);
      if (!w) {
        this.bound.splice(this.bound.indexOf(b), 1);
        // The listening socket only: smtp-server's close() would end its sessions after a grace.
        b.net.close();
        // Its descriptor is closed with it (and its number free for reuse): never listen on it again.
        const used = this.inherited.findIndex((x) => `${x.address}|${x.port}` === b.key);
        if (used >= 0) this.inherited.splice(used, 1);
        this.retired.add(b.server);
        if (b.path) await unlink(b.path).catch(() => undefined);
        change.removed.push(b.key);
        continue;
      }
      const next = this.createServer(w.profile);
      b.net.removeAllListeners('connection');
      b.net.on('connection', (sock) => next.server.emit('connection', sock));
      this.retired.add(b.server);
      b.server = next;
      b.profile = w.profile;
    }
    for (const s of this.retired) if (s.connections.size === 0) this.retired.delete(s);
    for (const w of wanted.values()) {
      if (this.bound.some((b) => b.key === w.key)) continue;
      const where = `${w.profile.listener.file}:${w.profile.listener.line}: listen on ${w.profile.socket ? 'socket' : `${w.address} port ${w.port}`}`;
      try {
        if (w.profile.socket) await this.bindSocket(w.profile);
        else await this.bindInet(w);
        change.added.push(w.key);
      } catch (e) {
        change.errors.push(`${where}: ${errorInfo(e).message}`);
      }
    }
    return change;
  }

  /** The bound inet addresses: "127.0.0.1:25", "[::1]:25". */
  listening(): string[] {
    const out: string[] = [];
    for (const b of this.bound) {
      const a = b.net.address();
      if (a && typeof a === 'object') out.push(formatBound(a));
    }
    return out;
  }

  /** Stop accepting, let sessions finish for a moment, then end and roll back the rest. */
  async stop(): Promise<void> {
    this.rdns?.cancel();
    for (const b of this.bound) if (b.net !== b.server.server) b.net.close();
    const servers = [...this.bound.map((b) => b.server), ...this.retired];
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    this.retired.clear();
    for (const s of [...this.env.sessions.values()]) {
      s.endReason = 'shutdown';
      s.end();
    }
    for (const b of this.bound) if (b.path) await unlink(b.path).catch(() => undefined);
    this.bound.length = 0;
    // Notifications (rollbacks) leave in a batch at the end of the tick: let them go first.
    await new Promise((resolve) => setImmediate(resolve));
  }

  private async bindSocket(profile: ListenerProfile): Promise<void> {
    const path = enqueueSocketPath(this.spool);
    if (await socketAlive(path)) throw new Error(`${path} is in use by a running process`);
    await unlink(path).catch(() => undefined);
    const server = this.createServer(profile);
    await listen(server, { path, backlog: LISTEN_BACKLOG });
    await chmod(path, 0o666);
    this.bound.push({ key: 'socket', net: server.server, server, profile, path });
  }

  private createServer(profile: ListenerProfile): TsmtpdServer {
    const env = this.env;
    const size = env.config.smtp.maxMessageSize;
    const l = profile.listener;
    const hasAuth = l.auth || l.authOptional;
    const disabled = [...DISABLED, ...(l.tls ? [] : ['STARTTLS']), ...(hasAuth ? [] : ['AUTH'])];
    const options: SMTPServerOptions = {
      ...listenerTlsOptions(l, env.config, this.tls),
      name: profile.smtpname,
      banner: 'tsmtpd',
      ...(size > 0 ? { size } : {}),
      hideENHANCEDSTATUSCODES: false,
      hideDSN: profile.listener.noDsn,
      hideSTARTTLS: !l.tls,
      hideREQUIRETLS: true,
      disabledCommands: disabled,
      // AUTH is required at MAIL by transaction.ts (OpenSMTPD's 530), never by the library.
      authOptional: true,
      authMethods: AUTH_METHODS,
      allowInsecureAuth: false,
      onAuth: (auth, session, cb) => this.onAuth(auth, session, cb),
      onSecure: (socket, session, cb) => {
        env.sessions.get(session.id)?.secured(describeTls(socket as TLSSocket));
        cb();
      },
      disableReverseLookup: true,
      socketTimeout: env.config.smtp.limits.idleTimeout * 1000,
      maxCommandLength: MAX_COMMAND_LINE,
      closeTimeout: STOP_GRACE_MS,
      logger: false,
      onConnect: (session, cb) => this.onConnect(profile, session, cb, server.takePeer(session.id)),
      onMailFrom: (addr, session, cb) => this.run(session, cb, (s) => filteredMail(s, addr, () => mailFrom(s, addr))),
      onRcptTo: (addr, session, cb) => this.run(session, cb, (s) => filteredRcpt(s, addr, () => rcptTo(s, addr))),
      onData: (stream, session, cb) => this.onData(stream, session, cb),
      onClose: (session) => env.sessions.get(session.id)?.end(),
    };
    const server = new TsmtpdServer({
      ...options,
      greetingDelayMs: env.settings.greetingDelayMs,
      hooks: this.hooks(profile),
      guard: this.guard,
      lineTimeoutMs: env.config.smtp.limits.lineTimeout * 1000,
      unixPeers: profile.socket,
    });
    // Socket errors of sessions surface here; without a listener they would kill the worker.
    server.on('error', (e: Error) => env.log.debug('connection error', { error: e.message }));
    return server;
  }

  private hooks(profile: ListenerProfile): ConnectionHooks {
    const env = this.env;
    return {
      bridgeSession: (conn: SMTPConnection) => ({
        name: profile.smtpname,
        helo: conn.hostNameAppearsAs || '',
        remote: profile.socket ? 'local' : conn.remoteAddress,
        transaction: Boolean(conn.session.envelope?.mailFrom),
        offerAuth: (profile.listener.auth || profile.listener.authOptional) && conn.secure && !conn.session.user,
      }),
      onReset: (conn) => env.sessions.get(conn.id)?.rollback(),
      onReply: (conn, code, text) => {
        // Shown by `smtpctl log verbose` or `smtpctl trace smtp` (OpenSMTPD's smtp trace).
        env.log.debug('reply', { session: conn.id, code, text });
        const s = env.sessions.get(conn.id);
        if (!s) return;
        if (code === 221) s.endReason = 'quit';
        else if (code === 421 && text.startsWith(Replies.timeout.enhanced)) {
          s.endReason = 'timeout';
          s.filters?.report('timeout', []);
        }
        s.filters?.report('protocol-server', [`${code} ${text}`]);
        if (s.closeAfterReply) return 'close';
      },
      beforeCommand: (conn, line, continuation) => {
        const s = env.sessions.get(conn.id);
        const pending = s?.filters ? beforeCommand(s, line, continuation) : null;
        return pending?.then((v) => (v.run ? v : { run: false as const, code: v.reply.code, text: replyText(v.reply), close: v.close })) ?? null;
      },
      onRefused: (address, why) => {
        count(env, `smtp.refused.${why}`);
        env.log.info('connection refused', { address, reason: why, ...this.guard.counts });
      },
    };
  }

  private onConnect(profile: ListenerProfile, session: SMTPServerSession, cb: (err?: Error | null) => void, peer: Omit<LocalUser, 'name'> | null | undefined): void {
    const env = this.env;
    const s = new Session(env, profile, session.id, session.remoteAddress, session.localAddress, session.localPort);
    env.sessions.set(s.info.id, s);
    count(env, 'smtp.session');
    count(env, profile.socket ? 'smtp.session.local' : isIPv6(s.info.remoteAddress) ? 'smtp.session.inet6' : 'smtp.session.inet4');
    if (profile.socket) {
      // Without the kernel's word on who is calling, a local submission is not taken.
      if (!peer) {
        env.log.warn('local client without credentials', { session: s.info.id });
        s.endReason = 'no credentials';
        cb(replyError(Replies.tempFailure));
        return;
      }
      s.localUser = userName(peer.uid).then((name) => {
        const user = { ...peer, name };
        env.log.info('connected', { session: s.info.id, address: 'local', host: profile.smtpname, user: name ?? `#${peer.uid}`, uid: peer.uid, pid: peer.pid });
        return user;
      });
    } else {
      env.log.info('connected', { session: s.info.id, address: s.info.remoteAddress, host: profile.smtpname });
    }
    if (env.paused()) {
      s.endReason = 'paused';
      cb(replyError(Replies.paused));
      return;
    }
    if (env.filters && profile.listener.filter !== undefined) {
      s.remotePort = session.remotePort;
      filterConnect(s).then(
        (refused) => {
          cb(refused ? replyError(refused) : null);
          if (!refused) s.filters?.report('link-greeting', [profile.smtpname]);
        },
        (e: unknown) => {
          env.log.warn('filter connect failed', { session: s.info.id, error: errorInfo(e).message });
          cb(replyError({ code: 421, enhanced: '4.7.0', text: 'Temporary failure: a filter is unavailable' }));
        },
      );
      return;
    }
    cb();
    const rdns = this.rdns;
    if (rdns && !profile.socket) {
      void rdns.lookup(s.info.remoteAddress).then((name) => {
        if (name !== null && !s.closed) s.info.rdns = name;
      });
    }
  }

  /** AUTH PLAIN/LOGIN: the library decoded the exchange; lka checks the password. */
  private onAuth(auth: SMTPServerAuthentication, session: SMTPServerSession, cb: (err: Error | null | undefined, res?: SMTPServerAuthenticationResponse) => void): void {
    const s = this.sessionOf(session);
    if (!s) return cb(replyError(Replies.tempFailure));
    authAttempt(s, auth).then(
      (a) => {
        if (s.closed) return;
        if (!a.ok) return cb(replyError(a.reply));
        s.info.authUser = a.user;
        cb(null, { user: a.user });
      },
      (e: unknown) => {
        this.env.log.warn('authentication failed', { session: s.info.id, error: errorInfo(e).message });
        cb(replyError(Replies.tempFailure));
      },
    );
  }

  /** Run a MAIL/RCPT step for the session and answer smtp-server with its verdict. */
  private run(session: SMTPServerSession, cb: (err?: Error | null) => void, step: (s: Session) => Promise<Verdict>): void {
    const s = this.sessionOf(session);
    if (!s) return cb(replyError(Replies.tempFailure));
    step(s).then(
      (v) => cb(v ? replyError(v) : null),
      (e: unknown) => {
        this.env.log.warn('command failed', { session: s.info.id, error: errorInfo(e).message });
        cb(replyError(Replies.tempFailure));
      },
    );
  }

  private onData(stream: Parameters<NonNullable<SMTPServerOptions['onData']>>[0], session: SMTPServerSession, cb: (err?: Error | null, msg?: string) => void): void {
    const s = this.sessionOf(session);
    const answer = (r: Reply | null) => (r === null ? cb(new Error('session gone')) : r.code < 400 ? cb(null, replyText(r)) : cb(replyError(r)));
    if (!s) {
      stream.resume();
      return answer(Replies.tempFailure);
    }
    dataReceive(s, stream).then(answer, (e: unknown) => {
      this.env.log.warn('data failed', { session: s.info.id, error: errorInfo(e).message });
      s.rollback();
      answer(Replies.tempFailure);
    });
  }

  /** Our session for smtp-server's, with what HELO/EHLO taught it. */
  private sessionOf(session: SMTPServerSession): Session | undefined {
    const s = this.env.sessions.get(session.id);
    if (s) {
      s.info.helo = session.hostNameAppearsAs || '';
      s.esmtp = session.openingCommand === 'EHLO';
    }
    return s;
  }
}
