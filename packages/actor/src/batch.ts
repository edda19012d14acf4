// Batching and tracking of one-way calls, for actors that report to a peer: items pushed
// within one event-loop turn leave as one call (DESIGN 3: the hot path moves batches), and
// the notifications still on their way can be awaited at stop.

/** Items pushed within one turn, or up to `max`, handed to `send` as one array. */
export class TickBatch<T> {
  private items: T[] = [];
  private scheduled = false;

  constructor(
    private readonly send: (items: T[]) => void,
    private readonly max = 256,
  ) {}

  push(item: T): void {
    this.items.push(item);
    if (this.items.length >= this.max) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Send what is waiting now. */
  flush(): void {
    this.scheduled = false;
    if (this.items.length === 0) return;
    const out = this.items;
    this.items = [];
    this.send(out);
  }
}

/** Notifications in flight (their promises settle once the peer has them). */
export class InFlight {
  private readonly pending = new Set<Promise<unknown>>();

  /** Keep `p` until it settles; its failure is the caller's to have logged. */
  track(p: Promise<unknown>): void {
    const q = p.catch(() => {});
    this.pending.add(q);
    void q.finally(() => this.pending.delete(q));
  }

  /** Wait for everything in flight, but no longer than `ms`. */
  async settle(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all([...this.pending]), new Promise((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
  }
}
