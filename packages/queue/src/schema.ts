// The queue database: file, pragmas and schema. WAL with synchronous=FULL set after the journal
// mode and asserted, since this better-sqlite3 build silently runs NORMAL (STACK 4): 250 must
// mean durable. Only the queue actor opens it read-write.
import Database from 'better-sqlite3';
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ActorError } from '@tsmtpd/proto';

export const SCHEMA_VERSION = 1;
export const DB_FILE = 'queue.db';

const DDL = `
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

/** Path of the queue database in a spool directory. */
export function queueDbPath(spool: string): string {
  return join(spool, DB_FILE);
}

/**
 * Open (creating if needed) the queue database under `spool`. Throws ERR_QUEUE_SYNC if
 * synchronous=FULL does not hold, ERR_QUEUE_SCHEMA for a database from a newer version.
 */
export function openQueueDb(spool: string): Database.Database {
  mkdirSync(spool, { recursive: true, mode: 0o700 });
  const file = queueDbPath(spool);
  const db = new Database(file, { timeout: 1000 });
  try {
    chmodSync(file, 0o600);
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (String(mode).toLowerCase() !== 'wal') throw new ActorError('ERR_QUEUE_WAL', 'internal', `journal_mode is ${String(mode)}, not wal`);
    db.pragma('synchronous = FULL');
    const sync = db.pragma('synchronous', { simple: true });
    if (sync !== 2) throw new ActorError('ERR_QUEUE_SYNC', 'internal', `pragma synchronous is ${String(sync)}, not 2 (FULL)`);
    db.pragma('journal_size_limit = 67108864');
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) throw new ActorError('ERR_QUEUE_SCHEMA', 'internal', `queue.db schema ${version} is newer than ${SCHEMA_VERSION}`);
    db.exec(DDL);
    if (version < SCHEMA_VERSION) db.pragma(`user_version = ${SCHEMA_VERSION}`);
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}
