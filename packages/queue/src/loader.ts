// Start-up of the queue (REFERENCE 4.4 step 7): uncommitted messages are purged, then every
// committed envelope is handed to the scheduler in batches. The queue is the source of truth;
// the scheduler's state is rebuilt from it (STYLE: OpenSMTPD's reload walk).
import { scheduleEntry } from './intake.js';
import type { QueueShared } from './context.js';

/** Envelopes per scheduler.onEnvelopesLoad call. */
export const LOAD_BATCH = 1000;

/** Drop unfinished transactions and count what is stored. Runs before the mailbox is served. */
export function purgeAndCount(q: QueueShared): number {
  const purged = q.backend.purgeIncoming();
  const counts = q.backend.counts();
  q.counters.messages = counts.messages;
  q.counters.envelopes = counts.envelopes;
  if (purged > 0) q.log.info('purged incoming messages', { count: purged });
  return purged;
}

/** Hand every committed envelope to the scheduler, yielding to the event loop between batches. */
export async function loadIntoScheduler(q: QueueShared): Promise<number> {
  let after = '';
  let loaded = 0;
  for (;;) {
    const scan = q.backend.envelopesScan(after, LOAD_BATCH);
    for (const evpid of scan.corrupt) {
      q.counters.corrupt++;
      q.log.warn('envelope unreadable, not scheduled', { evpid });
    }
    if (scan.envelopes.length > 0) void q.peers.scheduler().onEnvelopesLoad(scan.envelopes.map(scheduleEntry));
    loaded += scan.envelopes.length;
    if (scan.last === null) break;
    after = scan.last;
    await new Promise((resolve) => setImmediate(resolve));
  }
  q.log.info('queue loaded', { messages: q.counters.messages, envelopes: loaded });
  return loaded;
}
