// Log lines as OpenSMTPD writes them: one event, then key=value fields (STYLE.md).
// Values with spaces or quotes are quoted so a line always parses back.

export type LogLevel = 'info' | 'warn' | 'debug';

export interface Logger {
  info(event: string, fields?: Record<string, unknown>): void;
  warn(event: string, fields?: Record<string, unknown>): void;
  debug(event: string, fields?: Record<string, unknown>): void;
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

export function createLogger(role: string, opts: { verbose?: boolean; quiet?: boolean; sink?: (line: string) => void } = {}): Logger {
  const sink = opts.sink ?? ((line: string) => process.stderr.write(line + '\n'));
  const emit = (event: string, fields?: Record<string, unknown>) => {
    if (!opts.quiet) sink(formatLogLine(role, event, fields));
  };
  return {
    info: emit,
    warn: (event, fields) => emit(`warn: ${event}`, fields),
    debug: (event, fields) => {
      if (opts.verbose) emit(event, fields);
    },
  };
}
