// The queue actor: serves QueueMailbox to smtp (intake: msgid reservations, bodies, commits),
// scheduler (dispatch, expiry) and mda/mta (bodies, outcomes). The single SQLite writer.
// Talks to: scheduler (durable messages' envelopes and commits, loads, outcomes), mda
// (onDeliver), mta (onRelay).
import type { ActorContext, ActorImpl } from '@tsmtpd/actor';
import { MSGID_RESERVE_TTL, type ActorInit, type ActorStats, type QueueMailbox } from '@tsmtpd/proto';
import type { SmtpdConfig } from '@tsmtpd/config';
import { parseReloadOrder } from '@tsmtpd/config/reload-order.js';
import type { QueueBackend } from './backend.js';
import { SqliteQueueBackend } from './sqlite-backend.js';
import { RamQueueBackend } from './ram-backend.js';
import { GroupCommit } from './group-commit.js';
import { newCounters, type QueueShared } from './context.js';
import { Intake, commitBatcher } from './intake.js';
import { Outbound } from './outbound.js';
import { startLoad, purgeAndCount, type LoadHandle } from './loader.js';
import { PgQueueBackend } from './pg-backend.js';
import { LeaseKeeper } from './lease.js';
import { controlMethods } from './ctl.js';

/**
 * Open messages idle this long (seconds) are dropped, and unused reservations forgotten; sessions
 * time out long before, and smtp uses a reserved id within half of it.
 */
const OPEN_IDLE_MAX = MSGID_RESERVE_TTL;
const SWEEP_EVERY_MS = 60_000;

/** Optional fields of the queue's init beyond ActorInit (benchmarks and tests). */
export interface QueueInitExtras {
  /** 'sqlite' (default) or 'ram' (nothing durable: benchmarks only). */
  queueBackend?: 'sqlite' | 'ram';
  /** Group-commit window in ms; 0 (default) = one event-loop turn. */
  groupCommitWindowMs?: number;
  /** How long reports on one message wait for each other before one notification goes (tests). */
  bounceGroupWindowMs?: number;
  /** PostgreSQL backend: seconds an envelope lease lasts unrenewed (default 60; tests shorten it). */
  queueLeaseSeconds?: number;
}

function openBackend(init: ActorInit<SmtpdConfig> & QueueInitExtras): QueueBackend {
  if (init.queueBackend === 'ram') return new RamQueueBackend();
  const shared = init.config.queue.backend;
  if (shared?.kind === 'postgres') {
    // A server down at start is not fatal: mail gets 4xx until it answers (mustConnect false).
    const leaseSeconds = init.queueLeaseSeconds ?? shared.lease;
    return new PgQueueBackend({ ...init.config.queue, uri: shared.uri, ...(leaseSeconds ? { leaseSeconds } : {}) }, false);
  }
  return new SqliteQueueBackend(init.spool, init.config.queue);
}

/** The shared queue's link state in the log (once per change, never the URI's password). */
function watchLink(q: QueueShared, pg: PgQueueBackend, keeper: LeaseKeeper): void {
  pg.db.onLink = (up, why) => {
    if (up) {
      q.log.info('queue database reachable again', { database: pg.where });
      keeper.linkUp();
    } else {
      q.log.warn('queue database unavailable: new mail is refused with 4xx until it is back', { database: pg.where, error: why });
    }
  };
}

export async function createQueue(ctx: ActorContext<'queue'>): Promise<ActorImpl<QueueMailbox>> {
  const init = ctx.init as ActorInit<SmtpdConfig> & QueueInitExtras;
  const backend = openBackend(init);
  const q: QueueShared = {
    backend,
    gc: new GroupCommit(backend, { windowMs: init.groupCommitWindowMs ?? 0 }),
    commits: commitBatcher(() => ctx.peer('scheduler'), ctx.log),
    peers: {
      scheduler: () => ctx.peer('scheduler'),
      mda: () => (ctx.hasPeer('mda') ? ctx.peer('mda') : null),
      mta: () => (ctx.hasPeer('mta') ? ctx.peer('mta') : null),
      lka: () => (ctx.hasPeer('lka') ? ctx.peer('lka') : null),
    },
    log: ctx.log,
    counters: newCounters(),
    now: () => Math.floor(Date.now() / 1000),
    serverName: init.config.serverName,
    warnIntervals: init.config.bounce.warnIntervals,
  };
  const pg = backend instanceof PgQueueBackend ? backend : null;
  const keeper = pg ? new LeaseKeeper(q, pg) : null;
  if (pg && keeper) {
    watchLink(q, pg, keeper);
    q.deferOnOutage = (e, retry) => keeper.defer(e, retry);
    q.log.info('shared queue', { database: pg.where, node: pg.node, lease: `${pg.leaseSeconds}s` });
    try {
      purgeAndCount(q);
    } catch (e) {
      q.log.warn('queue database unavailable at start: retrying in the background', { database: pg.where, error: e instanceof Error ? e.message : String(e) });
    }
  } else {
    // Purge before the mailbox is served, so no new message can be caught by it.
    purgeAndCount(q);
  }
  const intake = new Intake(q);
  const outbound = new Outbound(q, init.bounceGroupWindowMs);
  // Delivery delay (arrival to delivered) for the metrics histogram.
  outbound.delivered = (env) => {
    if (env) ctx.timing('delivery.delay', Math.max(0, Date.now() / 1000 - env.ctime));
  };

  const mailbox: QueueMailbox = {
    ...controlMethods(q, outbound),
    msgidsReserve: async (n) => intake.msgidsReserve(n),
    bodyAppend: (msgid, chunk) => intake.bodyAppend(msgid, chunk),
    messageCommit: (msgid, envelopes, tail) => intake.messageCommit(msgid, envelopes, tail),
    onMessageRollback: (msgid) => intake.messageRollback(msgid),
    onEnvelopesDispatch: (items) => outbound.dispatch(items),
    onEnvelopesExpire: (evpids) => void outbound.expire(evpids),
    bodyRead: async (msgid, from) => outbound.bodyRead(msgid, from),
    onDeliveryResults: (results) => void outbound.results(results),
    onHoldRelease: (holdq, count) => {
      if (typeof holdq === 'string' && Number.isInteger(count) && count > 0) void q.peers.scheduler().onHoldRelease(holdq, count);
    },
    // Reload: what notifications say and when; the backend and its keys are kept (a restart's).
    reload: async (raw) => {
      const p = parseReloadOrder(raw);
      if (!p.ok) return p;
      q.serverName = p.config.serverName;
      q.warnIntervals = p.config.bounce.warnIntervals;
      return { ok: true, notes: [] };
    },
  };

  let sweeper: NodeJS.Timeout | null = null;
  let loader: LoadHandle | null = null;
  return {
    mailbox,
    async start() {
      sweeper = setInterval(() => intake.sweep(OPEN_IDLE_MAX), SWEEP_EVERY_MS);
      sweeper.unref();
      // A shared queue: the scheduler gets only what this node leases (lease.ts).
      if (keeper) return keeper.start();
      // In the background: with a large spool the daemon accepts mail while this runs.
      loader = startLoad(q, (e) => ctx.fatal(`queue load failed: ${e instanceof Error ? e.message : String(e)}`));
    },
    stop() {
      loader?.stop();
      keeper?.stop();
      if (sweeper) clearInterval(sweeper);
      outbound.bounces.stop();
      q.gc.flush();
      backend.close();
    },
    stats: () => queueStats(q, intake),
  };
}

function queueStats(q: QueueShared, intake: Intake): ActorStats {
  const c = q.counters;
  const s: ActorStats = {
    'queue.message': c.messages,
    'queue.envelope': c.envelopes,
    'queue.message.incoming': intake.openCount,
    'queue.msgid.reserved': intake.reservedCount,
    'queue.message.committed': c.committed,
    'queue.message.rollback': c.rolledBack,
    'queue.body.chunks': c.chunks,
    'queue.commit.txn': q.gc.stats.txns,
    'queue.commit.ops': q.gc.stats.ops,
    'queue.commit.maxops': q.gc.stats.maxOps,
    'queue.commit.failed': q.gc.stats.failed,
    'queue.commit.lazy': q.gc.stats.lazy,
    'queue.envelope.dispatched': c.dispatched,
    'queue.envelope.expired': c.expired,
    'queue.envelope.corrupt': c.corrupt,
    'queue.delivery.ok': c.ok,
    'queue.delivery.tempfail': c.tempfail,
    'queue.delivery.permfail': c.permfail,
    'queue.delivery.loop': c.loop,
    'queue.bounce.skipped': c.bounceSkipped,
    'queue.bounce.sent': c.bounces,
    'queue.delivery.hold': c.hold,
    'queue.envelope.removed': c.removed,
  };
  if (q.backend instanceof SqliteQueueBackend && q.backend.db.open) {
    s['queue.db.synchronous'] = q.backend.db.pragma('synchronous', { simple: true }) as number;
  }
  return s;
}
