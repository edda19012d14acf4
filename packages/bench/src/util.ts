// Small process and file helpers every part of the bench uses: where the repository and its
// peers are, temp dirs, a free loopback port, the SMTP banner probe, system users, and a spawned
// child whose output tail is kept and which is stopped by its PID (SIGTERM, then SIGKILL).
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file runs from packages/bench/dist/). */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const peersDir = path.join(repoRoot, '.peers');
export const smtpdBin = path.join(repoRoot, 'packages/smtpd/bin/smtpd.js');
export const smtpctlBin = path.join(repoRoot, 'packages/smtpctl/bin/smtpctl.js');

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
export const isRoot = (): boolean => process.getuid?.() === 0;

/** A new directory under the system temp dir, mode 0755 (delivery runs as the recipient). */
export function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `tsmtpd-bench-${prefix}-`));
  chmodSync(dir, 0o755);
  return dir;
}

/** A directory any user may create entries in (sticky): the parent of per-user maildirs. */
export function makeSharedDir(dir: string): string {
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o1777);
  return dir;
}

export function removeDir(dir: string, keep = false): void {
  if (keep || process.env['TSMTPD_KEEP_TMP']) process.stderr.write(`bench: kept ${dir}\n`);
  else rmSync(dir, { recursive: true, force: true });
}

/** A loopback port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/** The first reply line a server sends on a new connection, or undefined. */
export function readBanner(port: number, timeoutMs = 2000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    let done = false;
    const finish = (v: string | undefined): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (v !== undefined) sock.end('QUIT\r\n');
      setTimeout(() => sock.destroy(), v === undefined ? 0 : 500).unref();
      resolve(v);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    sock.on('error', () => finish(undefined));
    sock.on('close', () => finish(undefined));
    sock.on('data', (b) => {
      buf += b.toString('latin1');
      const line = buf.split('\n').find((l) => /^\d{3} /.test(l));
      if (line !== undefined) finish(line.replace(/\r$/, ''));
    });
  });
}

/** Polls `port` until it greets with 220 or `timeoutMs` passes; `alive()` false ends it early. */
export async function waitBanner(port: number, timeoutMs: number, alive: () => boolean = () => true): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && alive()) {
    if ((await readBanner(port, 1000))?.startsWith('220')) return true;
    await sleep(100);
  }
  return false;
}

function lookup(kind: 'passwd' | 'group', name: string): string[] | undefined {
  const r = spawnSync('getent', [kind, name], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim().split(':') : undefined;
}

/** A system user's uid and gid, creating it (`useradd` with `args`) when missing; root only. */
export function ensureUser(name: string, args: string[] = ['--system', '-M', '-d', '/nonexistent', '-s', '/usr/sbin/nologin']): { uid: number; gid: number } {
  for (let attempt = 0; attempt < 20 && !lookup('passwd', name); attempt++) spawnSync('useradd', [...args, name], { stdio: 'ignore' });
  const pw = lookup('passwd', name);
  if (!pw) throw new Error(`useradd ${name} failed`);
  return { uid: Number(pw[2]), gid: Number(pw[3]) };
}

export function ensureGroup(name: string): void {
  if (!lookup('group', name)) spawnSync('groupadd', ['--system', name], { stdio: 'ignore' });
}

/** The user the bench delivers to: tsmtpd-bench (created) as root, else the running user. */
export function benchUser(): string {
  if (!isRoot()) return os.userInfo().username;
  ensureUser('tsmtpd-bench', ['-m', '-s', '/usr/sbin/nologin', '-c', 'tsmtpd bench user']);
  return 'tsmtpd-bench';
}

/** A child process with its output tail kept, stopped by its PID. */
export class Child {
  readonly pid: number;
  private out = '';
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly proc: ChildProcess;

  constructor(cmd: string, args: string[], opts: SpawnOptions = {}, private readonly keepChars = 200_000) {
    this.proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    if (this.proc.pid === undefined) throw new Error(`${cmd} did not start`);
    this.pid = this.proc.pid;
    const keep = (b: Buffer): void => {
      this.out = (this.out + b.toString('utf8')).slice(-this.keepChars);
    };
    this.proc.stdout?.on('data', keep);
    this.proc.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => this.proc.once('exit', (code, signal) => resolve((this.exitInfo = { code, signal }))));
  }

  output(): string {
    return this.out;
  }

  running(): boolean {
    return this.exitInfo === undefined;
  }

  tail(lines = 15): string {
    return this.out.split('\n').slice(-lines).join('\n');
  }

  /** SIGTERM, wait up to `timeoutMs`, then SIGKILL (bounded); true when it had to be forced. */
  async stop(timeoutMs = 10_000): Promise<boolean> {
    if (!this.running()) return false;
    kill(this.pid, 'SIGTERM');
    if (await Promise.race([this.exited.then(() => true), sleep(timeoutMs).then(() => false)])) return false;
    kill(this.pid, 'SIGKILL');
    await Promise.race([this.exited, sleep(5000)]);
    return true;
  }
}

export function kill(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* gone already */
  }
}
