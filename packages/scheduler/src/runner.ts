// The scheduler's runner: one timer that sleeps until the next due time, and scheduling ticks
// that hand due envelopes to the queue (onEnvelopesDispatch / onEnvelopesExpire) under the
// `scheduler limit` keys. Idle, with no timer, when nothing is pending or max-inflight is reached.
//
// As in OpenSMTPD's scheduler_timeout: one tick takes at most max-schedule envelopes, and while
// work remains the next tick follows at once (setImmediate here, a zero evtimer there), so the
// actor serves its mailbox between ticks however large the backlog. What a tick takes is not sent
// per tick: it collects in an outbox sent in messages of max-evp-batch-size envelopes, and
// whatever is left when the ticks stop. A message to another thread costs more than a tick, so a
// small max-schedule bounds latency without cutting throughput.
import type { DispatchItem } from '@tsmtpd/proto';
import type { SchedulerBackend } from './backend.js';

export interface RunnerLimits {
  /** Envelopes in flight at most (REFERENCE 5.5, default 5000). */
  maxInflight: number;
  /** Envelopes per message to the queue at most (default 256). */
  maxEvpBatchSize: number;
  /** Envelopes per scheduling tick at most (default 10). */
  maxSchedule: number;
}

/** Where the runner sends work: the queue's mailbox, or a test's recorder. */
export interface RunnerSink {
  dispatch(items: DispatchItem[]): void;
  expire(evpids: string[]): void;
}

/** setTimeout's ceiling (about 24.8 days). */
const MAX_DELAY_MS = 2 ** 31 - 1;

export class Runner {
  private timer: NodeJS.Timeout | null = null;
  private timerAt = 0;
  private immediate: NodeJS.Immediate | null = null;
  private stopped = false;
  private outDispatch: DispatchItem[] = [];
  private outExpire: string[] = [];
  ticks = 0;
  messages = 0;

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
      this.nextTick();
      return;
    }
    if (this.timer && this.timerAt === due) return;
    this.clearTimer();
    this.timerAt = due;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.tick();
    }, Math.min(delayMs, MAX_DELAY_MS));
  }

  stop(): void {
    this.stopped = true;
    this.clearTimer();
    if (this.immediate) clearImmediate(this.immediate);
    this.immediate = null;
  }

  /** One tick: take up to max-schedule due envelopes; go on next turn while a tick comes back full. */
  tick(): void {
    if (this.stopped) return;
    this.ticks++;
    const room = this.limits.maxInflight - this.backend.inflight;
    const want = Math.min(Math.max(1, this.limits.maxSchedule), room);
    let took = 0;
    if (want > 0) {
      const work = this.backend.takeDue(want);
      took = work.dispatch.length + work.expire.length;
      for (const d of work.dispatch) this.outDispatch.push(d);
      for (const e of work.expire) this.outExpire.push(e);
      this.flush(false);
    }
    if (took > 0 && took === want && want < room) {
      this.nextTick();
      return;
    }
    this.flush(true);
    this.wake();
  }

  /** Send full batches; with `all`, the remainder too. */
  private flush(all: boolean): void {
    const size = Math.max(1, this.limits.maxEvpBatchSize);
    while (this.outDispatch.length >= size || (all && this.outDispatch.length > 0)) {
      this.messages++;
      this.sink.dispatch(this.outDispatch.splice(0, size));
    }
    while (this.outExpire.length >= size || (all && this.outExpire.length > 0)) {
      this.messages++;
      this.sink.expire(this.outExpire.splice(0, size));
    }
  }

  private nextTick(): void {
    if (this.immediate || this.stopped) return;
    this.immediate = setImmediate(() => {
      this.immediate = null;
      this.tick();
    });
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
