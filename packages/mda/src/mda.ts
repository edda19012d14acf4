// The mda actor: local deliveries. Takes batches of due envelopes from the queue
// (MdaMailbox.onDeliver), holds them to the session limits (50 at once, 7 per user), delivers
// each message's started envelopes together (deliver.ts) and reports outcomes back to the queue
// in batches (onDeliveryResults). Talks to queue (bodies, results) and lka (user lookups).
import { hostname } from 'node:os';
import type { ActorContext, ActorImpl } from '@tsmtpd/actor';
import { EnvelopeSchema, toErrorLine, type ActorInit, type DeliveryResult, type Envelope, type MdaMailbox } from '@tsmtpd/proto';
import type { SmtpdConfig } from '@tsmtpd/config';
import { deliverMessage, type DeliveryItem, type DeliveryOutcome, type RunContext } from './deliver.js';
import { HelperPool } from './helper/pool.js';
import { SessionLimiter } from './limits.js';
import { ResultReporter } from './results.js';

/** Where mbox mailboxes live unless the run-time settings say otherwise (tests). */
export const DEFAULT_MAIL_SPOOL = '/var/mail';
const STOP_GRACE_MS = 5000;

/** Run-time settings the mda reads beyond proto's `Settings` (all optional). */
interface MdaSettings {
  mailSpool?: string;
  mdaCommandTimeoutMs?: number;
}

export async function createMda(ctx: ActorContext<'mda'>): Promise<ActorImpl<MdaMailbox>> {
  const init = ctx.init as ActorInit<SmtpdConfig>;
  const config = init.config;
  const settings = (init.settings ?? {}) as MdaSettings;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const pool = isRoot ? new HelperPool(ctx.log) : null;
  const abort = new AbortController();
  const limits = config.mda.limits;
  const limiter = new SessionLimiter<Envelope>(limits.maxSession, limits.maxSessionPerUser);
  const known = new Set<string>();
  const runs = new Set<Promise<void>>();
  let stopping = false;
  let pumpScheduled = false;

  const sendResults = (results: DeliveryResult[]): void => {
    if (ctx.hasPeer('queue')) void ctx.peer('queue').onDeliveryResults(results);
    else ctx.log.warn('no queue to report delivery results to', { count: results.length });
  };
  const reporter = new ResultReporter(sendResults, ctx.log);

  const runCtx: RunContext = {
    config,
    lka: () => ctx.peer('lka'),
    isRoot,
    pool,
    hostname: hostname(),
    mailSpool: settings.mailSpool ?? DEFAULT_MAIL_SPOOL,
    ...(settings.mdaCommandTimeoutMs !== undefined ? { commandTimeoutMs: settings.mdaCommandTimeoutMs } : {}),
    bodyRead: (msgid, from) => ctx.peer('queue').bodyRead(msgid, from),
    signal: abort.signal,
  };

  function schedulePump(): void {
    if (pumpScheduled || stopping) return;
    pumpScheduled = true;
    setImmediate(pump);
  }

  function item(env: Envelope, user: string): DeliveryItem & { settled: boolean } {
    const it = {
      env,
      settled: false,
      done(o: DeliveryOutcome) {
        if (it.settled) return;
        it.settled = true;
        known.delete(env.id);
        limiter.release(user);
        reporter.report(env, o);
        schedulePump();
      },
    };
    return it;
  }

  function pump(): void {
    pumpScheduled = false;
    if (stopping) return;
    try {
      startRuns();
    } catch (e) {
      // Runs from a timer: an exception here would kill the worker, so it is logged instead.
      ctx.log.warn('mda scheduling failed', { error: (e as Error).message });
    }
  }

  function startRuns(): void {
    for (const group of limiter.take()) {
      const items = group.items.map(({ user, item: env }) => item(env, user));
      const run = deliverMessage(group.msgid, items, runCtx)
        .catch((e: unknown) => ctx.log.warn('delivery run failed', { msgid: group.msgid, error: (e as Error).message }))
        .finally(() => {
          // A bug must not leak a session slot or leave an envelope without an answer.
          for (const it of items) if (!it.settled) it.done({ status: 'tempfail', errorline: 'internal error: no outcome' });
          runs.delete(run);
        });
      runs.add(run);
    }
  }

  function refuse(evpid: string, errorline: string): void {
    ctx.log.warn('delivery refused', { evpid, stat: errorline });
    sendResults([{ evpid, status: 'permfail', errorline: toErrorLine(errorline) }]);
  }

  const mailbox: MdaMailbox = {
    onDeliver(envelopes) {
      if (stopping) return;
      for (const raw of envelopes) {
        const parsed = EnvelopeSchema.safeParse(raw);
        const id = (raw as { id?: unknown })?.id;
        if (!parsed.success) {
          if (typeof id === 'string' && /^[0-9a-f]{16}$/.test(id)) refuse(id, 'internal error: invalid envelope');
          else ctx.log.warn('invalid envelope without an id dropped');
          continue;
        }
        const env = parsed.data;
        if (env.type !== 'mda') {
          refuse(env.id, `not a local delivery (type ${env.type})`);
          continue;
        }
        if (known.has(env.id)) continue; // dispatched twice: already waiting or running
        known.add(env.id);
        const user = config.actions[env.dispatcher]?.user ?? env.mdaUser ?? env.dest;
        limiter.add(user, env.msgid, env);
      }
      schedulePump();
    },
  };

  return {
    mailbox,
    stats: () => ({
      'mda.envelope': limiter.pending + limiter.running,
      'mda.pending': limiter.pending,
      'mda.running': limiter.running,
      'mda.user': limiter.users,
      'mda.helper': pool?.size ?? 0,
      'mda.delivery.ok': reporter.counts.ok,
      'mda.delivery.tempfail': reporter.counts.tempfail,
      'mda.delivery.permfail': reporter.counts.permfail,
      'mda.delivery.loop': reporter.counts.loop,
    }),
    async stop() {
      stopping = true;
      limiter.drain();
      abort.abort();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all([...runs]), new Promise((r) => (timer = setTimeout(r, STOP_GRACE_MS)))]);
      clearTimeout(timer);
      reporter.flush();
      await pool?.close();
    },
  };
}
