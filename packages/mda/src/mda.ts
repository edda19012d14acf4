// The mda actor: local deliveries. Takes batches of due envelopes from the queue
// (MdaMailbox.onDeliver), holds them to the session limits (50 at once, 7 per user), delivers
// each message's started envelopes together (deliver.ts) and reports outcomes back to the queue
// in batches (onDeliveryResults). Talks to queue (bodies, results) and lka (user lookups).
import { hostname } from 'node:os';
import { KeptBodies, type ActorContext, type ActorImpl } from '@tsmtpd/actor';
import { toErrorLine, type ActorInit, type ActorStats, type DeliveryResult, type Envelope, type MdaMailbox, type ReloadReport } from '@tsmtpd/proto';
import type { SmtpdConfig } from '@tsmtpd/config';
import { parseReloadOrder } from '@tsmtpd/config/reload-order.js';
import { deliverMessage, type DeliveryItem, type DeliveryOutcome, type RunContext } from './deliver.js';
import { HelperPool } from './helper/pool.js';
import { socketLink } from './helper/socket-link.js';
import { SessionLimiter, type Started } from './limits.js';
import { ResultReporter } from './results.js';
import { UserCache } from './user-cache.js';

/** Where mbox mailboxes live unless the run-time settings say otherwise (tests). */
export const DEFAULT_MAIL_SPOOL = '/var/mail';
const STOP_GRACE_MS = 5000;

/** Run-time settings the mda reads beyond proto's `Settings` (all optional). */
interface MdaSettings {
  mailSpool?: string;
  mdaCommandTimeoutMs?: number;
  /**
   * Privilege separation (a root daemon's unprivileged actor process): deliveries as a user go
   * through helpers the privileged process starts (ctx.parent), commands included.
   */
  privsep?: boolean;
}

type Item = DeliveryItem & { settled: boolean };

/** Wait for these promises, but no longer than `ms`. */
async function settleWithin(ps: Promise<unknown>[], ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.all(ps), new Promise((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

class Mda {
  private config: SmtpdConfig;
  private readonly pool: HelperPool | null;
  private readonly abort = new AbortController();
  private readonly limiter: SessionLimiter<Envelope>;
  private readonly reporter: ResultReporter;
  private readonly runCtx: RunContext;
  /** Envelopes waiting or running (a second dispatch of one is ignored). */
  private readonly known = new Set<string>();
  private readonly bodies = new KeptBodies();
  private readonly runs = new Set<Promise<void>>();
  private stopping = false;
  private pumpScheduled = false;

  constructor(private readonly ctx: ActorContext<'mda'>) {
    const init = ctx.init as ActorInit<SmtpdConfig>;
    const settings = (init.settings ?? {}) as MdaSettings;
    this.config = init.config;
    const privsep = settings.privsep === true;
    const isRoot = privsep || (typeof process.getuid === 'function' && process.getuid() === 0);
    this.pool = isRoot ? new HelperPool(ctx.log, undefined, undefined, privsep ? (uid, gid, ev) => socketLink(ctx.parent, uid, gid, ev) : undefined) : null;
    this.limiter = new SessionLimiter(this.config.mda.limits.maxSession, this.config.mda.limits.maxSessionPerUser);
    this.reporter = new ResultReporter((r) => this.sendResults(r), ctx.log);
    this.runCtx = {
      config: this.config,
      lka: () => ctx.peer('lka'),
      isRoot,
      privsep: privsep ? { mboxPrepare: (user) => ctx.parent.mboxPrepare(user) } : null,
      pool: this.pool,
      users: new UserCache(),
      hostname: hostname(),
      mailSpool: settings.mailSpool ?? DEFAULT_MAIL_SPOOL,
      ...(settings.mdaCommandTimeoutMs !== undefined ? { commandTimeoutMs: settings.mdaCommandTimeoutMs } : {}),
      bodyRead: (msgid, from) => ctx.peer('queue').bodyRead(msgid, from),
      signal: this.abort.signal,
    };
  }

  private sendResults(results: DeliveryResult[]): void {
    if (!this.ctx.hasPeer('queue')) {
      this.ctx.log.warn('no queue to report delivery results to', { count: results.length });
      return;
    }
    // One-way; the actor runtime drains it at stop, after stop() returns.
    this.ctx.peer('queue').onDeliveryResults(results);
  }

  private refuse(evpid: string, errorline: string): void {
    this.ctx.log.warn('delivery refused', { evpid, stat: errorline });
    this.sendResults([{ evpid, status: 'permfail', errorline: toErrorLine(errorline) }]);
  }

  /** MdaMailbox.onDeliver: validate, queue under the limits, start what may start. */
  deliver(envelopes: Envelope[], bodies?: Record<string, ArrayBuffer[]>): void {
    if (this.stopping) return;
    const sent = bodies !== null && typeof bodies === 'object' ? bodies : {};
    // No schema parse per envelope: the queue parsed each one from its row on disk
    // (backend.ts parseStoredEnvelope) or from smtp's parse of the client's input; a thread
    // of this process is no trust boundary.
    for (const env of envelopes) {
      if (typeof env?.id !== 'string' || !/^[0-9a-f]{16}$/.test(env.id)) {
        this.ctx.log.warn('invalid envelope without an id dropped');
        continue;
      }
      if (env.type !== 'mda') {
        this.refuse(env.id, `not a local delivery (type ${env.type})`);
        continue;
      }
      if (this.known.has(env.id)) continue;
      this.known.add(env.id);
      this.bodies.add(env.msgid, Object.hasOwn(sent, env.msgid) ? sent[env.msgid] : undefined);
      this.limiter.add(this.config.actions[env.dispatcher]?.user ?? env.mdaUser ?? env.dest, env.msgid, env);
    }
    this.schedulePump();
  }

  private schedulePump(): void {
    if (this.pumpScheduled || this.stopping) return;
    this.pumpScheduled = true;
    setImmediate(() => this.pump());
  }

  private pump(): void {
    this.pumpScheduled = false;
    if (this.stopping) return;
    try {
      for (const group of this.limiter.take()) this.startRun(group);
    } catch (e) {
      // Runs from a timer: an exception here would kill the worker, so it is logged instead.
      this.ctx.log.warn('mda scheduling failed', { error: (e as Error).message });
    }
  }

  private item(env: Envelope, user: string): Item {
    const it: Item = {
      env,
      settled: false,
      done: (o: DeliveryOutcome) => {
        if (it.settled) return;
        it.settled = true;
        this.known.delete(env.id);
        this.limiter.release(user);
        this.reporter.report(env, o);
        this.schedulePump();
      },
    };
    return it;
  }

  private startRun(group: Started<Envelope>): void {
    const items = group.items.map(({ user, item: env }) => this.item(env, user));
    const run = deliverMessage(group.msgid, items, this.runCtx, this.bodies.take(group.msgid, items.length))
      .catch((e: unknown) => this.ctx.log.warn('delivery run failed', { msgid: group.msgid, error: (e as Error).message }))
      .finally(() => {
        // A bug must not leak a session slot or leave an envelope without an answer.
        for (const it of items) if (!it.settled) it.done({ status: 'tempfail', errorline: 'internal error: no outcome' });
        this.runs.delete(run);
      });
    this.runs.add(run);
  }

  stats(): ActorStats {
    const l = this.limiter;
    const c = this.reporter.counts;
    return {
      'mda.envelope': l.pending + l.running,
      'mda.pending': l.pending,
      'mda.running': l.running,
      'mda.user': l.users,
      'mda.helper': this.pool?.size ?? 0,
      'mda.delivery.ok': c.ok,
      'mda.delivery.tempfail': c.tempfail,
      'mda.delivery.permfail': c.permfail,
      'mda.delivery.loop': c.loop,
    };
  }

  /**
   * A reloaded configuration: deliveries prepared from now on find actions by the new names (an
   * envelope whose action is gone fails permanently, prepare.ts); new session limits apply to
   * the deliveries started from now on.
   */
  reload(raw: unknown): ReloadReport {
    const p = parseReloadOrder(raw);
    if (!p.ok) return p;
    const gone = Object.keys(this.config.actions).filter((n) => !(n in p.config.actions));
    this.config = p.config;
    this.runCtx.config = p.config;
    const l = p.config.mda.limits;
    this.limiter.setLimits(l.maxSession, l.maxSessionPerUser);
    this.schedulePump();
    return { ok: true, notes: gone.length > 0 ? [`mda actions removed: ${gone.join(',')}`] : [] };
  }

  /** Abort deliveries in flight (their envelopes are retried later), end the helpers. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.limiter.drain();
    this.bodies.clear();
    this.abort.abort();
    await settleWithin([...this.runs], STOP_GRACE_MS);
    await this.pool?.close();
    this.reporter.flush();
  }
}

export async function createMda(ctx: ActorContext<'mda'>): Promise<ActorImpl<MdaMailbox>> {
  const mda = new Mda(ctx);
  return {
    mailbox: { onDeliver: (envelopes, bodies) => mda.deliver(envelopes, bodies), reload: async (order) => mda.reload(order) },
    stats: () => mda.stats(),
    stop: () => mda.stop(),
  };
}
