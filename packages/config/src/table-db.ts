// `db:` tables in tsmtpd's own on-disk format, written by our makemap and read by the lka: an
// SQLite file (application_id 'tsdb', a meta row naming the format and its kind) with one row per
// key. Berkeley DB files made by OpenSMTPD's makemap are recognised and refused with a message
// saying to rebuild them. Keys are stored lowercased; values as given (data, never a line format).
import Database from 'better-sqlite3';
import { closeSync, openSync, readSync, renameSync, rmSync } from 'node:fs';
import type { TableContent } from './tables.js';

/** SQLite application_id of a tsmtpd db table ('tsdb'). */
export const TABLE_DB_APPLICATION_ID = 0x74736462;
const FORMAT = 'tsmtpd-table-db';
const VERSION = '1';
/** Magic number of a Berkeley DB hash file (OpenSMTPD's makemap output). */
const DB_HASH_MAGIC = 0x061561;

export type TableDbKind = 'map' | 'set';

/** What a file is, by its first bytes and its metadata. */
export type TableDbCheck =
  | { ok: true; kind: TableDbKind; entries: number }
  | { ok: false; reason: string };

function head(path: string, n: number): Buffer | null {
  let fd: number;
  try { fd = openSync(path, 'r'); } catch { return null; }
  try {
    const b = Buffer.alloc(n);
    const got = readSync(fd, b, 0, n, 0);
    return b.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

/** True when `path` starts like a Berkeley DB hash file. */
export function isBerkeleyDbFile(path: string): boolean {
  const h = head(path, 16);
  return !!h && h.length >= 16 && (h.readUInt32LE(12) === DB_HASH_MAGIC || h.readUInt32BE(12) === DB_HASH_MAGIC);
}

/** An open, verified db table (read-only). */
export class TableDb {
  private readonly db: Database.Database;
  private readonly getStmt: Database.Statement<[string], { value: string }>;
  readonly kind: TableDbKind;

  /** Throws with a readable message when the file is not a tsmtpd db table. */
  constructor(readonly path: string) {
    const c = checkTableDb(path);
    if (!c.ok) throw new Error(c.reason);
    this.kind = c.kind;
    this.db = new Database(path, { readonly: true, fileMustExist: true });
    this.getStmt = this.db.prepare('SELECT value FROM entries WHERE key = ?');
  }

  /** The value of one (lowercased) key, or undefined. */
  get(key: string): string | undefined {
    return this.getStmt.get(key)?.value;
  }

  /** Every entry, in key order: the content for the matching services. */
  content(): TableContent {
    const rows = this.db.prepare('SELECT key, value FROM entries ORDER BY key').all() as { key: string; value: string }[];
    if (this.kind === 'set') return { kind: 'list', values: rows.map((r) => r.key) };
    const entries = Object.create(null) as Record<string, string>;
    for (const r of rows) entries[r.key] = r.value;
    return { kind: 'map', entries: { ...entries } };
  }

  close(): void {
    this.db.close();
  }
}

/** Is `path` a readable tsmtpd db table? The reason when not (for `file:line` messages). */
export function checkTableDb(path: string): TableDbCheck {
  const h = head(path, 16);
  if (!h) return { ok: false, reason: `${path}: cannot be read` };
  if (isBerkeleyDbFile(path)) return { ok: false, reason: `${path} is a Berkeley DB file (OpenSMTPD's makemap): rebuild it with tsmtpd's makemap` };
  if (h.toString('latin1', 0, 15) !== 'SQLite format 3') return { ok: false, reason: `${path} is not a db table made by makemap` };
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
    if (db.pragma('application_id', { simple: true }) !== TABLE_DB_APPLICATION_ID) return { ok: false, reason: `${path} is an SQLite database but not a db table made by makemap` };
    const meta = Object.fromEntries((db.prepare('SELECT key, value FROM meta').all() as { key: string; value: string }[]).map((r) => [r.key, r.value]));
    if (meta['format'] !== FORMAT || meta['version'] !== VERSION) return { ok: false, reason: `${path}: unknown db table format ${meta['format'] ?? '?'} ${meta['version'] ?? '?'}` };
    const kind = meta['kind'];
    if (kind !== 'map' && kind !== 'set') return { ok: false, reason: `${path}: unknown db table kind ${kind ?? '?'}` };
    const n = (db.prepare('SELECT count(*) AS n FROM entries').get() as { n: number }).n;
    return { ok: true, kind, entries: n };
  } catch (e) {
    return { ok: false, reason: `${path}: ${(e as Error).message}` };
  } finally {
    db?.close();
  }
}

/**
 * Writes a db table atomically: a temporary file beside `path`, fsynced by SQLite, renamed over
 * it, so a running lka never sees half a table. Keys are lowercased; a later duplicate wins.
 */
export function writeTableDb(path: string, kind: TableDbKind, entries: Iterable<[string, string]>): number {
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  rmSync(tmp, { force: true });
  const db = new Database(tmp);
  let n = 0;
  try {
    db.pragma('journal_mode = DELETE');
    db.pragma('synchronous = FULL');
    db.pragma(`application_id = ${TABLE_DB_APPLICATION_ID}`);
    db.exec('CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL); CREATE TABLE entries (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;');
    const put = db.prepare('INSERT OR REPLACE INTO entries (key, value) VALUES (?, ?)');
    db.transaction(() => {
      const meta = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
      meta.run('format', FORMAT);
      meta.run('version', VERSION);
      meta.run('kind', kind);
      for (const [k, v] of entries) {
        put.run(k.toLowerCase(), v);
        n++;
      }
    })();
    db.close();
    renameSync(tmp, path);
    return n;
  } catch (e) {
    if (db.open) db.close();
    rmSync(tmp, { force: true });
    throw e;
  }
}
