// `file:` tables (table(5), REFERENCE 11): a list or a mapping, auto-detected from the first
// entry, `# @list` forces a list; `key value` or `key: value`; `#` comments; blank lines.
// Loaded at start and on `smtpctl update table`; a failed reload keeps the previous content.
// The parser is private until @tsmtpd/config exports readTableFile (then this switches to it).
import { readFile } from 'node:fs/promises';
import { contentGet, type LookupResult, type TableBackend, type TableContent } from './table.js';

/** A malformed table file: the path and the first bad line. */
export class TableFileError extends Error {
  readonly code = 'TABLE_MALFORMED';
  constructor(readonly path: string, readonly line: number, message: string) {
    super(`${path}:${line}: ${message}`);
    this.name = 'TableFileError';
  }
}

/** Splits one entry line into key and value (value '' when the line is a bare key). */
function splitEntry(line: string): { key: string; value: string } {
  // An unbracketed IPv6 address or CIDR is one key, not `key:value`.
  const v6 = /^[0-9a-f:.]*:[0-9a-f:.]*:[0-9a-f:.]*(?:\/\d+)?/i.exec(line);
  if (v6 && (v6[0].length === line.length || /^[ \t]/.test(line.slice(v6[0].length)))) {
    return { key: v6[0], value: line.slice(v6[0].length).trim() };
  }
  let end: number;
  if (line.startsWith('[')) {
    const close = line.indexOf(']');
    end = close < 0 ? line.length : close + 1;
  } else {
    end = line.search(/[ \t:]/);
    if (end < 0) end = line.length;
  }
  const key = line.slice(0, end);
  const value = line.slice(end).replace(/^[ \t]*:?[ \t]*/, '');
  return { key, value };
}

/** Parses table text. Keys are lowercased; a mapping line without a value is an error. */
export function parseTableText(text: string, path = '<text>'): TableContent {
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
    const { key, value } = splitEntry(line);
    kind ??= value === '' ? 'list' : 'map';
    if (kind === 'list') {
      values.push(line);
    } else if (value === '') {
      throw new TableFileError(path, i + 1, 'invalid map entry (no value)');
    } else {
      entries[key.toLowerCase()] = value;
    }
  }
  return kind === 'list' ? { kind: 'list', values: [...new Set(values)] } : { kind: 'map', entries };
}

/** Reads and parses a table file; rejects with the fs error or a TableFileError. */
export async function loadTableFile(path: string): Promise<TableContent> {
  return parseTableText(await readFile(path, 'utf8'), path);
}

/** A `file:` table: content in memory, reloaded from its path on update. */
export class FileTableBackend implements TableBackend {
  readonly kind = 'file';
  private data: TableContent | undefined;

  /** `initial`: content the config loader already read, used until the first reload. */
  constructor(readonly path: string, initial?: TableContent, private readonly load = loadTableFile) {
    this.data = initial;
  }

  content(): TableContent | undefined {
    return this.data;
  }

  async get(key: string): Promise<LookupResult> {
    if (!this.data) return { error: `table file ${this.path} not loaded` };
    return contentGet(this.data, key);
  }

  async update(): Promise<void> {
    this.data = await this.load(this.path);
  }
}
