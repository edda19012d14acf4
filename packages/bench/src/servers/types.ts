// What the bench needs of a server under test, whatever it is: where it listens, the root PID of
// its process tree (CPU and RSS are that tree's), how many messages have reached their final
// place, what it does on disk before its 250, and how it is stopped. One adapter per server.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';

export type ServerName = 'tsmtpd' | 'opensmtpd' | 'postfix' | 'sink';
export const SERVER_NAMES: readonly ServerName[] = ['tsmtpd', 'postfix', 'opensmtpd', 'sink'];

/**
 * accept: queue only, delivery paused; maildir: accept + delivery to one user's maildir;
 * relay: everything relayed to one smtp-sink.
 */
export type Workload = 'accept' | 'maildir' | 'relay';
export const WORKLOADS: readonly Workload[] = ['accept', 'maildir', 'relay'];

export const relayDomain = 'relay.test';

export interface ServerContext {
  workload: Workload;
  /** The local user maildir deliveries go to. */
  user: string;
  /** The relay target's port (workload relay). */
  sinkPort?: number | undefined;
  /** Keep temp dirs (spool, maildir, logs) for a look afterwards. */
  keep: boolean;
  /** tsmtpd only: a directory for V8 CPU profiles of every thread. */
  cpuProf?: string | undefined;
  /** The relay sink's message counter (workload relay). */
  sinkMessages?: (() => number) | undefined;
}

export interface Server {
  readonly name: ServerName;
  readonly port: number;
  /** The root of the server's process tree. */
  readonly pid: number;
  /** The recipient the load sends to. */
  readonly rcpt: string;
  /** Messages that have reached their final place so far (maildir files, sink's counter). */
  arrivals(): number;
  /** Empties what arrivals() counts where it can (a maildir between runs); no-op otherwise. */
  reset(): void;
  /** Whether arrivals() counts deliveries; false for accept-only (nothing is delivered). */
  readonly delivers: boolean;
  describe(): string;
  stop(): Promise<void>;
}

/** What each server does on disk before its 250 (seen with strace -f -e trace=fsync,fdatasync,rename,link). */
export const DURABILITY: Record<ServerName, string> = {
  tsmtpd: 'fsync of the SQLite WAL (synchronous=FULL, group commit) before 250; maildir: fsync file, rename, fsync dir',
  postfix: 'fsync of the queue file (cleanup) before 250; maildir: fsync file, link into new/',
  opensmtpd: 'no fsync before 250 (queue file written and renamed only); maildir: fsync file, rename',
  sink: 'nothing: smtp-sink discards (no queue: the protocol ceiling)',
};

/** What the bench changes about a server beyond its configuration file, and why (the footer says so). */
export const SETUP: Partial<Record<ServerName, string>> = {
  opensmtpd: 'listen(2) backlog raised from its 5 (SMTPD_BACKLOG) to 511 by an LD_PRELOAD shim (servers/listen-backlog.ts), '
    + 'as tsmtpd has 511 and Postfix 200 (ss -ltn): with 5, 20+ new connections at once lost SYNs and waited for retransmits',
};

/** How each server pauses delivery for the accept-only workload. */
export const PAUSE: Record<ServerName, string> = {
  tsmtpd: '`smtpctl pause mda` after start',
  postfix: '`smtpd_data_restrictions = static:HOLD` (every message to the hold queue)',
  opensmtpd: '`smtpctl pause mda` after start (in its mount namespace)',
  sink: 'nothing to pause (no queue)',
};

export function countMaildir(dir: string): number {
  let n = 0;
  for (const sub of ['new', 'cur']) {
    const p = path.join(dir, sub);
    if (existsSync(p)) n += readdirSync(p).length;
  }
  return n;
}

/** Empties a maildir's new/, cur/ and tmp/ (between runs, once everything has arrived). */
export function clearMaildir(dir: string): void {
  for (const sub of ['new', 'cur', 'tmp']) {
    const p = path.join(dir, sub);
    if (!existsSync(p)) continue;
    for (const f of readdirSync(p)) rmSync(path.join(p, f), { force: true });
  }
}

/** What arrivals() counts: the relay sink's messages, or the files in the user's maildir. */
export function arrivalsOf(ctx: ServerContext, maildir: string): Pick<Server, 'arrivals' | 'reset' | 'delivers' | 'rcpt'> {
  const rcpt = ctx.workload === 'relay' ? `bench@${relayDomain}` : `${ctx.user}@localhost`;
  const delivers = ctx.workload !== 'accept';
  if (ctx.workload === 'relay' && ctx.sinkMessages) return { rcpt, delivers, arrivals: ctx.sinkMessages, reset: () => {} };
  return { rcpt, delivers, arrivals: () => countMaildir(maildir), reset: () => clearMaildir(maildir) };
}
