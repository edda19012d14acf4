// makemap(8): builds a `db:` table (tsmtpd's own format, @tsmtpd/config's table-db) from a text
// file — `-t aliases` (aliases(5): `name: target, ...`, continuation lines), `-t set` (one key a
// line), or a mapping (`key value`, the default) — written atomically to `-o FILE` or FILE.db;
// `-U` prints a db table back as text. Berkeley DB files from OpenSMTPD must be rebuilt with it.
import { readFileSync } from 'node:fs';
import { checkTableDb, parseTableText, TableDb, writeTableDb, type TableDbKind } from '@tsmtpd/config';

const EX_USAGE = 64;
const EX_DATAERR = 65;
const EX_NOINPUT = 66;

type MapType = 'map' | 'aliases' | 'set';

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

const USAGE = 'usage: makemap [-U] [-d dbtype] [-o dbfile] [-t type] file\n';

interface Args {
  type: MapType;
  output?: string;
  dump: boolean;
  file: string;
}

function parseArgs(argv: string[]): Args | string {
  let type: MapType = 'map';
  let output: string | undefined;
  let dump = false;
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a === '--') { i++; break; }
    if (!a.startsWith('-') || a === '-') break;
    const flag = a.slice(1, 2);
    const inline = a.length > 2 ? a.slice(2) : undefined;
    const value = (): string | undefined => inline ?? argv[++i];
    if (flag === 'U') dump = true;
    else if (flag === 't') {
      const t = value();
      if (t !== 'aliases' && t !== 'set') return `unsupported type ${t ?? ''}: -t takes aliases or set`;
      type = t;
    } else if (flag === 'o') {
      const o = value();
      if (!o) return 'option -o needs a file';
      output = o;
    } else if (flag === 'd') {
      const d = value();
      if (d !== 'hash' && d !== 'btree') return `unsupported database type ${d ?? ''}`;
      // One on-disk format serves both: accepted for OpenSMTPD scripts' sake.
    } else return `unknown option -${flag}`;
  }
  const rest = argv.slice(i);
  if (rest.length !== 1 || !rest[0]) return 'one source file is required';
  return { type, dump, file: rest[0], ...(output !== undefined ? { output } : {}) };
}

/** aliases(5): `name: value, value`, a line starting with blanks continues the previous one. */
export function parseAliasesText(text: string): { ok: true; entries: [string, string][] } | { ok: false; line: number; message: string } {
  const entries = new Map<string, string>();
  let current: { key: string; value: string; line: number } | null = null;
  const flush = (): void => {
    if (current) entries.set(current.key, current.value.replace(/\s*,\s*$/, '').trim());
  };
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = (lines[i] ?? '').replace(/\r$/, '');
    if (raw.includes('\0')) return { ok: false, line: i + 1, message: 'NUL byte' };
    if (raw.trim() === '' || raw.trimStart().startsWith('#')) continue;
    if (/^[ \t]/.test(raw)) {
      if (!current) return { ok: false, line: i + 1, message: 'continuation line without an alias' };
      current.value += ` ${raw.trim()}`;
      continue;
    }
    flush();
    const m = /^([^:\s]+)\s*:\s*(.*)$/.exec(raw);
    if (!m || (m[2] ?? '').trim() === '') return { ok: false, line: i + 1, message: 'expected "name: value"' };
    current = { key: (m[1] ?? '').toLowerCase(), value: (m[2] ?? '').trim(), line: i + 1 };
  }
  flush();
  return { ok: true, entries: [...entries] };
}

function entriesOf(text: string, type: MapType): { ok: true; kind: TableDbKind; entries: [string, string][] } | { ok: false; line: number; message: string } {
  if (type === 'aliases') {
    const r = parseAliasesText(text);
    return r.ok ? { ok: true, kind: 'map', entries: r.entries } : r;
  }
  if (type === 'set') {
    const keys: [string, string][] = [];
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const l = (lines[i] ?? '').trim();
      if (l === '' || l.startsWith('#')) continue;
      if (/\s/.test(l)) return { ok: false, line: i + 1, message: 'a set entry is one key' };
      keys.push([l, '']);
    }
    return { ok: true, kind: 'set', entries: keys };
  }
  const r = parseTableText(text);
  if (!r.ok) return r;
  if (r.content.kind === 'list') return r.content.values.length === 0 ? { ok: true, kind: 'map', entries: [] } : { ok: false, line: 1, message: 'entries without values: use -t set for a list' };
  return { ok: true, kind: 'map', entries: Object.entries(r.content.entries) };
}

function dumpDb(file: string, io: Io): number {
  const c = checkTableDb(file);
  if (!c.ok) {
    io.err(`makemap: ${c.reason}\n`);
    return EX_NOINPUT;
  }
  const db = new TableDb(file);
  try {
    const content = db.content();
    if (content.kind === 'list') for (const k of content.values) io.out(`${k}\n`);
    else for (const [k, v] of Object.entries(content.entries)) io.out(`${k}\t${v}\n`);
  } finally {
    db.close();
  }
  return 0;
}

/** The makemap command; returns the exit code. */
export function makemapMain(argv: string[], io: Io): number {
  const args = parseArgs(argv);
  if (typeof args === 'string') {
    io.err(`makemap: ${args}\n${USAGE}`);
    return EX_USAGE;
  }
  if (args.dump) return dumpDb(args.file, io);
  const r = buildTableDb(args.file, args.type, args.output ?? `${args.file}.db`);
  if (!r.ok) {
    io.err(`makemap: ${r.error}\n`);
    return r.code;
  }
  return 0;
}

/** Builds the db table `output` from the text file `source` (makemap, newaliases). */
export function buildTableDb(source: string, type: MapType, output: string): { ok: true; entries: number } | { ok: false; code: number; error: string } {
  let text: string;
  try {
    text = readFileSync(source, 'utf8');
  } catch (e) {
    return { ok: false, code: EX_NOINPUT, error: `${source}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
  }
  const parsed = entriesOf(text, type);
  if (!parsed.ok) return { ok: false, code: EX_DATAERR, error: `${source}:${parsed.line}: ${parsed.message}` };
  try {
    return { ok: true, entries: writeTableDb(output, parsed.kind, parsed.entries) };
  } catch (e) {
    return { ok: false, code: EX_NOINPUT, error: `${output}: ${(e as Error).message}` };
  }
}
