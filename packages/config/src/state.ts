// The configuration being built while parsing (the draft), and table helpers shared by the
// statement parsers: `<name>` references, inline `{ }` tables, literal strings, and the check that
// a table can serve a lookup (OpenSMTPD table_check_use: list vs mapping, backend services).
import type { Cursor, StmtPos } from './cursor.js';
import type { Token } from './lexer.js';
import type {
  Action, Filter, Listener, MatchRule, Proc, TableDef, Value,
  SmtpOptions, QueueOptions, BounceOptions, MtaOptions, MdaOptions, SchedulerOptions, SrsOptions,
} from './model.js';

/** What a table can be used for (table(5) services). */
export type Service =
  | 'alias' | 'domain' | 'credentials' | 'netaddr' | 'userinfo' | 'source' | 'mailaddr'
  | 'addrname' | 'mailaddrmap' | 'relayhost' | 'string' | 'regex';

/** A table known to the parser: its model entry plus its shape. */
export interface TableInfo {
  readonly def: TableDef;
  /**
   * list / map for static and file tables; dynamic for db, getpwnam, proc; none for a table of
   * no type (`table t static`, or a file that could not be read), which serves no lookup.
   */
  readonly kind: 'list' | 'map' | 'dynamic' | 'none';
  /** Entries when known (static and file tables), for validating addresses. */
  readonly keys?: readonly string[];
}

/** A file named in the configuration, with where it was named. */
export interface FileRef { path: string; at: Pick<Token, 'file' | 'line'> }
export interface PkiDraft { name: string; cert?: FileRef; key?: FileRef; dhe?: 'none' | 'auto' | 'legacy'; pos: StmtPos }
export interface CaDraft { name: string; cert?: FileRef; pos: StmtPos }
export interface ListenerDraft { listener: Listener; pos: StmtPos }

/** Mutable state of one parse. */
export interface Draft {
  baseDir: string;
  tables: Map<string, TableInfo>;
  anonCount: number;
  pki: Map<string, PkiDraft>;
  ca: Map<string, CaDraft>;
  actions: Map<string, Action>;
  matches: MatchRule[];
  filters: Map<string, Filter>;
  procs: Map<string, Proc>;
  listeners: ListenerDraft[];
  socket?: ListenerDraft;
  dynchain: number;
  admd?: string;
  /** Where `queue encryption` was given (its key is checked after the parse). */
  queueAt?: StmtPos;
  smtp: SmtpOptions;
  queue: QueueOptions;
  bounce: BounceOptions;
  mta: MtaOptions;
  mda: MdaOptions;
  scheduler: SchedulerOptions;
  srs: SrsOptions;
  metrics?: { address: string; port: number; file: string; line: number };
}

/** The result of a `tables` grammar item: the model value and the table it denotes. */
export interface TablesItem { readonly value: Value; readonly info: TableInfo; readonly tok: Token }

/** Resolves `<name>`, `{ ... }` or a literal string into a table (anonymous for the latter two). */
export function parseTables(cur: Cursor, d: Draft, pos: StmtPos): TablesItem {
  const tok = cur.peek();
  if (tok.t === 'punct' && tok.v === '<') {
    cur.next();
    const name = cur.expectString();
    cur.expectPunct('>');
    const info = d.tables.get(name.v);
    if (!info) cur.fail(name, `no such table: ${name.v}`);
    return { value: { table: name.v }, info, tok };
  }
  if (tok.t === 'punct' && tok.v === '{') {
    const info = parseInlineTable(cur, anonName(d), pos);
    d.tables.set(info.def.name, info);
    return { value: { table: info.def.name }, info, tok };
  }
  const s = cur.expectString();
  const def: TableDef = { name: anonName(d), type: 'static', list: [s.v.toLowerCase()], file: pos.file, line: pos.line };
  return { value: s.v, info: { def, kind: 'list', keys: [s.v] }, tok };
}

/** OpenSMTPD's names for anonymous tables: `<dynamic:0>`, `<dynamic:1>`, ... */
function anonName(d: Draft): string { return `<dynamic:${String(d.anonCount++)}>`; }

/**
 * Parses `{ v1, v2 }` or `{ k1 = v1, k2 => v2 }` with OpenSMTPD 6.8's list rules: elements are
 * separated by `,`, by line ends or by nothing (see `Cursor.listSeparator`), the first element
 * follows `{` on the same line and `}` follows the last; all elements are of one kind. Keys are
 * lowercased as OpenSMTPD stores them.
 */
export function parseInlineTable(cur: Cursor, name: string, pos: StmtPos): TableInfo {
  cur.expectPunct('{');
  const list: string[] = [];
  const map = Object.create(null) as Record<string, string>;
  let kind: 'list' | 'map' | undefined;
  for (;;) {
    const key = cur.expectString();
    const arrow = cur.isPunct('=') || cur.isPunct('=>');
    if ((kind ?? (arrow ? 'map' : 'list')) === 'map') {
      kind = 'map';
      if (!cur.acceptPunct('=')) cur.expectPunct('=>');
      map[key.v.toLowerCase()] = cur.expectString().v;
    } else {
      kind = 'list';
      const k = key.v.toLowerCase();
      if (!list.includes(k)) list.push(k);
    }
    if (cur.acceptPunct('}')) break;
    cur.listSeparator();
  }
  const def: TableDef = kind === 'map'
    ? { name, type: 'static', map: { ...map }, file: pos.file, line: pos.line }
    : { name, type: 'static', list, file: pos.file, line: pos.line };
  return { def, kind, keys: kind === 'map' ? Object.keys(map) : list };
}

/** Lookups a db table cannot serve (OpenSMTPD 6.8's db backend services). */
const NOT_DB: ReadonlySet<Service> = new Set(['relayhost', 'string', 'regex']);

/**
 * OpenSMTPD's table_check_use: may `info` serve `service` lookups with the given shape?
 * getpwnam tables only serve userinfo; db and proc tables have no fixed shape; a table of no
 * type serves nothing.
 */
export function tableCanServe(info: TableInfo, shape: 'list' | 'map', service: Service | readonly Service[]): boolean {
  const services = typeof service === 'string' ? [service] : service;
  if (info.def.type === 'getpwnam') return services.includes('userinfo');
  if (info.def.type === 'db') return services.some((s) => !NOT_DB.has(s));
  if (info.kind === 'dynamic') return true;
  return info.kind === shape;
}

/** Table name for messages (the anonymous name for literals and inline tables). */
export function tableName(item: TablesItem): string { return item.info.def.name; }
