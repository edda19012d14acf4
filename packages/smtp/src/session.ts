// The state of one SMTP session and of its open transaction (MAIL … DATA), and what every
// part of the session layer shares: config, log, peers. A transaction's message id, reserved
// by the queue, is the transaction's until commit; `rollback` hands it back exactly once.
import type { Listener, SmtpdConfig } from '@tsmtpd/config';
import type { Envelope, LkaMailbox, QueueMailbox, SessionInfo, Settings } from '@tsmtpd/proto';
import type { Logger, Remote } from '@tsmtpd/actor';
import type { AuthThrottle } from './auth.js';
import type { SpoolSpace } from './storage.js';
import type { LocalUser } from './local-user.js';
import type { FilterEngine } from './filters/engine.js';
import type { FilterSession } from './filters/session.js';
import type { TlsInfo } from './tls.js';
import type { MsgidPool } from './msgid-pool.js';

/** Everything the session layer needs from the actor. */
export interface SmtpEnv {
  config: SmtpdConfig;
  settings: Settings;
  log: Logger;
  lka(): Remote<LkaMailbox>;
  queue(): Remote<QueueMailbox>;
  /** Msgids the queue reserved for this worker: MAIL FROM takes one without a round trip. */
  msgids: MsgidPool;
  /** Free space of the spool's file system (a full disk is refused at MAIL). */
  space: SpoolSpace;
  /** New sessions are refused with 421 while paused. */
  paused(): boolean;
  /** Live sessions by smtp-server connection id. */
  sessions: Map<string, Session>;
  counters: Record<string, number>;
  /** A latency sample for the metrics (ActorContext.timing); absent in unit tests. */
  timing?: (name: 'smtp.data.latency', seconds: number) => void;
  /** The filter engine, when the configuration declares filters. */
  filters: FilterEngine | null;
  /** Recent AUTH failures per client address. */
  authThrottle: AuthThrottle;
  /** Configuration generation (1 at start, +1 per reload): the lka resolves under the session's. */
  gen: number;
  /** A session of generation `gen` ended (reload: the last one lets that generation go). */
  sessionEnded?: (gen: number) => void;
}

/** How a listener presents itself; shared by the sessions it accepts. */
export interface ListenerProfile {
  listener: Listener;
  /** hostname option, else the server name. */
  smtpname: string;
  socket: boolean;
}

/** One accepted recipient, kept for the log lines written at commit. */
export interface AcceptedRcpt {
  rcpt: string;
  evpids: string[];
}

export interface Transaction {
  /** Null until MAIL FROM took a reserved msgid from the stock. */
  msgid: string | null;
  /** Reverse path, '' for <>. */
  sender: string;
  smtputf8: boolean;
  dsnRet?: 'FULL' | 'HDRS';
  dsnEnvid?: string;
  /** Accepted recipients by lower-cased address. */
  rcpts: Map<string, AcceptedRcpt>;
  /** Their envelopes, sent to the queue with the commit (no queue call per RCPT). */
  envelopes: Envelope[];
  /** Committed or rolled back: nothing more to undo. */
  finished: boolean;
}

export class Session {
  readonly info: SessionInfo;
  tx: Transaction | null = null;
  /** MAIL commands accepted in this session (smtp max-mails). */
  mails = 0;
  esmtp = false;
  closed = false;
  /** Set once the TLS handshake is done (STARTTLS or smtps). */
  tlsInfo: TlsInfo | null = null;
  /** Failed AUTH attempts in this session. */
  authFailures = 0;
  /** Why the session ended, for the log: quit, timeout, disconnect, shutdown. */
  endReason = 'disconnect';
  readonly started = Date.now();
  /** On the enqueue socket: the submitting user, by the kernel's credentials. */
  localUser: Promise<LocalUser> | null = null;
  /** The same, once known (from the first MAIL on). */
  user: LocalUser | null = null;
  /** The session's filters (listener `filter` option), else null. */
  filters: FilterSession | null = null;
  /** A filter decided to disconnect: close once the reply is written. */
  closeAfterReply = false;
  remotePort = 0;

  constructor(
    readonly env: SmtpEnv,
    readonly profile: ListenerProfile,
    id: string,
    remoteAddress: string,
    localAddress: string,
    readonly localPort: number,
  ) {
    this.info = {
      id,
      socket: profile.socket,
      remoteAddress: profile.socket ? 'local' : remoteAddress,
      localAddress: profile.socket ? 'local' : localAddress,
      rdns: null,
      helo: '',
      authUser: null,
      tls: false,
      tag: profile.listener.tag ?? null,
      smtpname: profile.smtpname,
    };
  }

  /** The TLS handshake is done: what was learnt before it is forgotten (RFC 3207 4.2). */
  secured(tls: TlsInfo): void {
    this.rollback();
    this.tlsInfo = tls;
    this.info.tls = true;
    this.info.authUser = null;
    this.info.helo = '';
    this.esmtp = false;
  }

  /** Local submissions get a Message-ID and Date when missing (REFERENCE 7.4). */
  get localSubmission(): boolean {
    return this.info.socket || this.localPort === 587;
  }

  /** Start a transaction (MAIL); the msgid is filled in once the queue answers. */
  begin(sender: string, smtputf8: boolean): Transaction {
    this.rollback();
    this.tx = { msgid: null, sender, smtputf8, rcpts: new Map(), envelopes: [], finished: false };
    return this.tx;
  }

  /** Give an open message back to the queue (RSET, disconnect, refusal). Idempotent. */
  rollback(tx: Transaction | null = this.tx): void {
    if (!tx) return;
    if (this.tx === tx) this.tx = null;
    if (tx.finished) return;
    tx.finished = true;
    if (tx.msgid === null) return;
    this.env.counters['smtp.rollback'] = (this.env.counters['smtp.rollback'] ?? 0) + 1;
    this.filters?.report('tx-rollback', [tx.msgid]);
    this.filters?.report('tx-reset', [tx.msgid]);
    try {
      void this.env.queue().onMessageRollback(tx.msgid);
    } catch (e) {
      this.env.log.warn('rollback failed', { session: this.info.id, msgid: tx.msgid, error: e });
    }
  }

  /** The transaction committed: nothing to undo any more. */
  committed(tx: Transaction): void {
    tx.finished = true;
    if (this.tx === tx) this.tx = null;
  }

  /** The session is gone: roll back and log (called once, from onClose or stop). */
  end(): void {
    if (this.closed) return;
    this.closed = true;
    this.rollback();
    this.filters?.close();
    this.env.sessions.delete(this.info.id);
    this.env.log.info('disconnected', { session: this.info.id, reason: this.endReason });
    this.env.sessionEnded?.(this.env.gen);
  }
}

/** Bump a counter by one. */
export function count(env: SmtpEnv, key: string): void {
  env.counters[key] = (env.counters[key] ?? 0) + 1;
}
