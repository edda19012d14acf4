// Group commit (DESIGN 4): every write submitted within one event-loop turn (or a short window)
// runs in one backend batch — one transaction, one fsync — and each submitter is answered only
// after that commit. Each write runs atomically inside the batch, so one failing write fails
// alone; a failing commit fails them all.
import type { QueueBackend } from './backend.js';

export interface GroupCommitOptions {
  /** Wait this long for more writes before committing; 0 (default) = the next setImmediate. */
  windowMs?: number;
  /** Writes per transaction at most; the rest go in the next one. */
  maxOps?: number;
}

interface Pending {
  fn: () => unknown;
  durable: boolean;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

export interface GroupCommitStats {
  /** Transactions committed. */
  txns: number;
  /** Writes committed. */
  ops: number;
  /** Most writes in one transaction. */
  maxOps: number;
  /** Transactions that failed as a whole. */
  failed: number;
  /** Transactions committed without fsync (no durable write in them). */
  lazy: number;
}

export class GroupCommit {
  private queue: Pending[] = [];
  private timer: NodeJS.Immediate | NodeJS.Timeout | null = null;
  readonly stats: GroupCommitStats = { txns: 0, ops: 0, maxOps: 0, failed: 0, lazy: 0 };

  constructor(
    private readonly store: Pick<QueueBackend, 'batch' | 'atomic' | 'inTransaction'>,
    private readonly opts: GroupCommitOptions = {},
  ) {}

  /** Writes waiting for their transaction. */
  get pending(): number {
    return this.queue.length;
  }

  /**
   * Run `fn` in the next group transaction; resolves with its value once committed. A write
   * that is not `durable` (body chunks before their commit, outcomes of deliveries) does not
   * make its transaction fsync; one durable write in the batch makes all of it durable.
   */
  submit<T>(fn: () => T, opts: { durable?: boolean } = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, durable: opts.durable ?? true, resolve: resolve as (v: unknown) => void, reject });
      this.schedule();
    });
  }

  /** Commit everything waiting now (used at stop). */
  flush(): void {
    this.cancel();
    while (this.queue.length > 0) this.runOne();
  }

  private schedule(): void {
    if (this.timer) return;
    const windowMs = this.opts.windowMs ?? 0;
    const fire = (): void => {
      this.timer = null;
      this.runOne();
      if (this.queue.length > 0) this.schedule();
    };
    this.timer = windowMs > 0 ? setTimeout(fire, windowMs) : setImmediate(fire);
  }

  private cancel(): void {
    if (!this.timer) return;
    clearTimeout(this.timer as NodeJS.Timeout);
    clearImmediate(this.timer as NodeJS.Immediate);
    this.timer = null;
  }

  private runOne(): void {
    const ops = this.queue.splice(0, this.opts.maxOps ?? 1000);
    const outcomes: Outcome[] = [];
    const durable = ops.some((op) => op.durable);
    try {
      this.store.batch(() => {
        for (const op of ops) {
          try {
            outcomes.push({ ok: true, value: this.store.atomic(op.fn) });
          } catch (error) {
            // SQLite may roll the whole transaction back on its own (SQLITE_FULL while spilling
            // pages): the rest must not then run, each in a transaction of its own, unseen.
            if (!this.store.inTransaction()) throw error;
            outcomes.push({ ok: false, error });
          }
        }
      }, durable);
    } catch (error) {
      this.stats.failed++;
      for (const op of ops) op.reject(error);
      return;
    }
    this.stats.txns++;
    if (!durable) this.stats.lazy++;
    this.stats.ops += ops.length;
    if (ops.length > this.stats.maxOps) this.stats.maxOps = ops.length;
    ops.forEach((op, i) => {
      const o = outcomes[i] as Outcome;
      if (o.ok) op.resolve(o.value);
      else op.reject(o.error);
    });
  }
}

/**
 * Collects items added within one event-loop turn and hands them to `sink` in one call (the
 * one scheduler.onMessagesCommit notification of a turn's durable messages). Nobody waits for
 * it: a sink that throws is reported to `failed` with the items it lost.
 */
export class TickBatcher<T> {
  private items: T[] = [];

  constructor(
    private readonly sink: (items: T[]) => void,
    private readonly failed: (e: unknown, items: T[]) => void = () => undefined,
  ) {}

  add(item: T): void {
    this.items.push(item);
    if (this.items.length === 1) setImmediate(() => this.fire());
  }

  private fire(): void {
    const items = this.items;
    this.items = [];
    try {
      this.sink(items);
    } catch (e) {
      this.failed(e, items);
    }
  }
}
