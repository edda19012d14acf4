// The slow-drip guard of one connection: how long the line now arriving has been incomplete.
// A client that keeps a command (or a DATA line) alive with a byte every few seconds never trips
// the idle timeout; this limits the time one line may take. One timer per connection, re-armed
// only when it fires, so a busy DATA transfer costs a lastIndexOf per chunk and nothing more.

export class LineClock {
  /** When the incomplete line began (ms), 0 when the input ends at a line end. */
  private since = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly limitMs: number,
    private readonly expire: () => void,
  ) {}

  /** Bytes arrived from the client. */
  feed(chunk: Buffer): void {
    if (this.stopped || chunk.length === 0) return;
    const lf = chunk.lastIndexOf(10);
    if (lf === chunk.length - 1) {
      this.since = 0;
      return;
    }
    // A new line starts after the last LF (or this is the first byte of one).
    if (lf >= 0 || this.since === 0) this.since = Date.now();
    this.arm(this.limitMs - (Date.now() - this.since));
  }

  private arm(ms: number): void {
    if (this.timer !== null) return;
    this.timer = setTimeout(() => this.check(), Math.max(ms, 1));
    this.timer.unref();
  }

  private check(): void {
    this.timer = null;
    if (this.stopped || this.since === 0) return;
    const left = this.since + this.limitMs - Date.now();
    if (left <= 0) {
      this.stop();
      this.expire();
    } else this.arm(left);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
