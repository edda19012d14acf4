// One filter process (`proc NAME "cmd"` or `filter NAME proc-exec "cmd"`): spawned through
// /bin/sh as the unprivileged user, fed the config handshake, its registrations collected until
// `register|ready`, then its stdout read line by line and handed to the engine; stderr is logged.
// A process that exits, writes garbage or does not finish its handshake is killed and started
// again with a growing delay; the engine fails the sessions that depended on it (fail closed).
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Logger } from '@tsmtpd/actor';
import { configLines, MAX_FILTER_LINE, parseProcLine, type ProcLine, type ProtoPhase, type ReportEvent, REPORT_EVENTS } from './protocol.js';
import { resolveRunAs, type RunAs } from './proc-user.js';

/** OpenSMTPD's PATH_LIBEXEC: a relative filter command is found here (Debian's filters live there). */
export const LIBEXEC_DIR = '/usr/libexec/opensmtpd';
export const HANDSHAKE_TIMEOUT_MS = 10_000;
const RESTART_MIN_MS = 250;
const NL = Buffer.from('\n');
const RESTART_MAX_MS = 30_000;

export interface ProcSpec {
  name: string;
  command: string;
  user?: string | undefined;
  group?: string | undefined;
}

export interface ProcSink {
  /** A line from a ready process (results, data lines, its own reports). */
  line(proc: FilterProc, l: ProcLine): void;
  /** The process is gone (exit, fault, kill): sessions waiting on it must fail. */
  down(proc: FilterProc, why: string): void;
}

export function commandLine(command: string): string {
  const c = command.trimStart();
  return c.startsWith('/') || c.startsWith('./') ? c : `${LIBEXEC_DIR}/${c}`;
}

export class FilterProc {
  readonly phases = new Set<ProtoPhase>();
  readonly reports = new Set<ReportEvent>();
  /** Bumped at every (re)start: a session begun under an older generation is not known to it. */
  generation = 0;
  ready = false;
  private child: ChildProcess | null = null;
  private stopping = false;
  private restartDelay = RESTART_MIN_MS;
  private restartTimer: NodeJS.Timeout | null = null;
  private readonly runAs: RunAs | null;

  constructor(readonly spec: ProcSpec, private readonly admd: string, private readonly log: Logger, private readonly sink: ProcSink) {
    this.runAs = resolveRunAs(spec.user, spec.group);
  }

  /** Spawn and complete the handshake; rejects when the process does not register in time. */
  start(): Promise<void> {
    this.generation++;
    this.ready = false;
    this.phases.clear();
    this.reports.clear();
    const who = this.runAs;
    const child = spawn('/bin/sh', ['-c', commandLine(this.spec.command)], {
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
      cwd: '/',
      env: {
        PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        ...(who ? { HOME: who.home, USER: who.name, LOGNAME: who.name } : { HOME: process.env['HOME'] ?? '/' }),
      },
      ...(who ? { uid: who.uid, gid: who.gid } : {}),
    });
    this.child = child;
    child.stdin?.on('error', () => undefined); // EPIPE after a crash: reported through 'exit'
    const err = createInterface({ input: child.stderr! });
    err.on('line', (l) => this.log.warn('filter stderr', { filter: this.spec.name, line: l.slice(0, 2000) }));
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const fail = (why: string) => {
        if (!settled) {
          settled = true;
          reject(new Error(`filter process ${this.spec.name}: ${why}`));
        }
        this.fault(child, why);
      };
      const timer = setTimeout(() => fail('no register|ready within the handshake time'), HANDSHAKE_TIMEOUT_MS);
      child.once('error', (e) => fail(e.message));
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        fail(`exited (${signal ?? `code ${code}`})`);
      });
      this.readLines(child, () => {
        clearTimeout(timer);
        settled = true;
        this.ready = true;
        this.restartDelay = RESTART_MIN_MS;
        this.log.info('filter ready', { filter: this.spec.name, pid: child.pid, phases: [...this.phases].join(','), reports: this.reports.size });
        resolve();
      }, fail);
      for (const l of configLines('smtp-in', this.admd)) child.stdin?.write(l + '\n');
    });
  }

  private readLines(child: ChildProcess, onReady: () => void, fail: (why: string) => void): void {
    let buf = '';
    // Bytes map 1:1 onto latin1 code units: a data line's 8-bit content comes back unchanged.
    child.stdout!.setEncoding('latin1');
    child.stdout!.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_FILTER_LINE && !buf.includes('\n')) return fail('line too long');
      let nl: number;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, nl).replace(/\r$/, '');
        buf = buf.slice(nl + 1);
        if (this.child !== child) return;
        const p = parseProcLine(line);
        if (p.kind === 'bad') return fail(p.why);
        if (p.kind === 'register') {
          if (this.ready) return fail('register after register|ready');
          if (p.what === 'ready') onReady();
          else if (p.what === 'filter') this.phases.add(p.phase);
          else if (p.what === 'report') for (const e of p.event === '*' ? REPORT_EVENTS : [p.event]) this.reports.add(e);
          continue;
        }
        if (!this.ready) return fail(`non-register message before register|ready: ${line.slice(0, 200)}`);
        this.sink.line(this, p);
      }
    });
  }

  /** Write one protocol line; false when the pipe is full (wait for `drained()`) or the process is down. */
  write(line: string | Buffer): boolean {
    const stdin = this.child?.stdin;
    if (!this.ready || !stdin || stdin.destroyed) return false;
    if (typeof line === 'string') return stdin.write(line + '\n');
    return stdin.write(Buffer.concat([line, NL]));
  }

  /** Still running (a failed write leaves the caller's request to time out otherwise). */
  get alive(): boolean {
    return this.ready && this.child !== null;
  }

  /** Resolves when the process's stdin can take more (or the process is gone). */
  drained(): Promise<void> {
    const stdin = this.child?.stdin;
    if (!stdin || !stdin.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        stdin.off('drain', done);
        stdin.off('close', done);
        resolve();
      };
      stdin.on('drain', done);
      stdin.on('close', done);
    });
  }

  /** The process misbehaved, stalled or died: kill it, tell the engine, start another later. */
  fault(child: ChildProcess | null, why: string): void {
    if (child === null || this.child !== child) return;
    this.child = null;
    const wasReady = this.ready;
    this.ready = false;
    this.log.warn('filter process failed', { filter: this.spec.name, pid: child.pid, why });
    killGroup(child);
    if (wasReady) this.sink.down(this, why);
    this.scheduleRestart();
  }

  /** Kill the running process because a request to it stalled. */
  stalled(why: string): void {
    this.fault(this.child, why);
  }

  private scheduleRestart(): void {
    if (this.stopping || this.restartTimer) return;
    const delay = this.restartDelay;
    this.restartDelay = Math.min(this.restartDelay * 2, RESTART_MAX_MS);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.stopping) return;
      this.start().catch((e: unknown) => this.log.warn('filter restart failed', { filter: this.spec.name, error: (e as Error).message }));
    }, delay);
    this.restartTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const child = this.child;
    this.child = null;
    this.ready = false;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    child.stdin?.end(); // a filter ends on EOF
    const t = setTimeout(() => killGroup(child), 1000);
    await Promise.race([gone, new Promise((r) => setTimeout(r, 2000))]);
    clearTimeout(t);
    killGroup(child, 'SIGKILL');
  }
}

function killGroup(child: ChildProcess, sig: NodeJS.Signals = 'SIGTERM'): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, sig);
  } catch {
    try {
      child.kill(sig);
    } catch {
      /* already gone */
    }
  }
}
