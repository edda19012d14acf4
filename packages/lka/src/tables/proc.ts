// External tables: a `table-TYPE` program (or a `proc:` path) speaking the table protocol 0.1 on
// its stdin/stdout, run as the unprivileged user when the daemon is root, its stderr logged.
// Many requests in flight, matched by id; each has a deadline. A program that dies, stalls or
// breaks the protocol fails its requests as temporary errors and is restarted after a backoff:
// an `error` is never a refusal nor an acceptance.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { LookupService } from '@tsmtpd/proto';
import { handshakeLines, MAX_ANSWER_LINE, parseAnswer, requestLine, type Answer, type RequestKind } from './proc-protocol.js';
import type { CheckService, LookupResult, MatchOutcome, TableBackend } from './table.js';

export interface ProcTableOptions {
  /** Table name (sent in the handshake and each request). */
  name: string;
  /** Program and arguments. */
  argv: string[];
  /** uid/gid to run as (root daemon), or null to run as ourselves. */
  runAs: () => Promise<{ uid: number; gid: number } | null>;
  log: (event: string, fields: Record<string, unknown>) => void;
  requestTimeoutMs?: number;
  handshakeTimeoutMs?: number;
  /** Version string for `config|smtpd-version|`. */
  version?: string;
}

interface Pending {
  resolve: (a: Answer | { error: string }) => void;
  timer: NodeJS.Timeout;
}

const BACKOFF_MS = [500, 1000, 2000, 5000, 10_000, 30_000];

export class ProcTableBackend implements TableBackend {
  readonly kind = 'proc';
  private child: ChildProcess | null = null;
  private ready: Promise<void> | null = null;
  private registered = new Set<string>();
  private readonly pending = new Map<string, Pending>();
  private failures = 0;
  private restartAt = 0;
  private closed = false;

  constructor(private readonly o: ProcTableOptions) {}

  async open(): Promise<void> {
    await this.ensure();
  }

  content(): undefined {
    return undefined;
  }

  async check(service: CheckService, key: string): Promise<MatchOutcome> {
    if (service === 'string' || service === 'regex') return 'error';
    const a = await this.request('check', service, key);
    if ('error' in a || a.kind !== 'result' || a.status === 'error') return 'error';
    return a.status === 'found';
  }

  async get(key: string, service?: LookupService): Promise<LookupResult> {
    if (service === undefined) return { error: `table ${this.o.name}: lookup without a service` };
    const a = await this.request('lookup', service, key);
    if ('error' in a) return a;
    if (a.kind !== 'result' || a.status === 'error') return { error: `table ${this.o.name}: the table program answered error${a.kind === 'result' && a.value ? `: ${a.value}` : ''}` };
    return a.status === 'found' ? { found: true, value: a.value ?? '' } : { found: false };
  }

  async fetch(): Promise<{ values: string[] } | { error: string }> {
    const a = await this.request('fetch', 'source', undefined);
    if ('error' in a) return a;
    if (a.kind !== 'result' || a.status === 'error') return { error: `table ${this.o.name}: the table program answered error` };
    return { values: a.status === 'found' ? [a.value ?? ''] : [] };
  }

  async update(): Promise<void> {
    const a = await this.request('update', undefined, undefined);
    if ('error' in a) throw new Error(a.error);
    if (a.kind !== 'result' || a.status !== 'ok') throw new Error(`table ${this.o.name}: update failed`);
  }

  close(): void {
    this.closed = true;
    this.child?.kill('SIGTERM');
    this.failAll('table closed');
  }

  private async request(kind: RequestKind, service: string | undefined, key: string | undefined): Promise<Answer | { error: string }> {
    if (service !== undefined && kind !== 'update' && !this.registered.has(service) && this.child) {
      return { error: `table ${this.o.name}: the table program does not serve ${service}` };
    }
    try {
      await this.ensure();
    } catch (e) {
      return { error: `table ${this.o.name}: ${(e as Error).message}` };
    }
    if (service !== undefined && kind !== 'update' && !this.registered.has(service)) return { error: `table ${this.o.name}: the table program does not serve ${service}` };
    const id = randomBytes(8).toString('hex');
    const line = requestLine({ table: this.o.name, kind, id, now: Date.now() / 1000, ...(service !== undefined ? { service } : {}), ...(key !== undefined ? { key } : {}) });
    if (line === null) return { error: `table ${this.o.name}: key with CR, LF or NUL refused` };
    const child = this.child;
    if (!child?.stdin?.writable) return { error: `table ${this.o.name}: the table program is not running` };
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.o.log('table request timed out', { table: this.o.name, kind });
        resolve({ error: `table ${this.o.name}: no answer in time` });
      }, this.o.requestTimeoutMs ?? 10_000);
      this.pending.set(id, { resolve, timer });
      child.stdin!.write(`${line}\n`);
    });
  }

  /** Starts the program (when not running and the backoff allows) and waits for its handshake. */
  private ensure(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('table closed'));
    if (this.ready) return this.ready;
    if (Date.now() < this.restartAt) return Promise.reject(new Error('the table program is restarting'));
    const p = this.start();
    this.ready = p;
    p.catch(() => {
      if (this.ready === p) this.ready = null;
    });
    return p;
  }

  private async start(): Promise<void> {
    const [cmd, ...args] = this.o.argv;
    if (!cmd) throw new Error('no table program');
    const ids = await this.o.runAs();
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], ...(ids ? { uid: ids.uid, gid: ids.gid } : {}), env: { PATH: '/usr/bin:/bin' } });
    this.child = child;
    this.registered = new Set();
    let registeredAll: () => void = () => {};
    let failed: (e: Error) => void = () => {};
    const handshake = new Promise<void>((resolve, reject) => {
      registeredAll = resolve;
      failed = reject;
    });
    const timer = setTimeout(() => failed(new Error('no handshake from the table program in time')), this.o.handshakeTimeoutMs ?? 10_000);
    let buf = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        this.onLine(child, line, registeredAll, failed);
      }
      if (buf.length > MAX_ANSWER_LINE) this.broken(child, 'answer line too long');
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (t: string) => {
      for (const l of t.split('\n')) if (l.trim() !== '') this.o.log('table program stderr', { table: this.o.name, line: l.slice(0, 500) });
    });
    child.stdin!.on('error', () => {});
    child.on('error', (e) => failed(e));
    child.on('exit', (code, signal) => {
      failed(new Error(`the table program exited (${signal ?? code})`));
      this.onExit(child, code, signal);
    });
    for (const l of handshakeLines(this.o.name, this.o.version ?? 'tsmtpd')) child.stdin!.write(`${l}\n`);
    try {
      await handshake;
      this.failures = 0;
    } catch (e) {
      child.kill('SIGKILL');
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  private onLine(child: ChildProcess, line: string, registeredAll: () => void, failed: (e: Error) => void): void {
    if (child !== this.child) return;
    const a = parseAnswer(line);
    if (!a) {
      failed(new Error('the table program broke the protocol'));
      this.broken(child, `unparsable line: ${line.slice(0, 200)}`);
      return;
    }
    if (a.kind === 'register') this.registered.add(a.service);
    else if (a.kind === 'register-ready') registeredAll();
    else {
      const p = this.pending.get(a.id);
      if (!p) return this.o.log('table answer for no request', { table: this.o.name, id: a.id });
      this.pending.delete(a.id);
      clearTimeout(p.timer);
      p.resolve(a);
    }
  }

  private broken(child: ChildProcess, why: string): void {
    this.o.log('table program protocol error', { table: this.o.name, error: why });
    child.kill('SIGKILL');
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (child !== this.child) return;
    this.child = null;
    this.ready = null;
    this.failAll('the table program exited');
    if (this.closed) return;
    const delay = BACKOFF_MS[Math.min(this.failures, BACKOFF_MS.length - 1)] ?? 30_000;
    this.failures++;
    this.restartAt = Date.now() + delay;
    this.o.log('table program exited', { table: this.o.name, code, signal, restart_in_ms: delay });
    // Restarted on its own, not only at the next lookup, so a crash shows in the log at once.
    setTimeout(() => {
      if (!this.closed && !this.child) this.ensure().catch((e: Error) => this.o.log('table program restart failed', { table: this.o.name, error: e.message }));
    }, delay).unref();
  }

  private failAll(why: string): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.resolve({ error: `table ${this.o.name}: ${why}` });
      this.pending.delete(id);
    }
  }
}
