// `sqlite:` tables (the configuration file format of opensmtpd-extras' table-sqlite): `dbpath`,
// `query_<service>` keys with one `?` parameter, `fetch_source`. The user's own database is
// opened read-only; each query is prepared once and must return the columns its service needs
// (alias/domain/...: 1, credentials: 2, userinfo: 3). Lookups run synchronously (better-sqlite3)
// in the lka worker: they are index lookups on a local file.
import Database from 'better-sqlite3';
import { readFile } from 'node:fs/promises';
import type { LookupService } from '@tsmtpd/proto';
import type { CheckService, LookupResult, MatchOutcome, TableBackend } from './table.js';

/** Services a query may serve, with the columns its rows must have. */
const QUERY_COLUMNS: Record<string, number> = {
  alias: 1, domain: 1, credentials: 2, netaddr: 1, userinfo: 3, source: 1, mailaddr: 1, addrname: 1, mailaddrmap: 1,
};

export interface SqliteTableConfig {
  dbpath: string;
  queries: Map<string, string>;
  fetchSource?: string;
}

/** Parses a table-sqlite configuration file (`key value` or `key: value`, `#` comments). */
export function parseSqliteConfig(text: string, path: string): SqliteTableConfig {
  let dbpath: string | undefined;
  let fetchSource: string | undefined;
  const queries = new Map<string, string>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z_]+)(?:\s*:\s*|\s+)(.*)$/.exec(line);
    const at = `${path}:${i + 1}`;
    if (!m || (m[2] ?? '').trim() === '') throw new Error(`${at}: missing value for ${line.split(/\s/)[0] ?? line}`);
    const key = m[1] ?? '';
    const value = (m[2] ?? '').trim();
    if (key === 'dbpath') dbpath = value;
    else if (key === 'fetch_source') fetchSource = value;
    else if (key === 'fetch_source_expire' || key === 'fetch_source_refresh') {
      if (!/^\d{1,9}$/.test(value)) throw new Error(`${at}: bad value for ${key}: ${value}`);
    } else if (key.startsWith('query_') && QUERY_COLUMNS[key.slice(6)] !== undefined) {
      if (queries.has(key.slice(6))) throw new Error(`${at}: duplicate key ${key}`);
      queries.set(key.slice(6), value);
    } else throw new Error(`${at}: unknown key ${key}`);
  }
  if (dbpath === undefined) throw new Error(`${path}: no dbpath`);
  return { dbpath, queries, ...(fetchSource !== undefined ? { fetchSource } : {}) };
}

type Row = unknown[];

interface Opened {
  db: Database.Database;
  statements: Map<string, Database.Statement>;
  fetch?: Database.Statement;
}

export class SqliteTableBackend implements TableBackend {
  readonly kind = 'sqlite';
  private opened: Opened | undefined;
  private openError: string | undefined = 'not opened yet';

  constructor(readonly path: string) {}

  async open(): Promise<void> {
    await this.update();
  }

  /** Rows come from queries: nothing to list for the in-memory matchers. */
  content(): undefined {
    return undefined;
  }

  check(service: CheckService, key: string): MatchOutcome {
    const r = this.rows(service, key, true);
    return 'error' in r ? 'error' : r.rows.length > 0;
  }

  async get(key: string, service?: LookupService): Promise<LookupResult> {
    if (service === undefined) return { error: 'sqlite table lookup without a service' };
    const r = this.rows(service, key, false);
    if ('error' in r) return r;
    const [first] = r.rows;
    if (!first) return { found: false };
    switch (service) {
      case 'alias':
      case 'mailaddrmap':
        return { found: true, value: r.rows.map((row) => String(row[0] ?? '')).join(', ') };
      case 'credentials':
        return { found: true, value: `${String(first[0] ?? '')}:${String(first[1] ?? '')}` };
      case 'userinfo':
        return { found: true, value: `${Math.trunc(Number(first[0]))}:${Math.trunc(Number(first[1]))}:${String(first[2] ?? '')}` };
      default:
        return { found: true, value: String(first[0] ?? '') };
    }
  }

  async fetch(): Promise<{ values: string[] } | { error: string }> {
    const o = this.opened;
    if (!o) return { error: this.openError ?? 'sqlite table not open' };
    if (!o.fetch) return { error: `${this.path}: no fetch_source query` };
    try {
      return { values: (o.fetch.raw().all() as Row[]).map((row) => String(row[0] ?? '')) };
    } catch (e) {
      return { error: `${this.path}: ${(e as Error).message}` };
    }
  }

  /** Re-reads the configuration and reopens the database; a failure keeps the previous one. */
  async update(): Promise<void> {
    let next: Opened;
    try {
      const conf = parseSqliteConfig(await readFile(this.path, 'utf8'), this.path);
      const db = new Database(conf.dbpath, { readonly: true, fileMustExist: true });
      try {
        const statements = new Map<string, Database.Statement>();
        for (const [service, sql] of conf.queries) statements.set(service, prepare(db, sql, QUERY_COLUMNS[service] ?? 1, `query_${service}`));
        next = { db, statements, ...(conf.fetchSource !== undefined ? { fetch: prepare(db, conf.fetchSource, 1, 'fetch_source') } : {}) };
      } catch (e) {
        db.close();
        throw e;
      }
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      if (!this.opened) this.openError = msg;
      throw new Error(msg);
    }
    this.opened?.db.close();
    this.opened = next;
    this.openError = undefined;
  }

  close(): void {
    this.opened?.db.close();
    this.opened = undefined;
  }

  private rows(service: string, key: string, firstOnly: boolean): { rows: Row[] } | { error: string } {
    const o = this.opened;
    if (!o) return { error: this.openError ?? 'sqlite table not open' };
    const stmt = o.statements.get(service);
    if (!stmt) return { error: `${this.path}: no query_${service}` };
    try {
      if (firstOnly) {
        const row = stmt.raw().get(key) as Row | undefined;
        return { rows: row ? [row] : [] };
      }
      return { rows: stmt.raw().all(key) as Row[] };
    } catch (e) {
      return { error: `${this.path}: query_${service}: ${(e as Error).message}` };
    }
  }
}

function prepare(db: Database.Database, sql: string, columns: number, what: string): Database.Statement {
  let stmt: Database.Statement;
  try {
    stmt = db.prepare(sql);
  } catch (e) {
    throw new Error(`${what}: ${(e as Error).message}`);
  }
  if (!stmt.reader) throw new Error(`${what}: not a query returning rows`);
  if (stmt.columns().length !== columns) throw new Error(`${what}: returns ${stmt.columns().length} columns, ${columns} expected`);
  return stmt;
}
