// Start-up of the queue (REFERENCE 4.4 step 7): uncommitted messages are purged, then every
// committed envelope is handed to the scheduler in batches, in the background (startLoad). The
// queue is the source of truth; the scheduler's state is rebuilt from it (OpenSMTPD's reload walk).
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

/** A load running in the background: `done` settles with the count loaded (0 if stopped early). */
export interface LoadHandle {
  done: Promise<number>;
  /** Stop at the next batch (the queue is stopping): nothing more is read or sent. */
  stop(): void;
  readonly running: boolean;
}

/**
 * Hand every committed envelope to the scheduler in batches, in the background: the queue's
 * start returns at once, so with a large spool mail is accepted (and due envelopes delivered)
 * while older ones are still loading. Between batches the event loop serves intake and results.
 *
 * Why nothing is lost or doubled when new traffic meets the load: the walk is in evpid order,
 * and every batch is read and sent in one synchronous step, on the same channel as commits and
 * outcomes, so the scheduler sees it in the order of the storage it was read from. A load of an
 * envelope the scheduler knows already (committed, in flight, held) is ignored there; one whose
 * row was deleted before the read is not read; one read and then settled gets its outcome after
 * the load. An envelope committed below the cursor reaches the scheduler by its commit alone.
 */
export function startLoad(q: QueueShared, onError: (e: unknown) => void): LoadHandle {
  let stopped = false;
  let running = true;
  const done = loadIntoScheduler(q, () => stopped)
    .catch((e: unknown) => {
      if (!stopped) onError(e);
      return 0;
    })
    .finally(() => (running = false));
  return {
    done,
    stop: () => void (stopped = true),
    get running() {
      return running;
    },
  };
}

/** The walk itself; `stopped` is checked before each batch. */
export async function loadIntoScheduler(q: QueueShared, stopped: () => boolean = () => false): Promise<number> {
  const t0 = performance.now();
  let after = '';
  let loaded = 0;
  for (;;) {
    if (stopped()) return 0;
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
  const durationMs = Math.round(performance.now() - t0);
  q.log.info('queue loaded', { messages: q.counters.messages, envelopes: loaded, durationMs });
  return loaded;
}
