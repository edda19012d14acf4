// The scheduler's runner: one timer that sleeps until the next due time, and scheduling passes
// that hand due envelopes to the queue in batches (onEnvelopesDispatch / onEnvelopesExpire),
// respecting the in-flight limit. Idle, with no timer, when nothing is pending.
import type { DispatchItem } from '@tsmtpd/proto';
import type { SchedulerBackend } from './backend.js';

export interface RunnerLimits {
  /** Envelopes in flight at most (REFERENCE 5.5, default 5000). */
  maxInflight: number;
  /** Envelopes per dispatch call at most. */
  maxEvpBatchSize: number;
}

/** Where the runner sends work: the queue's mailbox, or a test's recorder. */
export interface RunnerSink {
  dispatch(items: DispatchItem[]): void;
  expire(evpids: string[]): void;
}

/** Envelopes handed out per pass before yielding to the event loop. */
const PASS_BUDGET = 4096;
/** setTimeout's ceiling (about 24.8 days). */
const MAX_DELAY_MS = 2 ** 31 - 1;

export class Runner {
  private timer: NodeJS.Timeout | null = null;
  private timerAt = 0;
  private immediate: NodeJS.Immediate | null = null;
  private stopped = false;
  passes = 0;

  constructor(
    private readonly backend: SchedulerBackend,
    private readonly limits: RunnerLimits,
    private readonly sink: RunnerSink,
  ) {}

  /** Whether a wake-up timer is armed (false when idle). */
  get timerPending(): boolean {
    return this.timer !== null;
  }

  /** Re-evaluate after anything that may change the earliest due time or the in-flight count. */
  wake(): void {
    if (this.stopped || this.immediate) return;
    const due = this.backend.nextDue();
    if (due === null || this.backend.inflight >= this.limits.maxInflight) {
      this.clearTimer();
      return;
    }
    const delayMs = Math.ceil((due - this.backend.now()) * 1000);
    if (delayMs <= 0) {
      this.clearTimer();
      this.immediate = setImmediate(() => {
        this.immediate = null;
        this.pass();
      });
      return;
    }
    if (this.timer && this.timerAt === due) return;
    this.clearTimer();
    this.timerAt = due;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.pass();
    }, Math.min(delayMs, MAX_DELAY_MS));
  }

  stop(): void {
    this.stopped = true;
    this.clearTimer();
    if (this.immediate) clearImmediate(this.immediate);
    this.immediate = null;
  }

  /** Hand out due work in batches until nothing is due, the in-flight limit or the budget. */
  pass(): void {
    if (this.stopped) return;
    this.passes++;
    let budget = Math.min(PASS_BUDGET, this.limits.maxInflight - this.backend.inflight);
    while (budget > 0) {
      const work = this.backend.takeDue(Math.min(budget, this.limits.maxEvpBatchSize));
      const n = work.dispatch.length + work.expire.length;
      if (n === 0) break;
      if (work.dispatch.length > 0) this.sink.dispatch(work.dispatch);
      if (work.expire.length > 0) this.sink.expire(work.expire);
      budget -= n;
    }
    this.wake();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
