// The data-line phase of one message (REFERENCE 10): the message's lines, dot-stuffed as the
// client sent them, go to the first data-line filter; what a filter sends back with
// `filter-dataline` goes to the next, and the last one's lines, un-stuffed, become the message.
// Each filter ends its output with a lone "."; the run is over when the last one has.
// Backpressure: a full pipe to the first filter pauses the client's stream; a run that sees no
// progress for the filter deadline fails, and the silent filter is restarted.
import type { FilterProc } from './proc.js';
import { PROTOCOL_VERSION, timestamp } from './protocol.js';

const LF = 0x0a;
const DOT = 0x2e;
const EMPTY = Buffer.alloc(0);

interface Stage {
  proc: FilterProc;
  token: string;
  ended: boolean;
}

/** Bytes of a data line for the protocol: CR and NUL dropped (a reader splitting on CR would see a new line). */
function clean(b: Buffer): Buffer {
  if (b.indexOf(0x0d) === -1 && b.indexOf(0) === -1) return b;
  return Buffer.from(b.filter((c) => c !== 0x0d && c !== 0));
}

export class DataLineRun {
  private readonly stages: Stage[];
  private partial: Buffer = EMPTY;
  private failure: string | null = null;
  private finished = false;
  private settle: ((failure: string | null) => void) | null = null;
  private readonly done: Promise<string | null>;
  private watchdog: NodeJS.Timeout | null = null;
  /** Stop forwarding the filters' output (the message was refused meanwhile). */
  discard = false;

  constructor(
    private readonly sid: string,
    procs: { proc: FilterProc; token: string }[],
    private readonly sink: (line: Buffer) => void,
    private readonly timeoutMs: number,
    private readonly onEnd: () => void,
  ) {
    this.stages = procs.map((p) => ({ ...p, ended: false }));
    this.done = new Promise((r) => (this.settle = r));
  }

  get failed(): string | null {
    return this.failure;
  }

  private send(i: number, line: Buffer): boolean {
    const s = this.stages[i] as Stage;
    const head = Buffer.from(`filter|${PROTOCOL_VERSION}|${timestamp()}|smtp-in|data-line|${this.sid}|${s.token}|`);
    return s.proc.write(Buffer.concat([head, clean(line)]));
  }

  /** LF-normalised message bytes from the client; a promise means: wait before the next chunk. */
  push(bytes: Buffer): Promise<void> | null {
    if (this.failure !== null) return null;
    const data = this.partial.length ? Buffer.concat([this.partial, bytes]) : bytes;
    let pos = 0;
    let full = false;
    for (let nl = data.indexOf(LF, pos); nl !== -1; nl = data.indexOf(LF, pos)) {
      const line = data.subarray(pos, nl);
      // Dot-stuffing as on the wire: the filter sees the line exactly as the client sent it.
      const wire = line[0] === DOT ? Buffer.concat([Buffer.from('.'), line]) : line;
      if (!this.send(0, wire)) full = true;
      pos = nl + 1;
    }
    this.partial = Buffer.from(data.subarray(pos));
    if (!full) return null;
    return this.waitFor((this.stages[0] as Stage).proc.drained());
  }

  /** End of the client's data: the final "." goes in, and the run ends when it comes out. */
  async end(): Promise<string | null> {
    if (this.failure === null) {
      if (this.partial.length) this.send(0, this.partial[0] === DOT ? Buffer.concat([Buffer.from('.'), this.partial]) : this.partial);
      this.partial = EMPTY;
      this.send(0, Buffer.from('.'));
      this.arm();
    }
    return this.done;
  }

  private waitFor(p: Promise<void>): Promise<void> {
    this.arm();
    return p.then(() => this.disarm());
  }

  private arm(): void {
    this.disarm();
    this.watchdog = setTimeout(() => {
      const silent = this.stages.find((s) => !s.ended);
      silent?.proc.stalled(`no data-line progress within ${this.timeoutMs} ms`);
      this.fail('data-line filter timeout');
    }, this.timeoutMs);
  }

  private disarm(): void {
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = null;
  }

  /** A `filter-dataline` answer; false when it belongs to no stage of this run. */
  take(proc: FilterProc, token: string, line: string): boolean {
    const i = this.stages.findIndex((s) => s.proc === proc && s.token === token);
    if (i === -1) return false;
    if (this.failure !== null || this.finished) return true;
    if (this.watchdog) this.arm();
    const stage = this.stages[i] as Stage;
    if (stage.ended) return true; // lines after a filter's "." are ignored
    const bytes = Buffer.from(line, 'latin1');
    if (line === '.') stage.ended = true;
    if (i + 1 < this.stages.length) {
      this.send(i + 1, bytes);
      return true;
    }
    if (stage.ended) {
      this.finish(null);
      return true;
    }
    if (!this.discard) this.sink(Buffer.concat([bytes[0] === DOT ? bytes.subarray(1) : bytes, Buffer.from('\n')]));
    return true;
  }

  fail(why: string): void {
    if (this.failure === null && !this.finished) this.failure = why;
    this.finish(this.failure);
  }

  private finish(failure: string | null): void {
    if (this.finished) return;
    this.finished = true;
    this.disarm();
    this.onEnd();
    this.settle?.(failure);
  }
}
