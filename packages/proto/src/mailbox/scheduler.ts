// scheduler: every envelope's schedule, in memory. Served to queue and control.
// Envelopes of a message in transit sit in a per-message changeset until the message
// commits (merged into the run queue) or rolls back (dropped). The queue sends a durable
// message's envelopes and its commit in the same tick (one postMessage).
import type { ScheduleEntry } from '../envelope.js';

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

export interface SchedulerMailbox {
  /** Add envelopes to their message's changeset (not yet schedulable). */
  onEnvelopesInsert(entries: ScheduleEntry[]): void;
  /** Merge the changesets of these messages into the run queue. */
  messagesCommit(msgids: string[]): Promise<void>;
  /** Drop a message's changeset. */
  onMessageRollback(msgid: string): void;
  /** At start: envelopes already committed in the queue, schedulable at once. */
  onEnvelopesLoad(entries: ScheduleEntry[]): void;
  /** Outcomes of dispatched envelopes, after the queue updated its storage. */
  onOutcomes(reports: OutcomeReport[]): void;
  /** The mta can take more for this relay: make up to `count` held envelopes due now. */
  onHoldRelease(holdq: string, count: number): void;
}
