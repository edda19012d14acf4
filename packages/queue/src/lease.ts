// The shared queue's leases (PostgreSQL backend): this node renews every lease it holds a few
// times per lease period, takes envelopes whose lease ran out (a dead node's mail) and hands them
// to its scheduler, and purges dead nodes' unfinished messages. Its scheduler thus only loads what
// this node leased. Talks to: the backend (pg-backend.ts) and the scheduler (onEnvelopesLoad).
import type { PgQueueBackend } from './pg-backend.js';
import type { QueueShared } from './context.js';
import { ioMessage } from './context.js';
import { scheduleEntry } from './intake.js';
import { LOAD_BATCH } from './loader.js';
import { PgError } from './pg-sync.js';

/** Rounds per take-over tick at most (LOAD_BATCH each): a bounded loop per tick. */
const TAKE_ROUNDS = 50;
/** Purge dead nodes' unfinished messages every this many ticks. */
const PURGE_EVERY = 10;
/** Outcomes kept for the database's return at most (beyond: retried as before, at worst twice). */
const DEFERRED_MAX = 100_000;

export class LeaseKeeper {
  private timer: NodeJS.Timeout | null = null;
  private ticks = 0;
  private reloadOwn = false;
  private purged = false;
  private busy = false;
  private deferred: (() => void)[] = [];

  constructor(private readonly q: QueueShared, private readonly pg: PgQueueBackend) {}

  start(): void {
    const periodMs = Math.max(200, (this.pg.leaseSeconds * 1000) / 4);
    this.timer = setInterval(() => this.tick(), periodMs);
    this.timer.unref();
    setImmediate(() => this.tick());
  }

  /** The link came back: envelopes whose dispatch failed meanwhile are handed out again. */
  linkUp(): void {
    this.reloadOwn = true;
    setImmediate(() => {
      this.tick();
      const retries = this.deferred;
      this.deferred = [];
      if (retries.length > 0) this.q.log.info('outcomes stored after the outage', { count: retries.length });
      for (const r of retries) r();
    });
  }

  /** An outcome that failed on the database's outage waits for its return (QueueShared.deferOnOutage). */
  defer(e: unknown, retry: () => void): boolean {
    if (!(e instanceof PgError && e.link) || this.deferred.length >= DEFERRED_MAX) return false;
    this.deferred.push(retry);
    return true;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Exposed for tests: one round now. */
  tick(): void {
    if (this.busy || !this.timer) return;
    this.busy = true;
    try {
      // Never this node's own: they are messages being received now (its id is new at each start).
      if (!this.purged || this.ticks % PURGE_EVERY === 0) {
        const n = this.pg.purgeDead();
        this.purged = true;
        if (n > 0) this.q.log.info('purged incoming messages', { count: n });
      }
      this.ticks++;
      this.pg.leaseRenew();
      if (this.reloadOwn) {
        this.reloadOwn = false;
        this.load(this.pg.leasedByMe().envelopes, 'reloaded');
      }
      this.takeOver();
    } catch (e) {
      // The link's state is logged by the backend; the next tick tries again.
      this.q.log.debug('lease round failed', { error: ioMessage(e) });
    } finally {
      this.busy = false;
    }
  }

  private takeOver(): void {
    for (let i = 0; i < TAKE_ROUNDS; i++) {
      const scan = this.pg.leaseTake(LOAD_BATCH);
      for (const evpid of scan.corrupt) {
        this.q.counters.corrupt++;
        this.q.log.warn('envelope unreadable, not scheduled', { evpid });
      }
      this.load(scan.envelopes, 'taken');
      if (scan.envelopes.length + scan.corrupt.length < LOAD_BATCH) return;
    }
  }

  private load(envs: ReturnType<PgQueueBackend['leasedByMe']>['envelopes'], how: string): void {
    if (envs.length === 0) return;
    void this.q.peers.scheduler().onEnvelopesLoad(envs.map(scheduleEntry));
    this.q.log.info(`envelopes ${how}`, { count: envs.length, node: this.pg.node });
  }
}
