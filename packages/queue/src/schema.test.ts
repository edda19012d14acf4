// openQueueDb refuses what is not a tsmtpd spool, naming the file and the problem, and never
// writes to it: not SQLite, another application's database, damaged, a newer schema. A version-1
// spool (no application_id, no enc columns) is adopted with its rows intact.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, openSync, readFileSync, closeSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import Database from 'better-sqlite3';
import { newMsgid } from '@tsmtpd/proto';
import { APPLICATION_ID, SCHEMA_VERSION, openQueueDb, queueDbPath } from './schema.js';
import { SqliteQueueBackend } from './sqlite-backend.js';
import { bytes, concat, makeEnvelope, tempSpool } from './test-helpers.js';

/** Run `fn` with a fresh spool directory (created) and its database path. */
function withSpool(fn: (spool: string, file: string) => void): void {
  const t = tempSpool();
  try {
    mkdirSync(t.spool, { recursive: true });
    fn(t.spool, queueDbPath(t.spool));
  } finally {
    t.cleanup();
  }
}

/** A spool with `n` committed messages of one 3000-byte chunk, closed and checkpointed. */
function filledSpool(spool: string, n: number): void {
  const b = new SqliteQueueBackend(spool);
  b.batch(() => {
    for (let i = 0; i < n; i++) {
      const m = newMsgid();
      b.chunkAppend(m, 0, 1, bytes(3000, i + 1));
      b.messageCommit(m, 1, 3000, 1, [makeEnvelope(m)]);
    }
  });
  b.close();
}

/** openQueueDb must throw `code` with a message naming the file; the file is left unchanged. */
function assertRefused(spool: string, file: string, code: string, why: RegExp): void {
  const before = readFileSync(file);
  assert.throws(() => openQueueDb(spool), (e: Error & { code?: string }) => {
    assert.equal(e.code, code, e.message);
    assert.ok(e.message.startsWith(`${file}: `), e.message);
    assert.match(e.message, why);
    return true;
  });
  assert.deepEqual(readFileSync(file), before, 'the refused file was not modified');
}

test('a new spool is marked as ours: application_id and schema version', () => {
  withSpool((spool) => {
    const db = openQueueDb(spool);
    assert.equal(db.pragma('application_id', { simple: true }), APPLICATION_ID);
    assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    db.close();
    openQueueDb(spool).close(); // and it opens again
  });
});

test('an empty queue.db (a crash at creation) is taken as new', () => {
  withSpool((spool, file) => {
    writeFileSync(file, '');
    openQueueDb(spool).close();
    assert.ok(statSync(file).size > 0);
  });
});

test('a file that is not SQLite is refused, not reset', () => {
  withSpool((spool, file) => {
    writeFileSync(file, 'From alice Mon Jan  1 00:00:00 2024\nSubject: an mbox, not a queue\n\n'.repeat(20));
    assertRefused(spool, file, 'ERR_QUEUE_NOTDB', /not an SQLite database/);
  });
});

test("another application's SQLite database is refused: by application_id, or by its tables", () => {
  withSpool((spool, file) => {
    const other = new Database(file);
    other.exec('CREATE TABLE message (id INTEGER)');
    other.pragma('application_id = 1598903374'); // an arbitrary other application
    other.close();
    assertRefused(spool, file, 'ERR_QUEUE_FOREIGN', /not a tsmtpd queue \(SQLite application_id 0x5f4d544e\)/);
  });
  withSpool((spool, file) => {
    const other = new Database(file);
    other.exec('CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT); CREATE TABLE moz_bookmarks (id INTEGER)');
    other.close();
    assertRefused(spool, file, 'ERR_QUEUE_FOREIGN', /not a tsmtpd queue \(an SQLite database with tables: moz_bookmarks, moz_places\)/);
  });
  withSpool((spool, file) => {
    const other = new Database(file);
    other.exec('CREATE TABLE message (msgid TEXT); CREATE TABLE envelope (evpid TEXT)'); // no chunk table
    other.close();
    assertRefused(spool, file, 'ERR_QUEUE_FOREIGN', /tables: envelope, message/);
  });
});

test('a spool of a newer schema is refused', () => {
  withSpool((spool, file) => {
    openQueueDb(spool).close();
    const db = new Database(file);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    assertRefused(spool, file, 'ERR_QUEUE_SCHEMA', new RegExp(`schema version ${SCHEMA_VERSION + 1} is newer than this tsmtpd's \\(${SCHEMA_VERSION}\\)`));
  });
});

test('a spool of ours with a table or column missing is refused as damaged', () => {
  withSpool((spool, file) => {
    openQueueDb(spool).close();
    const db = new Database(file);
    db.exec('DROP TABLE meta');
    db.close();
    assertRefused(spool, file, 'ERR_QUEUE_DAMAGED', /table meta is missing/);
  });
});

test('a truncated database is refused as damaged (cut at a page, or inside the header)', () => {
  withSpool((spool, file) => {
    filledSpool(spool, 200);
    truncateSync(file, Math.floor(statSync(file).size / 2));
    assertRefused(spool, file, 'ERR_QUEUE_DAMAGED', /damaged/);
  });
  withSpool((spool, file) => {
    filledSpool(spool, 3);
    truncateSync(file, 50);
    assertRefused(spool, file, 'ERR_QUEUE_DAMAGED', /damaged: truncated to 50 bytes/);
  });
});

test('a damaged b-tree page is found by quick_check at open', () => {
  withSpool((spool, file) => {
    filledSpool(spool, 200);
    // Page 3 is an interior or leaf page of one of our tables: garbage in its cell pointers.
    const fd = openSync(file, 'r+');
    writeSync(fd, bytes(40, 11), 0, 40, 4096 * 2 + 30);
    closeSync(fd);
    assertRefused(spool, file, 'ERR_QUEUE_DAMAGED', /damaged/);
  });
});

test('a version-1 spool (no application_id, no enc columns) is adopted and its rows read back', () => {
  withSpool((spool, file) => {
    const v1 = new Database(file);
    v1.exec(`CREATE TABLE message (msgid TEXT PRIMARY KEY, state TEXT NOT NULL CHECK (state IN ('incoming', 'committed')), ctime INTEGER NOT NULL, size INTEGER NOT NULL DEFAULT 0, nchunks INTEGER NOT NULL DEFAULT 0);
      CREATE TABLE envelope (evpid TEXT PRIMARY KEY, msgid TEXT NOT NULL, type TEXT NOT NULL, json TEXT NOT NULL);
      CREATE INDEX envelope_msgid ON envelope (msgid);
      CREATE TABLE chunk (msgid TEXT NOT NULL, seq INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (msgid, seq));`);
    v1.pragma('journal_mode = WAL');
    v1.pragma('user_version = 1');
    const msgid = newMsgid();
    const env = makeEnvelope(msgid);
    const body = [bytes(500, 1), bytes(700, 2)];
    v1.prepare(`INSERT INTO message VALUES (?, 'committed', 1, 1200, 2)`).run(msgid);
    v1.prepare('INSERT INTO envelope VALUES (?, ?, ?, ?)').run(env.id, msgid, env.type, JSON.stringify(env));
    body.forEach((c, i) => v1.prepare('INSERT INTO chunk VALUES (?, ?, ?)').run(msgid, i, c));
    v1.close();
    // Adopted under every setting: its plain rows stay readable, new rows use the setting.
    const b = new SqliteQueueBackend(spool, { compression: true, encryption: { key: 'k'.repeat(32) } });
    try {
      assert.equal(b.db.pragma('application_id', { simple: true }), APPLICATION_ID);
      assert.equal(b.db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
      assert.deepEqual(b.envelopeLoad(env.id), env);
      assert.deepEqual(concat(b.bodyRead(msgid, 0, 1 << 20)?.chunks ?? []), concat(body));
    } finally {
      b.close();
    }
  });
});
