// Supervision as OpenSMTPD does it: fail fast. An actor that dies, or reports a fatal
// condition, makes the daemon log why and exit non-zero; a signal stops every actor in
// order and exits 0. The supervisor also wires the topology: one channel per edge.
import type { ResourceLimits } from 'node:worker_threads';
import type { ReloadOutcome, Role } from '@tsmtpd/proto';
import { connectPair, spawnActor, type ActorHandle } from './spawn.js';
import type { LogFormat, LogRecord, Logger } from './log.js';
import { UNPRIVILEGED, type PrivilegedServices } from './privileged.js';

export interface ActorSpec {
  role: Role;
  entry: URL;
  init: unknown;
  /** V8 heap limits of its worker (default: V8's, as the parent's). */
  resourceLimits?: ResourceLimits;
}

/** Undirected edges: which actors may talk to each other. */
export type Topology = readonly (readonly [Role, Role])[];

export interface SupervisorOptions {
  log: Logger;
  verbose?: boolean;
  quiet?: boolean;
  deadlineMs?: number;
  deadlines?: Record<string, number>;
  /** How long one actor may take to stop before it is terminated. */
  stopTimeoutMs?: number;
  /** Every actor's stamped log lines (the daemon's LogWriter); else each worker writes to stderr. */
  onLog?: (batch: LogRecord[]) => void;
  logFormat?: LogFormat;
  /** The privileged operations served to actors (default: an ordinary user's, UNPRIVILEGED). */
  privileged?: PrivilegedServices;
  /** `smtpctl reload` (control asks the parent): re-read, check and apply the configuration. */
  onReload?: () => Promise<ReloadOutcome>;
}

export class Supervisor {
  private readonly handles = new Map<Role, ActorHandle<Role>>();
  private stopping = false;
  private spawning: Promise<unknown> = Promise.resolve();
  private failWith!: (reason: string) => void;
  /** Resolves with the reason when an actor dies unexpectedly or reports a fatal error. */
  readonly failed: Promise<string> = new Promise((resolve) => (this.failWith = resolve));

  constructor(private readonly opts: SupervisorOptions) {}

  handle<R extends Role>(role: R): ActorHandle<R> {
    const h = this.handles.get(role);
    if (!h) throw new Error(`no actor ${role}`);
    return h as ActorHandle<R>;
  }

  get roles(): Role[] {
    return [...this.handles.keys()];
  }

  /** Spawn every actor, wire the topology, then start them in `startOrder`. */
  async startAll(specs: ActorSpec[], topology: Topology, startOrder: readonly Role[]): Promise<void> {
    const parent = {
      ...(this.opts.privileged ?? UNPRIVILEGED),
      onFatal: (role: string, reason: string) => this.fail(`${role}: ${reason}`),
      reloadConfig: (): Promise<ReloadOutcome> => this.opts.onReload?.() ?? Promise.resolve({ ok: false, errors: ['this daemon cannot reload'] }),
    };
    const spawns = specs.map((s) =>
        spawnActor(s.role, s.entry, {
          init: s.init,
          parent,
          ...(this.opts.verbose !== undefined ? { verbose: this.opts.verbose } : {}),
          ...(this.opts.quiet !== undefined ? { quiet: this.opts.quiet } : {}),
          ...(this.opts.deadlineMs !== undefined ? { deadlineMs: this.opts.deadlineMs } : {}),
          ...(this.opts.deadlines ? { deadlines: this.opts.deadlines } : {}),
          ...(this.opts.onLog ? { onLog: this.opts.onLog } : {}),
          ...(this.opts.logFormat ? { logFormat: this.opts.logFormat } : {}),
          ...(s.resourceLimits ? { resourceLimits: s.resourceLimits } : {}),
        }).then((h) => {
          // Registered as soon as it runs, so a stop during start reaches it too.
          this.watch(h);
          return h;
        }),
    );
    const settled = Promise.allSettled(spawns);
    this.spawning = settled;
    const spawned = await settled;
    const bad = spawned.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (bad) throw bad.reason instanceof Error ? bad.reason : new Error(String(bad.reason));
    for (const [a, b] of topology) await connectPair(this.handle(a), this.handle(b));
    for (const role of startOrder) {
      await this.handle(role).ctl.start();
      this.opts.log.debug('actor started', { actor: role });
    }
  }

  /** Stop actors one by one in `order`, terminating any that does not stop in time. */
  async stopAll(order: readonly Role[]): Promise<void> {
    this.stopping = true;
    await this.spawning;
    const timeout = this.opts.stopTimeoutMs ?? 5000;
    for (const role of order) {
      const h = this.handles.get(role);
      if (!h) continue;
      try {
        await Promise.race([h.ctl.stop(), new Promise((_, rej) => setTimeout(() => rej(new Error('stop timed out')), timeout).unref())]);
      } catch (e) {
        this.opts.log.warn('actor did not stop cleanly', { actor: role, error: e instanceof Error ? e.message : String(e) });
      }
      await h.terminate();
    }
  }

  private watch(h: ActorHandle<Role>): void {
    this.handles.set(h.role, h);
    void h.exited.then((x) => {
      if (this.stopping) return;
      this.fail(`actor ${x.role} died: ${x.error ? `${x.error.name}: ${x.error.message}` : `exit code ${x.code}`}`);
    });
  }

  private fail(reason: string): void {
    if (this.stopping) return;
    this.failWith(reason);
  }
}
