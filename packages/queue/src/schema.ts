// The queue database: file, pragmas and schema. WAL with synchronous=FULL set after the journal
// mode and asserted, since this better-sqlite3 build silently runs NORMAL (STACK 4): 250 must
// mean durable. Only the queue actor opens it read-write. A file that is not ours (not SQLite,
// another application's, damaged, a newer schema) is refused naming the file, never reset, and
// nothing is written to it before it is known to be ours.
import Database from 'better-sqlite3';
import { chmodSync, closeSync, mkdirSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ActorError } from '@tsmtpd/proto';

/** 1: message, envelope, chunk. 2: + `enc` flags on envelope and chunk rows, + meta (key check). */
export const SCHEMA_VERSION = 2;
export const DB_FILE = 'queue.db';
/** PRAGMA application_id of a tsmtpd spool: "tsmq". */
export const APPLICATION_ID = 0x74736d71;

const DDL_V1 = `
CREATE TABLE IF NOT EXISTS message (
  msgid   TEXT PRIMARY KEY,
  state   TEXT NOT NULL CHECK (state IN ('incoming', 'committed')),
  ctime   INTEGER NOT NULL,
  size    INTEGER NOT NULL DEFAULT 0,
  nchunks INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS envelope (
  evpid TEXT PRIMARY KEY,
  msgid TEXT NOT NULL,
  type  TEXT NOT NULL,
  json  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS envelope_msgid ON envelope (msgid);
CREATE TABLE IF NOT EXISTS chunk (
  msgid TEXT NOT NULL,
  seq   INTEGER NOT NULL,
  data  BLOB NOT NULL,
  PRIMARY KEY (msgid, seq)
);
`;

/**
 * Version 2: per-row encoding flags (codec.ts; 0 = stored as given, envelope JSON as text) and
 * a meta table for the key check value. ADD COLUMN with a default rewrites no row.
 */
const DDL_V2 = `
ALTER TABLE envelope ADD COLUMN enc INTEGER NOT NULL DEFAULT 0;
ALTER TABLE chunk ADD COLUMN enc INTEGER NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS meta (
  name  TEXT PRIMARY KEY,
  value BLOB NOT NULL
);
`;

/** The columns each of our tables must have (at the current schema). */
const COLUMNS: Record<string, string[]> = {
  message: ['msgid', 'state', 'ctime', 'size', 'nchunks'],
  envelope: ['evpid', 'msgid', 'type', 'json', 'enc'],
  chunk: ['msgid', 'seq', 'data', 'enc'],
  meta: ['name', 'value'],
};
const V1_TABLES = ['message', 'envelope', 'chunk'];

const SQLITE_MAGIC = 'SQLite format 3\0';

/** Path of the queue database in a spool directory. */
export function queueDbPath(spool: string): string {
  return join(spool, DB_FILE);
}

/** A refusal to use the file, naming it: the daemon prints it and exits 1. */
function refuse(code: string, file: string, why: string): ActorError {
  return new ActorError(code, 'internal', `${file}: ${why}`);
}

/** Does the file start as an SQLite database? An absent or empty file is a new database. */
function checkHeader(file: string): 'new' | 'sqlite' {
  let size: number;
  try {
    size = statSync(file).size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'new';
    throw e;
  }
  if (size === 0) return 'new';
  const head = Buffer.alloc(100);
  const fd = openSync(file, 'r');
  let n: number;
  try {
    n = readSync(fd, head, 0, head.byteLength, 0);
  } finally {
    closeSync(fd);
  }
  if (head.subarray(0, 16).toString('latin1') !== SQLITE_MAGIC) throw refuse('ERR_QUEUE_NOTDB', file, 'not an SQLite database (not a tsmtpd queue)');
  if (n < 100) throw refuse('ERR_QUEUE_DAMAGED', file, `damaged: truncated to ${size} bytes`);
  return 'sqlite';
}

/** SQLite's own verdict on a damaged or foreign file, as our refusal. */
function mapSqliteError(file: string, e: unknown): unknown {
  const code = (e as { code?: unknown }).code;
  if (code === 'SQLITE_NOTADB') return refuse('ERR_QUEUE_NOTDB', file, `not a usable SQLite database (${(e as Error).message})`);
  if (typeof code === 'string' && code.startsWith('SQLITE_CORRUPT')) return refuse('ERR_QUEUE_DAMAGED', file, `damaged: ${(e as Error).message}`);
  return e;
}

/**
 * Is this database ours, and at which schema version (0: new and empty)? Reads only. A spool
 * of version 1 carries no application_id: one with exactly our tables is adopted.
 */
function identify(db: Database.Database, file: string): number {
  const appId = db.pragma('application_id', { simple: true }) as number;
  const version = db.pragma('user_version', { simple: true }) as number;
  const tables = (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`).pluck().all() as string[]);
  if (appId !== APPLICATION_ID && appId !== 0) {
    throw refuse('ERR_QUEUE_FOREIGN', file, `not a tsmtpd queue (SQLite application_id 0x${(appId >>> 0).toString(16)})`);
  }
  if (appId === 0) {
    if (tables.length === 0 && version === 0) return 0;
    const ours = V1_TABLES.every((t) => tables.includes(t)) && tables.every((t) => t in COLUMNS);
    if (!ours || version > 1) throw refuse('ERR_QUEUE_FOREIGN', file, `not a tsmtpd queue (an SQLite database with tables: ${tables.join(', ') || 'none'})`);
    return 1;
  }
  if (version > SCHEMA_VERSION) throw refuse('ERR_QUEUE_SCHEMA', file, `schema version ${version} is newer than this tsmtpd's (${SCHEMA_VERSION}): written by a newer version`);
  if (version < 1) throw refuse('ERR_QUEUE_DAMAGED', file, `damaged: a tsmtpd queue without a schema version`);
  return version;
}

/** Every table and column of the current schema is there (after the migration). */
function checkStructure(db: Database.Database, file: string): void {
  for (const [table, want] of Object.entries(COLUMNS)) {
    const have = (db.prepare(`SELECT name FROM pragma_table_info(?)`).pluck().all(table) as string[]);
    if (have.length === 0) throw refuse('ERR_QUEUE_DAMAGED', file, `damaged: table ${table} is missing`);
    const lacking = want.filter((c) => !have.includes(c));
    if (lacking.length > 0) throw refuse('ERR_QUEUE_DAMAGED', file, `damaged: table ${table} lacks column ${lacking.join(', ')}`);
  }
}

/**
 * PRAGMA quick_check: every page and row format, without matching indexes to tables. Measured on
 * a spool of 100k messages of one envelope and one 4 KiB chunk (514 MB, page cache warm): 0.22 s
 * (integrity_check, which also matches every index entry to its row: 0.47 s). Cheap enough for
 * every start; integrity_check would double it for index damage SQLite reports on use anyway.
 */
function quickCheck(db: Database.Database, file: string): void {
  const rows = db.pragma('quick_check(20)', { simple: false }) as { quick_check: string }[];
  // A row may hold several lines ("*** in database main ***" first): one problem a line.
  const problems = rows.flatMap((r) => r.quick_check.split('\n')).map((m) => m.trim()).filter((m) => m !== 'ok' && m !== '' && !m.startsWith('***'));
  if (rows.length !== 1 || rows[0]?.quick_check !== 'ok') {
    throw refuse('ERR_QUEUE_DAMAGED', file, `damaged (quick_check: ${problems.slice(0, 3).join('; ')}${problems.length > 3 ? `; ${problems.length - 3} more` : ''})`);
  }
}

function setDurable(db: Database.Database): void {
  const mode = db.pragma('journal_mode = WAL', { simple: true });
  if (String(mode).toLowerCase() !== 'wal') throw new ActorError('ERR_QUEUE_WAL', 'internal', `journal_mode is ${String(mode)}, not wal`);
  db.pragma('synchronous = FULL');
  const sync = db.pragma('synchronous', { simple: true });
  if (sync !== 2) throw new ActorError('ERR_QUEUE_SYNC', 'internal', `pragma synchronous is ${String(sync)}, not 2 (FULL)`);
  db.pragma('journal_size_limit = 67108864');
  // Statement journals (and sorts) in memory: on disk SQLite made, and unlinked at once, a file
  // in /var/tmp about every hundred messages, each an inode allocation on the spool's disk.
  db.pragma('temp_store = MEMORY');
}

/** Bring a new or version-1 database to the current schema, marked as ours, in one transaction. */
function migrate(db: Database.Database, from: number): void {
  db.transaction(() => {
    if (from < 1) db.exec(DDL_V1);
    if (from < 2) db.exec(DDL_V2);
    db.pragma(`application_id = ${APPLICATION_ID}`);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}

/**
 * Open (creating if needed) the queue database under `spool`. Throws, naming the file:
 * ERR_QUEUE_NOTDB (not SQLite), ERR_QUEUE_FOREIGN (another application's database),
 * ERR_QUEUE_DAMAGED (truncated, corrupt, tables or columns missing), ERR_QUEUE_SCHEMA (a newer
 * schema); ERR_QUEUE_WAL / ERR_QUEUE_SYNC when it cannot be made durable.
 */
export function openQueueDb(spool: string): Database.Database {
  mkdirSync(spool, { recursive: true, mode: 0o700 });
  const file = queueDbPath(spool);
  const kind = checkHeader(file);
  let db: Database.Database;
  try {
    db = new Database(file, { timeout: 1000 });
  } catch (e) {
    throw mapSqliteError(file, e);
  }
  try {
    const version = identify(db, file);
    if (kind === 'sqlite') quickCheck(db, file);
    chmodSync(file, 0o600);
    setDurable(db);
    if (version < SCHEMA_VERSION) migrate(db, version);
    checkStructure(db, file);
    return db;
  } catch (e) {
    db.close();
    throw mapSqliteError(file, e);
  }
}

/** Name of the meta row holding the key check value (codec.ts: the known text, sealed). */
const KEY_CHECK = 'keycheck';

/** What the spool key check needs of the codec (codec.ts QueueCodec). */
export interface KeyChecker {
  readonly encrypts: boolean;
  keyCheck(): Uint8Array | null;
  keyMatches(check: Uint8Array): boolean;
}

/**
 * Before anything is read: does the configured key (or its absence) fit the spool? Refused only
 * while encrypted envelopes are stored (ERR_QUEUE_KEY); a spool with none takes the new setting
 * and its check value. Messages without envelopes are purged right after, so their chunks do not
 * count. `encFlag` is the row flag of encrypted rows (codec.ts ENC_AES).
 */
export function checkSpoolKey(db: Database.Database, file: string, codec: KeyChecker, encFlag: number): void {
  const stored = db.prepare('SELECT value FROM meta WHERE name = ?').pluck().get(KEY_CHECK) as Uint8Array | undefined;
  if (codec.encrypts && stored !== undefined && codec.keyMatches(stored)) return;
  if (!codec.encrypts && stored === undefined) return;
  const encrypted = db.prepare('SELECT 1 FROM envelope WHERE enc & ? LIMIT 1').pluck().get(encFlag) !== undefined;
  if (encrypted && stored !== undefined) {
    throw refuse('ERR_QUEUE_KEY', file, codec.encrypts ? 'encrypted with a different key' : 'encrypted, but no queue encryption in the configuration');
  }
  db.transaction(() => {
    const check = codec.keyCheck();
    if (check) db.prepare('INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)').run(KEY_CHECK, check);
    else db.prepare('DELETE FROM meta WHERE name = ?').run(KEY_CHECK);
  }).immediate();
}
