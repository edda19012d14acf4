// The smtp actor: listeners and SMTP sessions (smtp-server underneath). Talks to lka (one
// rcptResolve per RCPT) and queue (message intake: a stock of reserved msgids, msgid-pool.ts);
// served to the parent and control
// (pause, resume, listening, reload: reload.ts).
import type { SmtpdConfig } from '@tsmtpd/config';
import type { ActorInit, SmtpMailbox } from '@tsmtpd/proto';
import { reloadSmtp, type Generations } from './reload.js';
import type { ActorContext, ActorImpl } from '@tsmtpd/actor';
import { AuthThrottle } from './auth.js';
import { Listeners } from './listeners.js';
import type { SmtpEnv } from './session.js';
import { TlsMaterialSchema } from './tls.js';
import { SpoolSpace } from './storage.js';
import { MsgidPool } from './msgid-pool.js';
import { FilterEngine } from './filters/engine.js';
import { installDataScan } from './data-scan.js';

import { FILTER_TIMEOUT_MS } from './filter-timeout.js';
export { FILTER_TIMEOUT_MS };

export async function createSmtp(ctx: ActorContext<'smtp'>): Promise<ActorImpl<SmtpMailbox>> {
  const init = ctx.init as ActorInit<SmtpdConfig>;
  let paused = false;
  const counters: Record<string, number> = {};
  const gens: Generations = { current: 1, filters: new Map() };
  let env: SmtpEnv = {
    gen: 1,
    sessionEnded: (gen) => gens.ended?.(gen),
    config: init.config,
    settings: init.settings,
    log: ctx.log,
    lka: () => ctx.peer('lka'),
    queue: () => ctx.peer('queue'),
    msgids: new MsgidPool(() => ctx.peer('queue')),
    space: new SpoolSpace(init.spool),
    paused: () => paused,
    sessions: new Map(),
    authThrottle: new AuthThrottle(),
    counters,
    timing: (name, seconds) => ctx.timing(name, seconds),
    filters: null,
  };
  const hasFilters = Object.keys(init.config.filters).length > 0;
  if (hasFilters) {
    env.filters = new FilterEngine({ config: init.config, log: ctx.log, lka: () => ctx.peer('lka'), timeoutMs: init.settings.filterTimeoutMs ?? FILTER_TIMEOUT_MS });
  }
  // The listeners' keys come from the parent (never read here); checked as any cross-thread data.
  const tls = init.tls === undefined ? undefined : TlsMaterialSchema.parse(init.tls);
  if (!installDataScan()) ctx.log.warn('smtp-server is not the version the fast data scan was checked against; using its own');
  const listeners = new Listeners(env, init.spool, tls);

  const mailbox: SmtpMailbox = {
    async pause() {
      paused = true;
      ctx.log.info('paused');
    },
    async resume() {
      paused = false;
      ctx.log.info('resumed');
    },
    async listening() {
      return listeners.listening();
    },
    async reload(order) {
      const r = await reloadSmtp(order, { env, listeners, gens, log: ctx.log, lka: () => ctx.peer('lka') });
      if (r.env) env = r.env;
      return r.report;
    },
  };

  return {
    mailbox,
    async start() {
      // Filter processes first: no session is accepted before every filter has registered.
      await env.filters?.start();
      await listeners.start();
      ctx.log.info('listening', { addresses: listeners.listening().join(',') });
    },
    async stop() {
      await listeners.stop();
      await env.filters?.stop();
      for (const f of gens.filters.values()) await f?.stop();
    },
    stats() {
      return { ...counters, 'smtp.session.active': env.sessions.size, 'smtp.session.waiting': listeners.guard.counts.waiting };
    },
  };
}
