// MDA session limits (REFERENCE 8.1: at most 50 deliveries at once, 7 per user; `mda limit`
// overrides): envelopes beyond them wait in arrival order. Work starts per message, so the
// envelopes of one message that may run together share one read of its body. Pure data
// structure; used by mda.ts.

interface Waiting<T> {
  seq: number;
  user: string;
  msgid: string;
  item: T;
  taken: boolean;
}

/** A per-user FIFO with lazy removal (taken entries are skipped at the head). */
class UserQueue<T> {
  private items: Waiting<T>[] = [];
  private head = 0;

  push(w: Waiting<T>): void {
    this.items.push(w);
  }

  peek(): Waiting<T> | undefined {
    while (this.head < this.items.length && this.items[this.head]!.taken) this.head++;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return this.items[this.head];
  }
}

export interface Started<T> {
  msgid: string;
  items: { user: string; item: T }[];
}

export class SessionLimiter<T> {
  private seq = 0;
  private readonly queues = new Map<string, UserQueue<T>>();
  private readonly byMsg = new Map<string, Waiting<T>[]>();
  private readonly active = new Map<string, number>();
  private runningCount = 0;
  private pendingCount = 0;

  constructor(
    private maxSession: number,
    private maxPerUser: number,
  ) {}

  /** Reloaded limits: they apply to the next deliveries started (running ones go on). */
  setLimits(maxSession: number, maxPerUser: number): void {
    this.maxSession = maxSession;
    this.maxPerUser = maxPerUser;
  }

  get running(): number {
    return this.runningCount;
  }

  get pending(): number {
    return this.pendingCount;
  }

  /** Users with deliveries running or waiting. */
  get users(): number {
    const s = new Set(this.active.keys());
    for (const [u, q] of this.queues) if (q.peek()) s.add(u);
    return s.size;
  }

  add(user: string, msgid: string, item: T): void {
    const w: Waiting<T> = { seq: this.seq++, user, msgid, item, taken: false };
    let q = this.queues.get(user);
    if (!q) this.queues.set(user, (q = new UserQueue()));
    q.push(w);
    const m = this.byMsg.get(msgid);
    if (m) m.push(w);
    else this.byMsg.set(msgid, [w]);
    this.pendingCount++;
  }

  private room(user: string): boolean {
    return (this.active.get(user) ?? 0) < this.maxPerUser;
  }

  /** The oldest waiting envelope whose user is below the per-user limit. */
  private oldestStartable(): Waiting<T> | undefined {
    let best: Waiting<T> | undefined;
    for (const [user, q] of this.queues) {
      const head = q.peek();
      if (!head) {
        this.queues.delete(user);
        continue;
      }
      if (this.room(user) && (!best || head.seq < best.seq)) best = head;
    }
    return best;
  }

  /** Start what the limits allow, grouped by message; the caller must `release` each item. */
  take(): Started<T>[] {
    const started: Started<T>[] = [];
    while (this.runningCount < this.maxSession) {
      const first = this.oldestStartable();
      if (!first) break;
      const group: Started<T> = { msgid: first.msgid, items: [] };
      const waiting = this.byMsg.get(first.msgid) ?? [];
      for (const w of waiting) {
        if (this.runningCount >= this.maxSession) break;
        if (w.taken || !this.room(w.user)) continue;
        w.taken = true;
        this.runningCount++;
        this.pendingCount--;
        this.active.set(w.user, (this.active.get(w.user) ?? 0) + 1);
        group.items.push({ user: w.user, item: w.item });
      }
      const rest = waiting.filter((w) => !w.taken);
      if (rest.length > 0) this.byMsg.set(first.msgid, rest);
      else this.byMsg.delete(first.msgid);
      started.push(group);
    }
    return started;
  }

  release(user: string): void {
    const n = (this.active.get(user) ?? 0) - 1;
    if (n > 0) this.active.set(user, n);
    else this.active.delete(user);
    this.runningCount--;
  }

  /** Drop everything waiting (shutdown); answers the items that never started. */
  drain(): T[] {
    const out: T[] = [];
    for (const ws of this.byMsg.values()) for (const w of ws) if (!w.taken) out.push(w.item);
    this.byMsg.clear();
    this.queues.clear();
    this.pendingCount = 0;
    return out;
  }
}
