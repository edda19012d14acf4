// Small bodies the queue sent along with their envelopes (MdaMailbox.onDeliver, MtaMailbox.onRelay),
// held by msgid until every envelope of the message is done with it, so the delivery reads them
// from here instead of asking the queue (QueueMailbox.bodyRead). Bounded in bytes: beyond it a
// body is let go and read from the queue as any other. Used by the mda and the mta.
export const KEPT_BODIES_MAX_BYTES = 8 * 1024 * 1024;

interface Kept {
  chunks: Uint8Array[];
  bytes: number;
  /** Envelopes of the message not yet started. */
  refs: number;
}

export class KeptBodies {
  private readonly byMsgid = new Map<string, Kept>();
  private bytes = 0;

  constructor(private readonly maxBytes = KEPT_BODIES_MAX_BYTES) {}

  get size(): number {
    return this.byMsgid.size;
  }

  /** One envelope of `msgid` accepted for delivery; `sent`: its body, if the queue sent it. */
  add(msgid: string, sent: unknown): void {
    const k = this.byMsgid.get(msgid);
    if (k) {
      k.refs++;
      return;
    }
    // Validated here: the shape the queue sends (ArrayBuffer[]); anything else is ignored.
    if (!Array.isArray(sent) || !sent.every((c) => c instanceof ArrayBuffer)) return;
    const chunks = (sent as ArrayBuffer[]).map((c) => new Uint8Array(c));
    const bytes = chunks.reduce((n, c) => n + c.byteLength, 0);
    if (this.bytes + bytes > this.maxBytes) return;
    this.bytes += bytes;
    this.byMsgid.set(msgid, { chunks, bytes, refs: 1 });
  }

  /** `count` envelopes of `msgid` start now: the body (if held), let go once none is left. */
  take(msgid: string, count: number): Uint8Array[] | null {
    const k = this.byMsgid.get(msgid);
    if (!k) return null;
    k.refs -= count;
    if (k.refs <= 0) {
      this.byMsgid.delete(msgid);
      this.bytes -= k.bytes;
    }
    return k.chunks;
  }

  /** The body of `msgid` if held, without letting go of it (an attempt that may be retried). */
  peek(msgid: string): Uint8Array[] | null {
    return this.byMsgid.get(msgid)?.chunks ?? null;
  }

  clear(): void {
    this.byMsgid.clear();
    this.bytes = 0;
  }
}
