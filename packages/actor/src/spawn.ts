// The parent side: spawn an actor's worker, hold typed handles on its control lane and
// mailbox, and notice its death at once (exit or uncaught error), rejecting every call
// still pending to it.
import * as Comlink from 'comlink';
import { MessageChannel, Worker, type ResourceLimits } from 'node:worker_threads';
import type { MailboxOf, ParentMailbox, Role } from '@tsmtpd/proto';
import { PortMux, type MuxStats } from './mux.js';
import { serve } from './notify.js';
import { linkRemote, DEFAULT_DEADLINE_MS, type Remote, type RemoteLink } from './remote.js';
import type { WorkerBoot, WorkerControl } from './worker-runtime.js';
import type { LogFormat, LogRecord } from './log.js';
import { unpackLogBatch } from './log-writer.js';

export interface SpawnOptions {
  init: unknown;
  verbose?: boolean;
  quiet?: boolean;
  deadlineMs?: number;
  deadlines?: Record<string, number>;
  /** The parent's own mailbox, served to the actor. */
  parent: ParentMailbox;
  /** Deadline of control calls (ping, start, stop), ms; default 30 s. */
  controlDeadlineMs?: number;
  /** The actor's log lines, stamped (see log-writer.ts); without it the worker writes to stderr. */
  onLog?: (batch: LogRecord[]) => void;
  logFormat?: LogFormat;
  /** The worker's V8 heap limits (its young generation, mostly: see smtpd's actors.ts). */
  resourceLimits?: ResourceLimits;
}

export interface ActorExit {
  role: Role;
  code: number;
  /** The uncaught error that killed the worker, if any. */
  error?: Error;
}

export class ActorHandle<R extends Role> {
  readonly ctl: Remote<WorkerControl>;
  readonly mailbox: Remote<MailboxOf[R]>;
  /** Resolves when the worker has exited, for whatever reason. */
  readonly exited: Promise<ActorExit>;
  private readonly links: RemoteLink<unknown>[];
  private readonly mux: PortMux;

  constructor(
    readonly role: R,
    readonly worker: Worker,
    opts: SpawnOptions,
  ) {
    const mux = new PortMux(worker);
    this.mux = mux;
    const deadlineMs = opts.deadlineMs ?? DEFAULT_DEADLINE_MS;
    // Control calls (ping, start, stop) get their own, longer deadline: a worker that starts
    // slowly on a loaded machine is not a mailbox call that timed out.
    const ctl = linkRemote<WorkerControl>(mux.lane('ctl'), { peer: `${role}(ctl)`, deadlineMs: Math.max(deadlineMs, opts.controlDeadlineMs ?? 30_000) });
    const mailbox = linkRemote<MailboxOf[R]>(mux.lane(role), { peer: role, deadlineMs });
    this.links = [ctl as RemoteLink<unknown>, mailbox as RemoteLink<unknown>];
    this.ctl = ctl.remote;
    this.mailbox = mailbox.remote;
    serve(opts.parent, mux.lane('parent'));
    const onLog = opts.onLog;
    if (onLog) {
      const listener = (ev: { data: unknown }) => {
        const batch = unpackLogBatch(ev.data);
        if (batch) onLog(batch);
      };
      mux.lane('log').addEventListener('message', listener as unknown as Parameters<ReturnType<PortMux['lane']>['addEventListener']>[1]);
    }
    let lastError: Error | undefined;
    worker.on('error', (e) => {
      lastError = e;
    });
    this.exited = new Promise((resolve) => {
      worker.once('exit', (code) => {
        const reason = lastError ? `uncaught ${lastError.name}: ${lastError.message}` : `exit code ${code}`;
        for (const l of this.links) l.kill(reason);
        mux.close();
        resolve(lastError ? { role, code, error: lastError } : { role, code });
      });
    });
  }

  /** Frames and messages sent to this actor (batching shows as messages > frames). */
  get muxStats(): MuxStats {
    return { ...this.mux.stats };
  }

  /** Pending calls from the parent to this actor. */
  get pendingCalls(): number {
    return this.links.reduce((n, l) => n + l.pending, 0);
  }

  /** Resolves once the notifications sent to this actor so far were handled (tests, stop). */
  drain(ms?: number): Promise<void> {
    return this.links[1]!.drain(ms);
  }

  /** Kill the worker without ceremony (after a failed stop). */
  async terminate(): Promise<void> {
    await this.worker.terminate();
  }
}

/** Start one actor's worker and wait until its factory has run (it answers ping). */
export async function spawnActor<R extends Role>(role: R, entry: URL, opts: SpawnOptions): Promise<ActorHandle<R>> {
  const boot: WorkerBoot = {
    role,
    init: opts.init,
    verbose: opts.verbose ?? false,
    quiet: opts.quiet ?? false,
    deadlineMs: opts.deadlineMs ?? DEFAULT_DEADLINE_MS,
    ...(opts.deadlines ? { deadlines: opts.deadlines } : {}),
    ...(opts.onLog ? { logToParent: true } : {}),
    ...(opts.logFormat ? { logFormat: opts.logFormat } : {}),
  };
  const worker = new Worker(entry, { workerData: boot, name: role, ...(opts.resourceLimits ? { resourceLimits: opts.resourceLimits } : {}) });
  const handle = new ActorHandle(role, worker, opts);
  try {
    const answered = await Promise.race([
      handle.ctl.ping().catch((e: unknown) => {
        throw new Error(`${role} failed to start: ${e instanceof Error ? e.message : String(e)}`);
      }),
      handle.exited.then((x) => {
        throw new Error(`${role} died while starting: ${x.error ? x.error.message : `exit code ${x.code}`}`);
      }),
    ]);
    if (answered !== role) throw new Error(`${entry.href} runs ${String(answered)}, not ${role}`);
    return handle;
  } catch (e) {
    // A worker that did not start must not outlive the attempt (it would hold the process).
    await handle.terminate();
    throw e;
  }
}

/** Wire one topology edge: a MessageChannel whose ends go to the two actors. */
export async function connectPair(a: ActorHandle<Role>, b: ActorHandle<Role>): Promise<void> {
  const { port1, port2 } = new MessageChannel();
  await Promise.all([
    a.ctl.connect(b.role, Comlink.transfer(port1, [port1])),
    b.ctl.connect(a.role, Comlink.transfer(port2, [port2])),
  ]);
}
