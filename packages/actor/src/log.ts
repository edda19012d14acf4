// Log lines as OpenSMTPD writes them: one event, then key=value fields (STYLE.md).
// Values with spaces or quotes are quoted so a line always parses back.

export type LogLevel = 'info' | 'warn' | 'debug';

export interface Logger {
  info(event: string, fields?: Record<string, unknown>): void;
  warn(event: string, fields?: Record<string, unknown>): void;
  debug(event: string, fields?: Record<string, unknown>): void;
  /** Write out buffered lines now (before stopping). */
  flush(): void;
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

/**
 * Lines are collected and written together every `flushMs` (and at once for warnings): in a
 * worker thread every stderr write is a message to the main thread, and one such hop costs
 * more than formatting the line (measured: half the smtp thread's messages were log lines).
 */
export class BufferedSink {
  private lines: string[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly write: (text: string) => void = (text) => process.stderr.write(text),
    private readonly flushMs = 50,
  ) {}

  add(line: string, urgent = false): void {
    this.lines.push(line);
    if (urgent || this.lines.length >= 512) this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.flushMs);
      this.timer.unref();
    }
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.lines.length === 0) return;
    const text = this.lines.join('\n') + '\n';
    this.lines = [];
    this.write(text);
  }
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

export function createLogger(role: string, opts: { verbose?: boolean; quiet?: boolean; sink?: (line: string) => void } = {}): Logger {
  const buffered = opts.sink ? null : new BufferedSink();
  const sink = opts.sink ?? ((line: string, urgent?: boolean) => buffered!.add(line, urgent));
  const emit = (event: string, fields?: Record<string, unknown>, urgent = false) => {
    if (!opts.quiet) sink(formatLogLine(role, event, fields), urgent);
  };
  return {
    info: (event, fields) => emit(event, fields),
    warn: (event, fields) => emit(`warn: ${event}`, fields, true),
    debug: (event, fields) => {
      if (opts.verbose || level.verbose || level.traced.has(role)) emit(event, fields);
    },
    flush: () => buffered?.flush(),
  };
}
