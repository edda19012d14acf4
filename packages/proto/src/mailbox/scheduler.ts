// scheduler: every envelope's schedule, in memory. Served to queue and control.
// Envelopes of a message in transit sit in a per-message changeset until the message
// commits (merged into the run queue) or rolls back (dropped). The queue sends the durable
// messages of one tick, envelopes and commits, in one notification (onMessagesCommit): it
// answers smtp's 250 without the scheduler, so an answer from it would be pure cost.
import type { EnvelopeType, ScheduleEntry } from '../envelope.js';

export type Outcome = 'ok' | 'permfail' | 'loop' | 'tempfail' | 'removed' | 'expired' | 'hold';

export interface OutcomeReport {
  evpid: string;
  outcome: Outcome;
  /** For tempfail: the envelope's retry count and last try after the update. */
  retry?: number;
  lastTry?: number;
  /** For hold: the hold queue to park it in. */
  holdq?: string;
}

/** One committed envelope's schedule, as control lists it (smtpctl show queue). */
export interface ScheduleState {
  evpid: string;
  type: EnvelopeType;
  state: 'pending' | 'inflight' | 'suspended' | 'held';
  /** Next attempt (pending), resume time (suspended) or hold deadline (held), epoch seconds. */
  at: number;
  retry: number;
  expiry: number;
}

/** What control asks of envelopes: run now, suspend, unsuspend (smtpctl schedule, pause/resume envelope). */
export type ScheduleOp = 'schedule' | 'suspend' | 'resume';

export interface SchedulerMailbox {
  /** Add envelopes to their message's changeset (not yet schedulable). */
  onEnvelopesInsert(entries: ScheduleEntry[]): void;
  /**
   * Durable messages: add `entries` to their messages' changesets, then merge the changesets of
   * `msgids` into the run queue, as one step (nothing is schedulable in between).
   */
  onMessagesCommit(entries: ScheduleEntry[], msgids: string[]): void;
  /** Drop a message's changeset. */
  onMessageRollback(msgid: string): void;
  /** At start: envelopes already committed in the queue, schedulable at once. */
  onEnvelopesLoad(entries: ScheduleEntry[]): void;
  /** Outcomes of dispatched envelopes, after the queue updated its storage. */
  onOutcomes(reports: OutcomeReport[]): void;
  /** The mta can take more for this relay: make up to `count` held envelopes due now. */
  onHoldRelease(holdq: string, count: number): void;

  /** Control: up to `limit` committed msgids after `after`, ascending (paged listing). */
  ctlMessages(after: string, limit: number): Promise<string[]>;
  /** Control: up to `limit` committed envelopes with evpid after `after`, ascending. */
  ctlEnvelopes(after: string, limit: number): Promise<ScheduleState[]>;
  /** Control: apply `op` to these ids (evpid, msgid, or the single word 'all'); returns how many changed. */
  ctlApply(op: ScheduleOp, ids: string[]): Promise<number>;
  /** Control: stop or restart handing envelopes of this agent out (smtpctl pause/resume mda|mta). */
  ctlPauseAgent(agent: 'mda' | 'mta', paused: boolean): Promise<void>;
}
