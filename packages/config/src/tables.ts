// Table files (table(5), REFERENCE section 11): a list or a mapping, auto-detected from the first
// entry, `# @list` (before any entry) forces a list. Lines: `key value`, `key: value`, `key` (list),
// `[ipv6]` keys, `#` comment lines, blank lines. Keys are stored lowercased (lookups are
// case-insensitive on keys). Used by the config parser and by the lka to (re)load file tables.
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';

/** Content of a table file. */
export type TableContent =
  | { kind: 'list'; values: string[] }
  | { kind: 'map'; entries: Record<string, string> };

/** Result of parsing table text: the content, or the first malformed line. */
export type TableParseResult =
  | { ok: true; content: TableContent }
  | { ok: false; line: number; message: string };

/**
 * Parses the text of a table file. An empty file is an empty mapping (as OpenSMTPD treats empty
 * alias files). A mapping line without a value is an error (`invalid map entry`).
 */
export function parseTableText(text: string): TableParseResult {
  let kind: 'list' | 'map' | undefined;
  const values: string[] = [];
  const entries: Record<string, string> = Object.create(null) as Record<string, string>;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      if (kind === undefined && line.slice(1).trim() === '@list') kind = 'list';
      continue;
    }
    let sep: number;
    if (line.startsWith('[')) {
      const close = line.indexOf(']');
      if (close < 0) return { ok: false, line: i + 1, message: 'invalid map entry' };
      sep = close + 1;
    } else {
      sep = line.search(/[ \t:]/);
      if (sep < 0) sep = line.length;
    }
    kind ??= sep >= line.length ? 'list' : 'map';
    if (kind === 'list') {
      values.push(line.toLowerCase());
      continue;
    }
    const key = line.slice(0, sep).toLowerCase();
    const value = line.slice(sep + 1).replace(/^[ \t]+/, '');
    if (sep >= line.length || value === '') return { ok: false, line: i + 1, message: 'invalid map entry' };
    entries[key] = value;
  }
  if (kind === 'list') return { ok: true, content: { kind: 'list', values: [...new Set(values)] } };
  return { ok: true, content: { kind: 'map', entries: { ...entries } } };
}

/** Error thrown by `readTableFile` for a malformed file (I/O errors are thrown as they are). */
export class TableFileError extends Error {
  readonly code = 'TABLE_MALFORMED';
  constructor(readonly path: string, readonly line: number, message: string) {
    super(`${path}:${line} ${message}`);
    this.name = 'TableFileError';
  }
}

/**
 * Reads and parses a table file. Rejects with the fs error (`ENOENT`, `EACCES`, ...) or a
 * `TableFileError` (`code: 'TABLE_MALFORMED'`) naming the bad line.
 */
export async function readTableFile(path: string): Promise<TableContent> {
  const res = parseTableText(await readFile(path, 'utf8'));
  if (!res.ok) throw new TableFileError(path, res.line, res.message);
  return res.content;
}

/** Synchronous `readTableFile` (the config parser runs synchronously). */
export function readTableFileSync(path: string): TableContent {
  const res = parseTableText(readFileSync(path, 'utf8'));
  if (!res.ok) throw new TableFileError(path, res.line, res.message);
  return res.content;
}
