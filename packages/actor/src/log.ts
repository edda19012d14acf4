// Log lines as OpenSMTPD writes them: one event, then key=value fields (STYLE.md), or one JSON
// object a line (`--log-format json`). Each line is formatted once, where it is made, and stamped
// with the process-wide monotonic clock so the parent (log-writer.ts) can put the lines of all
// actors in the order they happened before it writes them.

export type LogLevel = 'info' | 'warn' | 'debug';
export type LogFormat = 'text' | 'json';

/** syslog priorities, for the journal's `<N>` line prefix (sd-daemon(3)). */
export const PRIORITY: Record<LogLevel, number> = { warn: 4, info: 6, debug: 7 };

/** One line: when it was made (hrNow), its priority, and its text (without time and line end). */
export type LogRecord = [stamp: number, priority: number, text: string];

export interface Logger {
  /** `at`: the moment the event happened (hrNow), when that was before the call. */
  info(event: string, fields?: Record<string, unknown>, at?: number): void;
  warn(event: string, fields?: Record<string, unknown>): void;
  debug(event: string, fields?: Record<string, unknown>): void;
  /** Write out buffered lines now (before stopping). */
  flush(): void;
}

/**
 * Milliseconds on CLOCK_MONOTONIC, the same clock in every thread of the process (unlike
 * performance.now(), whose origin is each thread's start).
 */
export function hrNow(): number {
  const [s, ns] = process.hrtime();
  return s * 1e3 + ns / 1e6;
}

function formatValue(v: unknown): string {
  const s = typeof v === 'string' ? v : v instanceof Error ? v.message : JSON.stringify(v) ?? 'undefined';
  return /^[^\s"=]*$/.test(s) && s !== '' ? s : JSON.stringify(s);
}

export function formatLogLine(role: string, event: string, fields?: Record<string, unknown>): string {
  let line = `${role}: ${event}`;
  if (fields) for (const [k, v] of Object.entries(fields)) if (v !== undefined) line += ` ${k}=${formatValue(v)}`;
  return line;
}

function jsonValue(v: unknown): string {
  if (v instanceof Error) return JSON.stringify(v.message);
  if (typeof v === 'bigint') return JSON.stringify(String(v));
  return JSON.stringify(v) ?? 'null';
}

/** The members of the line's JSON object after "time" (the writer adds that and the braces). */
export function formatLogJson(role: string, level: LogLevel, event: string, fields?: Record<string, unknown>): string {
  let s = `"level":"${level}","role":${JSON.stringify(role)},"event":${JSON.stringify(event)}`;
  if (fields) {
    for (const [k, v] of Object.entries(fields)) {
      if (v === undefined || k === 'time' || k === 'level' || k === 'role' || k === 'event') continue;
      s += `,${JSON.stringify(k)}:${jsonValue(v)}`;
    }
  }
  return s;
}

/**
 * Items are collected and handed on together every `flushMs` (and at once for warnings): in a
 * worker thread every write is a message to the main thread, and one such hop costs more than
 * formatting the line (measured: half the smtp thread's messages were log lines).
 */
export class BufferedSink<T = string> {
  private items: T[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly write: (items: T[]) => void,
    private readonly flushMs = 50,
  ) {}

  add(item: T, urgent = false): void {
    this.items.push(item);
    if (urgent || this.items.length >= 512) this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.flushMs);
      this.timer.unref();
    }
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.items.length === 0) return;
    const items = this.items;
    this.items = [];
    this.write(items);
  }
}

export interface LoggerOptions {
  verbose?: boolean;
  quiet?: boolean;
  format?: LogFormat;
  /** Each line's text, at once (tests). */
  sink?: (line: string) => void;
  /** Stamped records in batches, for a LogWriter (the daemon's workers and parent). */
  records?: (batch: LogRecord[]) => void;
  /** Batching interval of `records`, ms; 0 hands each record on at once. */
  flushMs?: number;
}

/**
 * The running log level of this thread: `smtpctl log verbose|brief` sets `verbose`, `smtpctl
 * trace SUB` adds the roles that own SUB to `traced` (their debug lines are written). Changed
 * only through setLogLevel, which control's broadcast reaches in every thread (log-control.ts).
 */
const level = { verbose: false, traced: new Set<string>() };

export function setLogLevel(change: { verbose?: boolean | undefined; trace?: string[] | undefined; untrace?: string[] | undefined }): void {
  if (change.verbose !== undefined) level.verbose = change.verbose;
  for (const r of change.trace ?? []) level.traced.add(r);
  for (const r of change.untrace ?? []) level.traced.delete(r);
}

export function logLevel(): { verbose: boolean; traced: string[] } {
  return { verbose: level.verbose, traced: [...level.traced].sort() };
}

/** Without `sink` or `records` the lines go to stderr as they are (tools, test kits). */
export function createLogger(role: string, opts: LoggerOptions = {}): Logger {
  const json = opts.format === 'json';
  let put: (rec: LogRecord, urgent: boolean) => void;
  let flush = () => {};
  if (opts.records) {
    const records = opts.records;
    if (opts.flushMs === 0) put = (rec) => records([rec]);
    else {
      const b = new BufferedSink<LogRecord>(records, opts.flushMs ?? 50);
      put = (rec, urgent) => b.add(rec, urgent);
      flush = () => b.flush();
    }
  } else if (opts.sink) {
    const sink = opts.sink;
    put = (rec) => sink(rec[2]);
  } else {
    const b = new BufferedSink<string>((lines) => process.stderr.write(lines.join('\n') + '\n'));
    put = (rec, urgent) => b.add(rec[2], urgent);
    flush = () => b.flush();
  }
  const emit = (level: LogLevel, event: string, fields: Record<string, unknown> | undefined, at: number | undefined) => {
    if (opts.quiet) return;
    const text = json ? formatLogJson(role, level, event, fields) : formatLogLine(role, level === 'warn' ? `warn: ${event}` : event, fields);
    put([at ?? hrNow(), PRIORITY[level], text], level === 'warn');
  };
  return {
    info: (event, fields, at) => emit('info', event, fields, at),
    warn: (event, fields) => emit('warn', event, fields, undefined),
    debug: (event, fields) => {
      if (opts.verbose || level.verbose || level.traced.has(role)) emit('debug', event, fields, undefined);
    },
    flush: () => flush(),
  };
}
