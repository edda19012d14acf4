// The worker side of an actor: exposes the control lane and the mailbox to the parent,
// accepts peer ports from the parent (one MessageChannel per topology edge), and hands
// the actor typed Remote handles on its peers.
import * as Comlink from 'comlink';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { ActorError, RuntimeCodes, type ActorControl, type ActorStats, type MailboxOf, type ParentMailbox, type Role, type TimingName } from '@tsmtpd/proto';
import { PortMux } from './mux.js';
import { linkRemote, type Remote, type RemoteLink } from './remote.js';
import { serve, type NotifyFailure } from './notify.js';
import { createLogger, type LogFormat, type Logger } from './log.js';
import { packLogBatch } from './log-writer.js';
import { errorInfo } from './errors.js';
import { StatsPusher } from './stats-push.js';
import { listenLogLevel } from './log-control.js';

/** What the parent passes to every worker. */
export interface WorkerBoot {
  role: Role;
  /** Actor-specific initialisation data (plain, structured-cloneable). */
  init: unknown;
  verbose: boolean;
  quiet: boolean;
  /** Deadlines of calls to peers, ms. */
  deadlineMs: number;
  deadlines?: Record<string, number>;
  /** Log lines go to the parent (lane `log`, stamped records) instead of this thread's stderr. */
  logToParent?: boolean;
  logFormat?: LogFormat;
}

export interface ActorContext<R extends Role> {
  role: R;
  init: unknown;
  log: Logger;
  /** A connected peer's mailbox; throws if that edge is not wired (a topology bug). */
  peer<P extends Role>(name: P): Remote<MailboxOf[P]>;
  /** Whether a peer is wired (test kits may wire only some). */
  hasPeer(name: Role): boolean;
  parent: Remote<ParentMailbox>;
  /** Report an unrecoverable condition: the daemon logs it and exits non-zero. */
  fatal(reason: string): void;
  /** A latency sample for the metrics histograms (a no-op unless metrics are configured). */
  timing(name: TimingName, seconds: number): void;
}

/** What an actor's factory returns: its mailbox and lifecycle hooks. */
export interface ActorImpl<M> {
  mailbox: M;
  start?(): Promise<void> | void;
  stop?(): Promise<void> | void;
  stats?(): ActorStats;
}

/** The control lane additionally lets the parent hand over peer ports. */
export interface WorkerControl extends ActorControl {
  connect(peer: Role, port: MessagePort): Promise<void>;
}

/**
 * Run the actor of this worker. The worker entry file is only:
 * `runActor('queue', (ctx) => createQueue(ctx));`
 */
/** How long a stopping actor waits for its peers to handle its last notifications. */
const STOP_DRAIN_MS = 2000;

export function runActor<R extends Role>(role: R, factory: (ctx: ActorContext<R>) => Promise<ActorImpl<MailboxOf[R]>> | ActorImpl<MailboxOf[R]>): void {
  if (!parentPort) throw new Error('runActor must be called inside a worker thread');
  const boot = workerData as WorkerBoot;
  const mux = new PortMux(parentPort);
  const logLane = mux.lane('log');
  const log = createLogger(role, {
    verbose: boot.verbose,
    quiet: boot.quiet,
    ...(boot.logFormat ? { format: boot.logFormat } : {}),
    ...(boot.logToParent ? { records: (batch) => logLane.postMessage(packLogBatch(batch)) } : {}),
  });
  const peers = new Map<Role, RemoteLink<unknown>>();
  const peerMuxes: PortMux[] = [];
  listenLogLevel();
  let implRef: ActorImpl<MailboxOf[R]> | null = null;
  const timingsOn = (boot.init as { settings?: { metrics?: unknown } } | null)?.settings?.metrics === true;
  const pusher = new StatsPusher(
    role,
    () => implRef?.stats?.() ?? {},
    () => {
      const link = role !== 'control' ? peers.get('control') : undefined;
      return link?.alive ? (link.remote as Remote<MailboxOf['control']>) : null;
    },
    timingsOn,
  );
  const parentLink = linkRemote<ParentMailbox>(mux.lane('parent'), { peer: 'parent', deadlineMs: boot.deadlineMs });
  // A notification's sender hears nothing back, so a handler that fails is reported here.
  const notifyFailure: NotifyFailure = (method, e) => log.warn('notification failed', { method, error: errorInfo(e).message });

  const ctx: ActorContext<R> = {
    role,
    init: boot.init,
    log,
    peer<P extends Role>(name: P): Remote<MailboxOf[P]> {
      const link = peers.get(name);
      if (!link) throw new ActorError(RuntimeCodes.notConnected, 'internal', `${role} has no edge to ${name}`);
      return link.remote as Remote<MailboxOf[P]>;
    },
    hasPeer: (name) => peers.has(name),
    parent: parentLink.remote,
    fatal(reason: string) {
      log.warn('fatal', { reason });
      void parentLink.remote.onFatal(role, reason);
    },
    timing: (name, seconds) => pusher.timing(name, seconds),
  };

  const ready = Promise.resolve().then(() => factory(ctx));
  ready.then(
    (impl) => {
      implRef = impl;
      serve(impl.mailbox as object, mux.lane(role), notifyFailure);
    },
    (e: unknown) => {
      // Answer the parent's ping with the reason first, then leave: fail fast.
      ctx.fatal(`initialisation failed: ${errorInfo(e).message}`);
      setTimeout(() => process.exit(1), 200);
    },
  );
  let stopped = false;

  const control: WorkerControl = {
    async connect(peer, port) {
      const impl = await ready;
      const peerMux = new PortMux(port);
      peerMuxes.push(peerMux);
      serve(impl.mailbox as object, peerMux.lane(role), notifyFailure);
      const link = linkRemote<unknown>(peerMux.lane(peer), {
        peer,
        deadlineMs: boot.deadlineMs,
        ...(boot.deadlines ? { deadlines: boot.deadlines } : {}),
        onNotifyError: (method, e) => log.warn('notification failed', { peer, method, error: errorInfo(e).message }),
      });
      peers.set(peer, link);
      // A peer's worker that exits closes its end; fail our pending calls to it at once.
      port.on('close', () => link.kill('channel closed'));
      port.start();
    },
    async start() {
      const impl = await ready;
      await impl.start?.();
      pusher.start();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      const impl = await ready;
      try {
        await impl.stop?.();
        // What this actor told its peers while stopping is handled before it reports stopped.
        await Promise.allSettled([...peers.values()].filter((l) => l.alive).map((l) => l.drain(STOP_DRAIN_MS)));
      } finally {
        pusher.stop();
        log.flush();
      }
    },
    async ping() {
      await ready;
      return role;
    },
    async stats() {
      const impl = await ready;
      return impl.stats?.() ?? {};
    },
  };
  Comlink.expose(control, mux.lane('ctl'));
}
