// The mda worker's side of the per-uid delivery helpers (root daemon only): one long-lived
// process per uid/gid, spawned with that uid/gid, reused across deliveries, ended after ~30 s
// idle. A helper that dies fails its deliveries in flight as temporary failures.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Logger } from '@tsmtpd/actor';
import type { FileJob } from '../file-jobs.js';
import { tempfail, type MethodOutcome, type Sink, type SinkOpen } from '../sink.js';
import { FromHelperSchema, type FromHelper, type ToHelper } from './protocol.js';

export const HELPER_ENTRY = fileURLToPath(new URL('./main.js', import.meta.url));
export const DEFAULT_IDLE_MS = 30_000;
/**
 * Longest wait for one answer of a helper (a chunk written, a delivery committed). A helper that
 * does not answer in time (a hung filesystem) is killed: its deliveries fail temporarily.
 */
export const DEFAULT_REQUEST_MS = 10 * 60_000;

type Waiter = (m: FromHelper | null) => void;

class HelperProcess {
  private readonly child: ChildProcess;
  private readonly waiters = new Map<number, Waiter>();
  private nextId = 1;
  private active = 0;
  private idleTimer: NodeJS.Timeout | null = null;
  dead: string | null = null;

  constructor(
    readonly uid: number,
    readonly gid: number,
    private readonly idleMs: number,
    private readonly requestMs: number,
    private readonly log: Logger,
    private readonly onGone: (h: HelperProcess) => void,
  ) {
    this.child = spawn(process.execPath, [HELPER_ENTRY], {
      uid,
      gid,
      cwd: '/',
      env: { PATH: '/usr/bin:/bin' },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    this.child.stderr?.setEncoding('utf8');
    this.child.stderr?.on('data', (s: string) => this.log.warn('delivery helper', { uid, output: s.trim().slice(0, 500) }));
    this.child.on('message', (raw) => this.receive(raw));
    this.child.on('error', (e) => this.gone(`helper error: ${e.message}`));
    this.child.once('exit', (code, signal) => this.gone(`helper exited (${signal ?? code})`));
    this.log.debug('delivery helper started', { uid, gid, pid: this.child.pid });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  private receive(raw: unknown): void {
    let m: ReturnType<typeof FromHelperSchema.safeParse>;
    try {
      m = FromHelperSchema.safeParse(raw);
    } catch (e) {
      this.log.warn('delivery helper message not understood', { uid: this.uid, error: (e as Error).message });
      return;
    }
    if (!m.success) {
      this.log.warn('delivery helper sent an invalid message', { uid: this.uid });
      return;
    }
    const w = this.waiters.get(m.data.id);
    this.waiters.delete(m.data.id);
    w?.(m.data);
  }

  private gone(reason: string): void {
    if (this.dead !== null) return;
    this.dead = reason;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    for (const w of this.waiters.values()) w(null);
    this.waiters.clear();
    this.onGone(this);
  }

  /** Send one message and wait for the helper's answer to it (null: the helper died). */
  request(m: ToHelper): Promise<FromHelper | null> {
    if (this.dead !== null || !this.child.connected) return Promise.resolve(null);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.log.warn('delivery helper does not answer: killed', { uid: this.uid, pid: this.child.pid });
        this.child.kill('SIGKILL');
        this.gone(`no answer within ${Math.round(this.requestMs / 1000)} s`);
      }, this.requestMs);
      const settle: Waiter = (r) => {
        clearTimeout(timer);
        resolve(r);
      };
      this.waiters.set(m.id, settle);
      this.child.send(m, (err) => {
        if (err && this.waiters.get(m.id) === settle) {
          this.waiters.delete(m.id);
          settle(null);
        }
      });
    });
  }

  async open(job: FileJob): Promise<SinkOpen> {
    const id = this.nextId++;
    this.begin();
    const r = await this.request({ t: 'open', id, job });
    if (r === null || r.t !== 'opened') {
      this.finish();
      return { ok: false, outcome: tempfail(`delivery helper for uid ${this.uid}: ${this.dead ?? 'no answer'}`) };
    }
    if (r.outcome !== null) {
      this.finish();
      return { ok: false, outcome: r.outcome };
    }
    return { ok: true, sink: this.sink(id) };
  }

  private sink(id: number): Sink {
    let failure: MethodOutcome | null = null;
    let finished = false;
    const died = (): MethodOutcome => tempfail(`delivery helper for uid ${this.uid}: ${this.dead ?? 'no answer'}`);
    const close = async (t: 'end' | 'abort'): Promise<MethodOutcome> => {
      if (finished) return failure ?? died();
      finished = true;
      const r = await this.request({ t, id });
      this.finish();
      return r !== null && r.t === 'done' ? r.outcome : died();
    };
    return {
      write: async (chunk) => {
        if (failure || finished) return;
        const r = await this.request({ t: 'data', id, data: chunk });
        if (r === null) failure = died();
        else if (r.t !== 'ack') failure = r.t === 'done' ? r.outcome : died();
      },
      end: async () => (failure ? (await close('abort'), failure) : close('end')),
      abort: async () => {
        failure ??= tempfail('delivery aborted');
        await close('abort');
      },
    };
  }

  private begin(): void {
    this.active++;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  private finish(): void {
    this.active--;
    if (this.active === 0 && this.dead === null) {
      this.idleTimer = setTimeout(() => this.stop('idle'), this.idleMs);
      this.idleTimer.unref();
    }
  }

  /** Close the channel (the helper exits on disconnect); kill it if it lingers. */
  stop(reason: string): void {
    if (this.dead !== null) return;
    this.log.debug('delivery helper stopping', { uid: this.uid, reason });
    this.onGone(this);
    if (this.child.connected) this.child.disconnect();
    setTimeout(() => {
      if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    }, 2000).unref();
  }

  waitExit(timeoutMs: number): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, timeoutMs);
      this.child.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}

/** One helper per uid/gid, created on first use. */
export class HelperPool {
  private readonly helpers = new Map<string, HelperProcess>();

  constructor(
    private readonly log: Logger,
    private readonly idleMs = DEFAULT_IDLE_MS,
    private readonly requestMs = DEFAULT_REQUEST_MS,
  ) {}

  get size(): number {
    return this.helpers.size;
  }

  /** Pids of the running helpers (tests check reuse and idle exit). */
  pids(): number[] {
    return [...this.helpers.values()].map((h) => h.pid).filter((p): p is number => p !== undefined);
  }

  open(uid: number, gid: number, job: FileJob): Promise<SinkOpen> {
    const key = `${uid}:${gid}`;
    let h = this.helpers.get(key);
    if (!h || h.dead !== null) {
      h = new HelperProcess(uid, gid, this.idleMs, this.requestMs, this.log, (gone) => {
        if (this.helpers.get(key) === gone) this.helpers.delete(key);
      });
      this.helpers.set(key, h);
    }
    return h.open(job);
  }

  async close(): Promise<void> {
    const all = [...this.helpers.values()];
    for (const h of all) h.stop('shutdown');
    await Promise.all(all.map((h) => h.waitExit(3000)));
  }
}
