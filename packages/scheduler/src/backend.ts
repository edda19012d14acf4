// The scheduler backend: where schedule state lives. The actor (scheduler.ts) owns the timer and
// the calls to the queue; a backend only keeps records and answers what is due. One backend so
// far (RamSchedulerBackend); the interface keeps the actor free of its data structures.
// Removal (smtpctl remove) goes through the queue, the source of truth: it deletes the stored
// envelope and reports outcome `removed`, which the backend accepts in any committed state.
import type { DispatchItem, EnvelopeType, OutcomeReport, ScheduleEntry } from '@tsmtpd/proto';

/** Work a scheduling pass hands out: envelopes to attempt and envelopes past their expiry. */
export interface DueWork {
  dispatch: DispatchItem[];
  expire: string[];
}

/** One line of an envelope listing (smtpctl show queue). */
export interface EnvelopeState {
  evpid: string;
  type: EnvelopeType;
  state: 'incoming' | 'pending' | 'inflight' | 'suspended' | 'held';
  /** Next attempt (pending), resume time (suspended) or hold deadline (held), epoch seconds. */
  at: number;
  retry: number;
  expiry: number;
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
  /**
   * Outcomes of dispatched envelopes: forget them (ok, permfail, loop, expired; `removed` in any
   * committed state), reschedule them (tempfail), or park them in a hold queue (hold).
   */
  outcomes(reports: OutcomeReport[]): void;
  /** Make up to `count` envelopes of hold queue `holdq` due now, oldest first; returns how many. */
  release(holdq: string, count: number): number;
  /** Take at most `limit` due envelopes and mark them in flight. */
  takeDue(limit: number): DueWork;
  /** Due time (epoch seconds) of the earliest pending envelope; null when none is pending. */
  nextDue(): number | null;
  /** Envelopes handed out whose outcome has not come back. */
  readonly inflight: number;
  /** Control: make pending and held envelopes (an evpid, or every one of a msgid) due now. */
  scheduleNow(id: string): number;
  /** Control: take pending and held envelopes out of the run queue until resumed. */
  suspend(id: string): number;
  /** Control: stop (paused) or restart handing out envelopes of this type code (pause mda|mta). */
  pauseType(type: number, paused: boolean): void;
  /** Control: put suspended envelopes back into the run queue. */
  resume(id: string): number;
  /** Control listing: up to `limit` committed msgids after `after`, ascending. */
  messages(after: string, limit: number): string[];
  /** Control listing: up to `limit` committed envelopes with evpid after `after`, ascending. */
  envelopes(after: string, limit: number): EnvelopeState[];
  /** Counters, `scheduler.*` keys (REFERENCE 12). */
  stats(): Record<string, number>;
}
