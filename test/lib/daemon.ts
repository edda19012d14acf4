// Starts tsmtpd as a user would (`node packages/smtpd/bin/smtpd.js -d -f FILE --spool DIR`) on a
// generated config with a free loopback port, waits for the SMTP banner, and stops it by PID
// (SIGTERM, then SIGKILL after a bounded wait). Its stderr is kept for failure messages.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { smtpdBin } from './paths.js';
import { killQuietly, sleep, tail } from './proc.js';
import { ensureDaemonUser } from './users.js';

export interface ConfigContext {
  port: number;
  dir: string;
}

export interface DaemonOptions {
  /** The test directory: smtpd.conf is written here; the spool defaults to DIR/spool. */
  dir: string;
  /** The config text for a port (the port is chosen by the harness). */
  config: (ctx: ConfigContext) => string;
  spool?: string;
  /** Use this port instead of a free one (e.g. a restart on the same port). */
  port?: number;
  extraArgs?: string[];
  startTimeoutMs?: number;
  /** Extra environment variables for the daemon (e.g. SMTPD_NAMESERVERS), over the test's own. */
  env?: Record<string, string>;
}

export interface StopResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  ms: number;
  /** True when SIGTERM did not end it in time and SIGKILL was needed. */
  forced: boolean;
}

/** The ISO 8601 time the daemon puts before each log line when stderr is not the journal. */
export const LOG_STAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /gm;

const live = new Set<number>();
process.on('exit', () => {
  for (const pid of live) killQuietly(-pid, 'SIGKILL');
});

/** A loopback port that was free a moment ago (bind port 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export class Daemon {
  readonly pid: number;
  private out = '';
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    child: ChildProcess,
    readonly port: number,
    readonly dir: string,
    readonly spool: string,
    readonly confPath: string,
  ) {
    if (child.pid === undefined) throw new Error('smtpd did not start');
    this.pid = child.pid;
    live.add(this.pid);
    const keep = (b: Buffer) => {
      this.out += b.toString('utf8');
      if (this.out.length > 1_000_000) this.out = this.out.slice(-500_000);
    };
    child.stderr?.on('data', keep);
    child.stdout?.on('data', keep);
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        live.delete(this.pid);
        resolve(this.exitInfo);
      });
    });
  }

  /**
   * Everything the daemon wrote (stderr and stdout), each log line's leading timestamp removed so
   * tests match `role: event ...` as OpenSMTPD writes it; `rawOutput()` keeps them.
   */
  output(): string {
    return this.out.replace(LOG_STAMP, '');
  }

  rawOutput(): string {
    return this.out;
  }

  /** The tail of the output, labelled, for assertion messages. */
  describe(): string {
    const state = this.exitInfo ? `exited code=${this.exitInfo.code} signal=${this.exitInfo.signal}` : 'running';
    return `smtpd pid=${this.pid} port=${this.port} (${state}); output:\n${tail(this.out)}`;
  }

  isRunning(): boolean {
    return this.exitInfo === undefined;
  }

  /** SIGTERM, wait up to `timeoutMs`, then SIGKILL the process group (bounded, 5 s). */
  async stop(timeoutMs = 5000): Promise<StopResult> {
    const started = Date.now();
    if (this.exitInfo) return { ...this.exitInfo, ms: 0, forced: false };
    killQuietly(this.pid, 'SIGTERM');
    let info = await Promise.race([this.exited, sleep(timeoutMs).then(() => undefined)]);
    let forced = false;
    if (!info) {
      forced = true;
      killQuietly(-this.pid, 'SIGKILL');
      info = await Promise.race([this.exited, sleep(5000).then(() => undefined)]);
    }
    killQuietly(-this.pid, 'SIGKILL'); // stray children of the group, if any
    return { code: info?.code ?? null, signal: info?.signal ?? null, ms: Date.now() - started, forced };
  }

  /** SIGKILL the daemon's whole process group now (a crash), and wait for it to be gone. */
  async crash(): Promise<void> {
    killQuietly(-this.pid, 'SIGKILL');
    await Promise.race([this.exited, sleep(5000)]);
  }
}

/** Reads the first line a server sends on a new connection, or undefined (refused, closed, slow). */
export function readBanner(port: number, timeoutMs = 2000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    let settled = false;
    const done = (v: string | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (v === undefined) sock.destroy();
      else {
        sock.end('QUIT\r\n'); // a polite goodbye; the socket is destroyed shortly whatever happens
        setTimeout(() => sock.destroy(), 1000).unref();
      }
      resolve(v);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    sock.on('error', () => done(undefined));
    sock.on('close', () => done(undefined));
    sock.on('data', (b) => {
      buf += b.toString('latin1');
      // A multi-line greeting ends at the "220 " line (RFC 5321 4.2.1); a single line at its LF.
      const last = buf.split('\n').find((l) => /^\d{3} /.test(l));
      if (last !== undefined || (buf.includes('\n') && !/^\d{3}-/.test(buf))) done(buf.split('\n')[0]?.replace(/\r$/, ''));
    });
  });
}

function spawnDaemon(opts: DaemonOptions, port: number): Daemon {
  const confPath = path.join(opts.dir, 'smtpd.conf');
  writeFileSync(confPath, opts.config({ port, dir: opts.dir }));
  const spool = opts.spool ?? path.join(opts.dir, 'spool');
  const args = [smtpdBin, '-d', '-f', confPath, '--spool', spool, ...(opts.extraArgs ?? [])];
  const env = opts.env ? { ...process.env, ...opts.env } : process.env;
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, cwd: opts.dir, env });
  return new Daemon(child, port, opts.dir, spool, confPath);
}

async function waitBanner(d: Daemon, timeoutMs: number): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  // Started as root the port is bound (by the privileged process) before the actors accept:
  // probing then would queue connections that count against the daemon's connection limits.
  while (Date.now() < deadline && d.isRunning() && !/smtpd: ready|"role":"smtpd","event":"ready"|EADDRINUSE|address already in use/.test(d.output())) await sleep(50);
  while (Date.now() < deadline && d.isRunning()) {
    const banner = await readBanner(d.port, 1000);
    if (banner !== undefined) return banner;
    await sleep(100);
  }
  return undefined;
}

/**
 * Starts the daemon and resolves once a connection gets a 220 banner. Retries with another port
 * (up to 3 times) when the chosen one was taken meanwhile; throws with the daemon's output otherwise.
 */
export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  await ensureDaemonUser();
  for (let attempt = 1; ; attempt++) {
    const port = opts.port ?? (await freePort());
    const d = spawnDaemon(opts, port);
    const banner = await waitBanner(d, opts.startTimeoutMs ?? 20_000);
    if (banner !== undefined && banner.startsWith('220')) return d;
    await d.stop(2000);
    const inUse = /EADDRINUSE|address already in use/i.test(d.output());
    if (!inUse || attempt >= 3 || opts.port !== undefined) {
      throw new Error(`smtpd did not greet on port ${port} (banner: ${banner ?? 'none'})\n${d.describe()}`);
    }
  }
}
