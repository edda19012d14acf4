// The scheduler actor: serves SchedulerMailbox to the queue, keeps every envelope's schedule in a
// SchedulerBackend (RAM), and hands due envelopes back to the queue through the Runner under the
// `scheduler limit` keys. Talks to: queue (onEnvelopesDispatch, onEnvelopesExpire).
import type { ActorContext, ActorImpl } from '@tsmtpd/actor';
import type { ActorInit, OutcomeReport, ScheduleEntry, SchedulerMailbox } from '@tsmtpd/proto';
import type { SmtpdConfig } from '@tsmtpd/config';
import { getHeapStatistics } from 'node:v8';
import { RamSchedulerBackend } from './ram-backend.js';
import { RETRY_BASE } from './backoff.js';
import { Runner } from './runner.js';
import { controlMethods } from './ctl.js';

export async function createScheduler(ctx: ActorContext<'scheduler'>): Promise<ActorImpl<SchedulerMailbox>> {
  const init = ctx.init as ActorInit<SmtpdConfig>;
  const limits = init.config.scheduler.limits;
  const rb = init.settings?.retryBase;
  const backend = new RamSchedulerBackend(rb ? { retryBase: [rb.mda ?? RETRY_BASE[0]!, rb.mta ?? RETRY_BASE[1]!, rb.bounce ?? RETRY_BASE[2]!] } : {});
  // Peers are wired after this factory returns: look the queue up at each use.
  const runner = new Runner(backend, limits, {
    dispatch: (items) => void ctx.peer('queue').onEnvelopesDispatch(items),
    expire: (evpids) => {
      ctx.log.debug('expire', { count: evpids.length });
      void ctx.peer('queue').onEnvelopesExpire(evpids);
    },
  });

  const mailbox: SchedulerMailbox = {
    ...controlMethods(backend, () => runner.wake(), (event, fields) => ctx.log.info(event, fields)),
    onEnvelopesInsert(entries: ScheduleEntry[]) {
      backend.insert(entries);
    },
    onMessagesCommit(entries: ScheduleEntry[], msgids: string[]) {
      backend.insert(entries);
      for (const msgid of msgids) backend.commit(msgid);
      runner.wake();
    },
    onMessageRollback(msgid: string) {
      backend.rollback(msgid);
    },
    onEnvelopesLoad(entries: ScheduleEntry[]) {
      backend.load(entries);
      runner.wake();
    },
    onOutcomes(reports: OutcomeReport[]) {
      backend.outcomes(reports);
      runner.wake();
    },
    onHoldRelease(holdq: string, count: number) {
      if (typeof holdq !== 'string' || !Number.isInteger(count)) return;
      if (backend.release(holdq, count) > 0) runner.wake();
    },
  };

  return {
    mailbox,
    start() {
      runner.wake();
    },
    stop() {
      runner.stop();
    },
    stats() {
      return {
        ...backend.stats(),
        'scheduler.timer.pending': runner.timerPending ? 1 : 0,
        'scheduler.runner.ticks': runner.ticks,
        'scheduler.runner.messages': runner.messages,
        // This worker's own heap (an isolate per worker): what the schedule costs in memory.
        'scheduler.memory.heapUsed': getHeapStatistics().used_heap_size,
      };
    },
  };
}
