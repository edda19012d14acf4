// What control asks of the queue: stored envelopes for smtpctl show queue/envelope, and removal
// (smtpctl remove). Arguments cross a thread and are validated. A removed envelope is deleted in
// one group-committed write and reported `removed` to the scheduler; one in flight is marked and
// removed when its attempt comes back (Outbound.settle), as OpenSMTPD does.
import { z } from 'zod';
import type { Envelope, QueueMailbox } from '@tsmtpd/proto';
import { ioMessage, type QueueShared } from './context.js';
import type { Outbound } from './outbound.js';

const Evpids = z.array(z.string().regex(/^[0-9a-f]{16}$/)).max(10_000);

type CtlMethods = Pick<QueueMailbox, 'ctlEnvelopes' | 'ctlRemove'>;

export function controlMethods(q: QueueShared, outbound: Outbound): CtlMethods {
  return {
    async ctlEnvelopes(evpids) {
      const out: Envelope[] = [];
      for (const evpid of Evpids.parse(evpids)) {
        try {
          const env = q.backend.envelopeLoad(evpid);
          if (env) out.push(env);
        } catch (e) {
          q.log.warn('envelope unreadable', { evpid, error: ioMessage(e) });
        }
      }
      return out;
    },
    async ctlRemove(evpids) {
      const ids = Evpids.parse(evpids);
      const later = ids.filter((id) => outbound.markRemoval(id));
      const now = ids.filter((id) => !later.includes(id));
      const removed = await q.gc.submit(() => {
        const gone: string[] = [];
        for (const evpid of now) {
          const del = q.backend.envelopeDelete(evpid);
          if (!del.deleted) continue;
          gone.push(evpid);
          q.counters.envelopes--;
          if (del.messageDeleted) q.counters.messages--;
        }
        return gone;
      }, { durable: true });
      q.counters.removed += removed.length;
      for (const evpid of removed) q.log.info('removed', { evpid });
      if (removed.length > 0) void q.peers.scheduler().onOutcomes(removed.map((evpid) => ({ evpid, outcome: 'removed' })));
      return removed.length + later.length;
    },
  };
}
