// What only the SQLite backend promises: durable settings, file modes, survival across reopen.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { newMsgid } from '@tsmtpd/proto';
import { SqliteQueueBackend } from './sqlite-backend.js';
import { queueDbPath } from './schema.js';
import { GroupCommit } from './group-commit.js';
import { bytes, makeEnvelope, tempSpool } from './test-helpers.js';

test('WAL with synchronous=FULL; spool 0700 and database 0600', () => {
  const t = tempSpool();
  const b = new SqliteQueueBackend(t.spool);
  try {
    assert.equal(b.db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(b.db.pragma('synchronous', { simple: true }), 2);
    assert.equal(statSync(t.spool).mode & 0o777, 0o700);
    assert.equal(statSync(queueDbPath(t.spool)).mode & 0o777, 0o600);
  } finally {
    b.close();
    t.cleanup();
  }
});

test('a database from a newer schema is refused', () => {
  const t = tempSpool();
  try {
    const b = new SqliteQueueBackend(t.spool);
    b.db.pragma('user_version = 99');
    b.close();
    assert.throws(() => new SqliteQueueBackend(t.spool), { code: 'ERR_QUEUE_SCHEMA' });
  } finally {
    t.cleanup();
  }
});

test('a commit survives closing and reopening; an open message does not', () => {
  const t = tempSpool();
  try {
    const b1 = new SqliteQueueBackend(t.spool);
    const done = newMsgid();
    const env = makeEnvelope(done);
    b1.batch(() => {
      b1.chunkAppend(done, 0, 1, bytes(100));
      b1.messageCommit(done, 1, 100, 1, [env]);
    });
    const open = newMsgid();
    b1.batch(() => b1.chunkAppend(open, 0, 1, bytes(100)));
    b1.close();
    const b2 = new SqliteQueueBackend(t.spool);
    assert.equal(b2.purgeIncoming(), 1);
    assert.deepEqual(b2.envelopeLoad(env.id), env);
    assert.equal(b2.messageExists(open), false);
    assert.equal(b2.db.prepare('SELECT count(*) FROM chunk').pluck().get(), 1);
    b2.close();
  } finally {
    t.cleanup();
  }
});

test('group commit over SQLite: many writes, one transaction, one failing write alone', async () => {
  const t = tempSpool();
  const b = new SqliteQueueBackend(t.spool);
  try {
    const gc = new GroupCommit(b);
    const ids = Array.from({ length: 30 }, () => newMsgid());
    const writes = ids.map((id) => gc.submit(() => b.chunkAppend(id, 0, 1, bytes(64))));
    // A duplicate chunk violates the primary key: only this write fails, inside its savepoint.
    const dup = gc.submit(() => b.chunkAppend(ids[0] as string, 0, 1, bytes(64)));
    await Promise.all(writes);
    await assert.rejects(dup, /UNIQUE/);
    assert.equal(gc.stats.txns, 1);
    assert.equal(b.db.prepare('SELECT count(*) FROM chunk').pluck().get(), 30);
  } finally {
    b.close();
    t.cleanup();
  }
});

test('a lazy batch commits without FULL and leaves the database FULL', async () => {
  const t = tempSpool();
  const b = new SqliteQueueBackend(t.spool);
  try {
    let inside = -1;
    b.batch(() => {
      inside = b.db.pragma('synchronous', { simple: true }) as number;
    }, false);
    assert.equal(inside, 1, 'NORMAL inside a lazy batch');
    assert.equal(b.db.pragma('synchronous', { simple: true }), 2, 'FULL again after it');
    b.batch(() => {
      inside = b.db.pragma('synchronous', { simple: true }) as number;
    });
    assert.equal(inside, 2, 'FULL inside a durable batch');
  } finally {
    b.close();
    t.cleanup();
  }
});
