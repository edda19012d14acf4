// smtp's stock of msgids reserved by the queue (queue.msgidsReserve): MAIL FROM takes one here,
// with no round trip; below half the stock a refill is asked in the background, and an empty
// stock makes MAIL wait for it (the call's deadline bounds the wait). Ids are used within half
// of MSGID_RESERVE_TTL, after which the queue may have forgotten them; older ones are dropped.
import { MSGID_RESERVE_TTL, fail, ok, type QueueMailbox, type Result } from '@tsmtpd/proto';
import { errorInfo, type Remote } from '@tsmtpd/actor';

/** Ids asked for at each refill: one reservation round trip per half of it in MAIL FROMs. */
export const MSGID_STOCK = 64;

interface Reserved {
  msgid: string;
  /** Epoch ms after which it is not used any more. */
  until: number;
}

export class MsgidPool {
  private stock: Reserved[] = [];
  private refill: Promise<Result<void>> | null = null;

  constructor(
    private readonly queue: () => Remote<QueueMailbox>,
    private readonly size = MSGID_STOCK,
    private readonly now: () => number = Date.now,
  ) {}

  /** Ids in stock (tests, stats). */
  get count(): number {
    return this.stock.length;
  }

  /** A reserved msgid for a new transaction; waits for a refill when the stock is empty. */
  async take(): Promise<Result<string>> {
    for (;;) {
      const msgid = this.takeLocal();
      if (msgid !== null) {
        if (this.stock.length < this.size / 2) void this.fill();
        return ok(msgid);
      }
      // Concurrent takers may empty the refill before this one runs: then ask again.
      const r = await this.fill();
      if (!r.ok) return r;
    }
  }

  /** Forget the stock: the queue does not know these ids (it restarted). */
  clear(): void {
    this.stock = [];
  }

  private takeLocal(): string | null {
    const now = this.now();
    for (let r = this.stock.shift(); r !== undefined; r = this.stock.shift()) {
      if (r.until > now) return r.msgid;
    }
    return null;
  }

  /** One refill at a time; every waiter shares it. */
  private fill(): Promise<Result<void>> {
    this.refill ??= this.request().finally(() => {
      this.refill = null;
    });
    return this.refill;
  }

  private async request(): Promise<Result<void>> {
    try {
      const r = await this.queue().msgidsReserve(this.size - this.stock.length);
      if (!r.ok) return r;
      const until = this.now() + (MSGID_RESERVE_TTL * 1000) / 2;
      for (const msgid of r.value) this.stock.push({ msgid, until });
      return r.value.length > 0 ? ok(undefined) : fail('ERR_QUEUE_MSGID', 'temp', 'the queue reserved no msgid');
    } catch (e) {
      const info = errorInfo(e);
      return fail(info.code, 'temp', info.message);
    }
  }
}
