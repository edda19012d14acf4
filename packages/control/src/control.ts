// The control actor: serves smtpctl on <spool>/smtpd.sock (server.ts, commands.ts), keeps the
// statistics every actor pushes (stats.ts, saved in <spool>/stats.db) and, when configured,
// the Prometheus endpoint (metrics.ts). Talks to every actor through its mailbox; served to the
// parent (socketPath) and to every actor (onStats, onTimings).
import { join } from 'node:path';
import type { ActorContext, ActorImpl } from '@tsmtpd/actor';
import { CONTROL_SOCKET, StatsPushSchema, TimingPushSchema, type ActorInit, type ControlMailbox } from '@tsmtpd/proto';
import type { SmtpdConfig } from '@tsmtpd/config';
import { ControlServer } from './server.js';
import { runCommand, type CommandEnv } from './commands.js';
import { StatsBook } from './stats.js';
import { Metrics } from './metrics.js';

export async function createControl(ctx: ActorContext<'control'>): Promise<ActorImpl<ControlMailbox>> {
  const init = ctx.init as ActorInit<SmtpdConfig>;
  const log = ctx.log;
  const book = new StatsBook((event, fields) => log.warn(event, fields));
  const metricsAt = init.config.metrics;
  const metrics = metricsAt ? new Metrics(book) : null;
  const path = join(init.spool, CONTROL_SOCKET);
  const env: CommandEnv = { peer: (name) => ctx.peer(name), book, status: { mda: false, mta: false, smtp: false }, log, reload: () => ctx.parent.reloadConfig() };
  const server = new ControlServer({ path, log, handle: (req) => runCommand(env, req) });
  let listening = false;

  const mailbox: ControlMailbox = {
    async socketPath() {
      return listening ? path : null;
    },
    onStats(push) {
      const r = StatsPushSchema.safeParse(push);
      if (r.success) book.push(r.data);
    },
    onTimings(push) {
      const r = TimingPushSchema.safeParse(push);
      if (r.success) metrics?.observe(r.data);
    },
  };

  return {
    mailbox,
    async start() {
      book.open(init.spool);
      await server.listen();
      listening = true;
      log.info('listening', { socket: path });
      if (metrics && metricsAt) {
        try {
          await metrics.listen(metricsAt.address, metricsAt.port);
          log.info('metrics listening', { address: `${metricsAt.address}:${metricsAt.port}` });
        } catch (e) {
          ctx.fatal(`${metricsAt.file}:${metricsAt.line}: metrics listen on ${metricsAt.address} port ${metricsAt.port}: ${(e as Error).message}`);
        }
      }
    },
    async stop() {
      listening = false;
      await server.close();
      await metrics?.close();
      book.close();
    },
    stats() {
      return {};
    },
  };
}
