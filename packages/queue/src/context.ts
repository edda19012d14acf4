// What the queue's parts share: storage, the group committer, handles on the peers, the logger
// and the counters. Built once by createQueue (queue.ts); intake.ts and outbound.ts use it.
import type { Logger, Remote } from '@tsmtpd/actor';
import type { LkaMailbox, MdaMailbox, MtaMailbox, SchedulerMailbox } from '@tsmtpd/proto';
import type { QueueBackend } from './backend.js';
import type { GroupCommit, TickBatcher } from './group-commit.js';
import type { CommitNotice } from './intake.js';

/** Peers are wired after the actor's factory ran: these look them up at each use. */
export interface QueuePeers {
  scheduler(): Remote<SchedulerMailbox>;
  /** null when that edge is not wired (a test, or a configuration without it). */
  mda(): Remote<MdaMailbox> | null;
  mta(): Remote<MtaMailbox> | null;
  /** Routes bounces (the ruleset); null when not wired. */
  lka(): Remote<LkaMailbox> | null;
}

export interface QueueCounters {
  messages: number;
  envelopes: number;
  committed: number;
  rolledBack: number;
  chunks: number;
  dispatched: number;
  ok: number;
  tempfail: number;
  permfail: number;
  loop: number;
  expired: number;
  hold: number;
  bounces: number;
  bounceSkipped: number;
  corrupt: number;
  removed: number;
}

export function newCounters(): QueueCounters {
  return {
    messages: 0, envelopes: 0, committed: 0, rolledBack: 0, chunks: 0, dispatched: 0,
    ok: 0, tempfail: 0, permfail: 0, loop: 0, expired: 0, hold: 0, bounces: 0, bounceSkipped: 0, corrupt: 0, removed: 0,
  };
}

export interface QueueShared {
  backend: QueueBackend;
  gc: GroupCommit;
  /** Durable messages for the scheduler, batched per event-loop turn (intake.commitBatcher). */
  commits: TickBatcher<CommitNotice>;
  peers: QueuePeers;
  log: Logger;
  counters: QueueCounters;
  /** Epoch seconds. */
  now(): number;
  /** Our name: Reporting-MTA and MAILER-DAEMON of the notifications. */
  serverName: string;
  /** `bounce warn-interval`, seconds after arrival (at most 4). */
  warnIntervals: readonly number[];
  /**
   * Shared queue only: keep `retry` for when the database is back, if `e` is its outage (true);
   * an outcome then waits instead of becoming a retry that would deliver the mail again.
   */
  deferOnOutage?: (e: unknown, retry: () => void) => boolean;
}

/** A storage error as a Result failure: temporary, so the client retries (4xx). */
export function ioMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
