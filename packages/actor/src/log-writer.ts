// The parent's log writer: every actor's stamped lines (log.ts) arrive here in batches, each
// worker flushing on its own timer, so lines of one message can arrive out of order (a delivery
// before the `smtp: message` that accepted it). The writer holds lines for a short window and
// writes them in stamp order. Each line gets the wall-clock time unless stderr is the journal
// (systemd's JOURNAL_STREAM names stderr), which stamps lines itself and reads `<N>` priorities.
import { fstatSync } from 'node:fs';
import { hrNow, type LogFormat, type LogRecord } from './log.js';

/**
 * How long a line waits for older lines from slower workers, ms: workers flush every 50 ms, and
 * the smtp worker's `message` line carries the time its commit was asked for, a commit's latency
 * earlier than it is made. A line later than this is written when it comes, with its own time.
 */
export const ORDER_WINDOW_MS = 250;

/** Whether our stderr is the systemd journal: JOURNAL_STREAM is "dev:ino" of that stream. */
export function stderrIsJournal(env: NodeJS.ProcessEnv = process.env, fd = 2): boolean {
  const v = env['JOURNAL_STREAM'];
  if (!v) return false;
  const [dev, ino] = v.split(':');
  try {
    const st = fstatSync(fd, { bigint: true });
    return String(st.dev) === dev && String(st.ino) === ino;
  } catch {
    return false;
  }
}

export interface LogWriterOptions {
  format?: LogFormat;
  /** Default: on unless stderr is the journal. */
  journal?: boolean;
  windowMs?: number;
  write?: (text: string) => void;
}

/**
 * Records as they cross a thread: the stamps and priorities in typed arrays and the texts joined
 * by LF (a formatted line never holds a raw LF: values are quoted, log.ts) — one string and two
 * buffers clone far cheaper than an array of arrays.
 */
export interface LogBatch {
  stamps: Float64Array;
  priorities: Uint8Array;
  text: string;
}

export function packLogBatch(records: LogRecord[]): LogBatch {
  const stamps = new Float64Array(records.length);
  const priorities = new Uint8Array(records.length);
  const texts: string[] = new Array<string>(records.length);
  for (let i = 0; i < records.length; i++) {
    const r = records[i] as LogRecord;
    stamps[i] = r[0];
    priorities[i] = r[1];
    texts[i] = r[2].includes('\n') ? r[2].replace(/\n/g, '\\n') : r[2];
  }
  return { stamps, priorities, text: texts.join('\n') };
}

/** A batch from another thread, checked before use (it crossed a thread boundary); null if malformed. */
export function unpackLogBatch(v: unknown): LogRecord[] | null {
  if (!v || typeof v !== 'object') return null;
  const b = v as Partial<LogBatch>;
  if (!(b.stamps instanceof Float64Array) || !(b.priorities instanceof Uint8Array) || typeof b.text !== 'string') return null;
  const texts = b.text.split('\n');
  if (texts.length !== b.stamps.length || texts.length !== b.priorities.length) return null;
  const out: LogRecord[] = new Array<LogRecord>(texts.length);
  for (let i = 0; i < texts.length; i++) out[i] = [b.stamps[i] as number, b.priorities[i] as number, texts[i] as string];
  return out;
}

export class LogWriter {
  private pending: LogRecord[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly json: boolean;
  private readonly journal: boolean;
  private readonly windowMs: number;
  private readonly write: (text: string) => void;
  /** Wall clock minus the monotonic clock, to print a stamp as a date. */
  private readonly offset = Date.now() - hrNow();

  constructor(o: LogWriterOptions = {}) {
    this.json = o.format === 'json';
    this.journal = o.journal ?? stderrIsJournal();
    this.windowMs = o.windowMs ?? ORDER_WINDOW_MS;
    this.write = o.write ?? ((text) => process.stderr.write(text));
  }

  add(batch: LogRecord[]): void {
    for (const r of batch) this.pending.push(r);
    if (!this.timer && this.pending.length > 0) {
      this.timer = setTimeout(() => this.drain(false), this.windowMs / 3);
      this.timer.unref();
    }
  }

  /** Write everything now (at exit). */
  flush(): void {
    this.drain(true);
  }

  private drain(all: boolean): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.pending.length === 0) return;
    // Stable: lines with one stamp keep their order of arrival (one actor's own order).
    this.pending.sort((a, b) => a[0] - b[0]);
    const cut = all ? this.pending.length : upperBound(this.pending, hrNow() - this.windowMs);
    if (cut > 0) {
      let out = '';
      for (let i = 0; i < cut; i++) out += this.format(this.pending[i] as LogRecord);
      this.pending = this.pending.slice(cut);
      this.write(out);
    }
    if (this.pending.length > 0) {
      this.timer = setTimeout(() => this.drain(false), this.windowMs / 3);
      this.timer.unref();
    }
  }

  private format([stamp, priority, text]: LogRecord): string {
    const prefix = this.journal ? `<${priority}>` : '';
    if (this.json) return `${prefix}{"time":"${this.iso(stamp)}",${text}}\n`;
    return this.journal ? `${prefix}${text}\n` : `${this.iso(stamp)} ${text}\n`;
  }

  private second = -1;
  private secondText = '';

  /** ISO 8601 UTC with milliseconds; the date part is made once a second, not once a line. */
  private iso(stamp: number): string {
    const ms = Math.floor(stamp + this.offset);
    const sec = Math.floor(ms / 1000);
    if (sec !== this.second) {
      this.second = sec;
      this.secondText = new Date(sec * 1000).toISOString().slice(0, 20);
    }
    const frac = ms - sec * 1000;
    return `${this.secondText}${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}Z`;
  }
}

/** First index whose stamp is above `t` (records sorted by stamp). */
function upperBound(rs: LogRecord[], t: number): number {
  let lo = 0;
  let hi = rs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((rs[mid] as LogRecord)[0] <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
