// The scheduler backend: where schedule state lives. The actor (scheduler.ts) owns the timer and
// the calls to the queue; a backend only keeps records and answers what is due. One backend so
// far (RamSchedulerBackend); the interface keeps the actor free of its data structures.
import type { DispatchItem, OutcomeReport, ScheduleEntry } from '@tsmtpd/proto';

/** Work a scheduling pass hands out: envelopes to attempt and envelopes past their expiry. */
export interface DueWork {
  dispatch: DispatchItem[];
  expire: string[];
}

export interface SchedulerBackend {
  /** The backend's clock: epoch seconds (may be fractional). */
  now(): number;
  /** Add envelopes to their message's changeset; duplicates of known evpids are ignored. */
  insert(entries: ScheduleEntry[]): number;
  /** Merge a message's changeset into the run queue; returns the envelopes merged. */
  commit(msgid: string): number;
  /** Drop a message's changeset; returns the envelopes dropped. */
  rollback(msgid: string): number;
  /** Envelopes already committed (queue start-up): straight into the run queue. */
  load(entries: ScheduleEntry[]): number;
  /** Outcomes of dispatched envelopes: forget them or reschedule them. */
  outcomes(reports: OutcomeReport[]): void;
  /** Take at most `limit` due envelopes and mark them in flight. */
  takeDue(limit: number): DueWork;
  /** Due time (epoch seconds) of the earliest pending envelope; null when none is pending. */
  nextDue(): number | null;
  /** Envelopes handed out whose outcome has not come back. */
  readonly inflight: number;
  /** Control: make pending envelopes (an evpid, or every one of a msgid) due now. */
  scheduleNow(id: string): number;
  /** Control: take envelopes out of the run queue until resumed. */
  suspend(id: string): number;
  /** Control: put suspended envelopes back into the run queue. */
  resume(id: string): number;
  /** Counters, `scheduler.*` keys (REFERENCE 12). */
  stats(): Record<string, number>;
}
