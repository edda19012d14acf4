// Carries a message body to the queue: collects bytes into chunks of at most `chunkSize`,
// hands each to `append` as a fresh ArrayBuffer (transferred, never copied across the
// thread), and keeps at most `maxInFlight` appends outstanding so a fast client cannot
// pile a whole message up in memory. The first failure stops all further appends.
import type { Result } from '@tsmtpd/proto';
import { errorInfo } from '@tsmtpd/actor';

export type Append = (chunk: ArrayBuffer) => Promise<Result<void>>;

export interface SinkOptions {
  /** Largest chunk handed to the queue (256 KiB). */
  chunkSize: number;
  /** Appends outstanding before writers must wait. */
  maxInFlight: number;
}

export class ChunkSink {
  /** Bytes handed to the queue or waiting to be. */
  bytes = 0;
  /** Why the body could not be stored; null while all is well. */
  failure: string | null = null;
  private pieces: Buffer[] = [];
  private held = 0;
  private inFlight = new Set<Promise<void>>();
  private waiters: (() => void)[] = [];

  constructor(
    private readonly append: Append,
    private readonly opts: SinkOptions,
  ) {}

  /** Accept bytes. Returns a promise when the caller should wait before writing more. */
  write(buf: Buffer): Promise<void> | null {
    if (this.failure !== null || buf.length === 0) return null;
    this.pieces.push(buf);
    this.held += buf.length;
    this.bytes += buf.length;
    while (this.held >= this.opts.chunkSize) this.send(this.take(this.opts.chunkSize));
    if (this.inFlight.size < this.opts.maxInFlight) return null;
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /**
   * Wait for every append and hand back what is left instead of appending it: the caller
   * sends it with the commit (one call and one transaction for a small message).
   */
  async finishTail(): Promise<{ failure: string | null; tail: ArrayBuffer | null }> {
    while (this.inFlight.size > 0) await Promise.race(this.inFlight);
    if (this.failure !== null) return { failure: this.failure, tail: null };
    return { failure: null, tail: this.held > 0 ? this.take(this.held) : null };
  }

  /** Send what is left and wait for every append; resolves to the failure, if any. */
  async finish(): Promise<string | null> {
    if (this.held > 0 && this.failure === null) this.send(this.take(this.held));
    while (this.inFlight.size > 0) await Promise.race(this.inFlight);
    return this.failure;
  }

  /** Stop sending (the message is refused or abandoned); buffered bytes are dropped. */
  abandon(reason: string): void {
    this.failure ??= reason;
    this.pieces = [];
    this.held = 0;
    this.wake();
  }

  /** Copy the first `n` held bytes into a fresh ArrayBuffer of exactly that size. */
  private take(n: number): ArrayBuffer {
    const ab = new ArrayBuffer(n);
    const view = new Uint8Array(ab);
    let filled = 0;
    while (filled < n) {
      const p = this.pieces[0] as Buffer;
      const want = n - filled;
      if (p.length <= want) {
        view.set(p, filled);
        filled += p.length;
        this.pieces.shift();
      } else {
        view.set(p.subarray(0, want), filled);
        this.pieces[0] = p.subarray(want);
        filled += want;
      }
    }
    this.held -= n;
    return ab;
  }

  private send(ab: ArrayBuffer): void {
    let call: Promise<Result<void>>;
    try {
      call = this.append(ab);
    } catch (e) {
      call = Promise.reject(e); // a peer that is not wired throws at once
    }
    const p: Promise<void> = call.then(
      (r) => {
        if (!r.ok) this.abandon(`${r.code}: ${r.message}`);
      },
      (e: unknown) => {
        const info = errorInfo(e);
        this.abandon(`${info.code}: ${info.message}`);
      },
    ).finally(() => {
      this.inFlight.delete(p);
      this.wake();
    });
    this.inFlight.add(p);
  }

  private wake(): void {
    if (this.inFlight.size >= this.opts.maxInFlight && this.failure === null) return;
    const w = this.waiters;
    this.waiters = [];
    for (const resolve of w) resolve();
  }
}
