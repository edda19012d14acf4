// Reading a stored message from the queue (QueueMailbox.bodyRead) as a pull stream of pages,
// so a 35 MB body never sits whole in memory: the runner pulls a page, hands it to every
// sink of the message, and pulls the next. The first pages are kept until the header block
// has been scanned (loop detection needs it before any sink is opened). A small body the queue
// sent along with its envelopes is the one page, read from nowhere.
import type { Result } from '@tsmtpd/proto';
import { HeaderScanner, type HeaderInfo } from './headers.js';

export type BodyReadFn = (msgid: string, from: number) => Promise<Result<{ chunks: ArrayBuffer[]; next: number | null }>>;

export class BodyError extends Error {
  constructor(
    message: string,
    readonly kind: 'temp' | 'perm',
  ) {
    super(message);
    this.name = 'BodyError';
  }
}

/** Upper bound of pages per message, against a queue that never says `next: null`. */
const MAX_PAGES = 1_000_000;

export class BodyReader {
  private next: number | null = 0;
  private pageCount = 0;
  private readonly held: Uint8Array[] = [];

  /** `whole`: the entire body, as the queue sent it with the envelopes (nothing to read). */
  constructor(
    private readonly read: BodyReadFn,
    private readonly msgid: string,
    private whole: Uint8Array[] | null = null,
  ) {}

  /** Pull one page; null at the end of the body. Throws BodyError when the queue fails. */
  private async pull(): Promise<Uint8Array[] | null> {
    if (this.whole !== null) {
      const all = this.whole;
      this.whole = null;
      this.next = null;
      return all;
    }
    if (this.next === null) return null;
    if (++this.pageCount > MAX_PAGES) throw new BodyError('body has too many pages', 'temp');
    let r: Awaited<ReturnType<BodyReadFn>>;
    try {
      r = await this.read(this.msgid, this.next);
    } catch (e) {
      throw new BodyError(`body read failed: ${(e as Error).message}`, 'temp');
    }
    if (!r.ok) throw new BodyError(`body read failed: ${r.code} ${r.message}`, r.kind === 'perm' ? 'perm' : 'temp');
    if (r.value.next !== null && r.value.next <= this.next) throw new BodyError('body read did not advance', 'temp');
    this.next = r.value.next;
    return r.value.chunks.map((c) => new Uint8Array(c));
  }

  /** Read until the header block is complete; the pages read are replayed by `chunks()`. */
  async scanHeaders(): Promise<HeaderInfo> {
    const scanner = new HeaderScanner();
    for (const c of this.held) scanner.feed(c);
    while (!scanner.done) {
      const page = await this.pull();
      if (page === null) break;
      for (const c of page) {
        this.held.push(c);
        scanner.feed(c);
      }
    }
    return scanner.result();
  }

  /** The whole body, page by page (held pages first). Single use. */
  async *pages(): AsyncGenerator<Uint8Array[]> {
    if (this.held.length > 0) yield this.held.splice(0, this.held.length);
    for (;;) {
      const page = await this.pull();
      if (page === null) return;
      if (page.length > 0) yield page;
    }
  }
}
