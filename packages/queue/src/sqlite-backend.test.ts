// What only the SQLite backend promises: durable settings, file modes, survival across reopen,
// and the at-rest codec: nothing in clear, the key checked at open, rows read by their own flags.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
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

const KEY_A = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
const KEY_B = '0f9e8d7c6b5a49382716f5e4d3c2b1a0';

/** One committed message (two chunks of text, one envelope) under `b`'s setting. */
function storeText(b: SqliteQueueBackend, text: string) {
  const msgid = newMsgid();
  const env = makeEnvelope(msgid, { rcpt: 'secret.rcpt@example.org', dest: 'secret.rcpt@example.org' });
  const chunks = [Buffer.from(text.repeat(40)), Buffer.from(text.repeat(3))];
  b.batch(() => {
    chunks.forEach((c, i) => b.chunkAppend(msgid, i, 1, c));
    b.messageCommit(msgid, 1, chunks.reduce((n, c) => n + c.byteLength, 0), chunks.length, [env]);
  });
  return { msgid, env, body: Buffer.concat(chunks) };
}

function rawFiles(spool: string): Buffer {
  const f = queueDbPath(spool);
  return Buffer.concat([readFileSync(f), existsSync(`${f}-wal`) ? readFileSync(`${f}-wal`) : Buffer.alloc(0)]);
}

test('compression + encryption: rows read back plain, the file holds neither body nor address', () => {
  const t = tempSpool();
  try {
    const b = new SqliteQueueBackend(t.spool, { compression: true, encryption: { key: KEY_A } });
    const m = storeText(b, 'The quick brown fox said a secret word. ');
    assert.deepEqual(b.envelopeLoad(m.env.id), m.env);
    assert.deepEqual(Buffer.concat(b.bodyRead(m.msgid, 0, 1 << 20)?.chunks ?? []), m.body);
    assert.deepEqual(b.envelopesScan('', 10).envelopes, [m.env]);
    // Every row sealed; the 1.6 KB chunk compressed too, the short chunk and the envelope not.
    const enc = b.db.prepare(`SELECT enc FROM chunk WHERE msgid = ? ORDER BY seq`).pluck().all(m.msgid);
    assert.deepEqual(enc, [3, 2]);
    assert.equal(b.db.prepare('SELECT enc FROM envelope').pluck().get(), 2);
    b.close();
    const raw = rawFiles(t.spool);
    assert.equal(raw.includes('secret word'), false, 'body text in clear');
    assert.equal(raw.includes('secret.rcpt@example.org'), false, 'recipient in clear');
  } finally {
    t.cleanup();
  }
});

test('a wrong key or a removed key is refused at open while encrypted envelopes are stored', () => {
  const t = tempSpool();
  try {
    const b = new SqliteQueueBackend(t.spool, { encryption: { key: KEY_A } });
    const m = storeText(b, 'held mail ');
    b.close();
    assert.throws(() => new SqliteQueueBackend(t.spool, { encryption: { key: KEY_B } }), {
      code: 'ERR_QUEUE_KEY',
      message: `${queueDbPath(t.spool)}: encrypted with a different key`,
    });
    assert.throws(() => new SqliteQueueBackend(t.spool, { compression: true }), {
      code: 'ERR_QUEUE_KEY',
      message: `${queueDbPath(t.spool)}: encrypted, but no queue encryption in the configuration`,
    });
    const again = new SqliteQueueBackend(t.spool, { encryption: { key: KEY_A } });
    assert.deepEqual(again.envelopeLoad(m.env.id), m.env, 'the right key still reads it');
    again.close();
  } finally {
    t.cleanup();
  }
});

test('an emptied encrypted spool takes a new key, or none', () => {
  const t = tempSpool();
  try {
    const b1 = new SqliteQueueBackend(t.spool, { encryption: { key: KEY_A } });
    const m = storeText(b1, 'soon gone ');
    b1.batch(() => b1.envelopeDelete(m.env.id));
    b1.close();
    const b2 = new SqliteQueueBackend(t.spool, { encryption: { key: KEY_B } });
    storeText(b2, 'under key B ');
    b2.close();
    assert.throws(() => new SqliteQueueBackend(t.spool, { encryption: { key: KEY_A } }), { code: 'ERR_QUEUE_KEY' });
    const b3 = new SqliteQueueBackend(t.spool, { encryption: { key: KEY_B } });
    b3.batch(() => b3.db.prepare('DELETE FROM envelope').run());
    b3.close();
    const b4 = new SqliteQueueBackend(t.spool);
    assert.equal(b4.db.prepare('SELECT count(*) FROM meta').pluck().get(), 0, 'key check gone with encryption');
    b4.close();
  } finally {
    t.cleanup();
  }
});

test('compression switched on and off: every row is read by its own flags', () => {
  const t = tempSpool();
  try {
    const plain = new SqliteQueueBackend(t.spool);
    const m1 = storeText(plain, 'written plain ');
    plain.close();
    const zipped = new SqliteQueueBackend(t.spool, { compression: true });
    const m2 = storeText(zipped, 'written compressed ');
    zipped.close();
    const b = new SqliteQueueBackend(t.spool);
    try {
      for (const m of [m1, m2]) {
        assert.deepEqual(b.envelopeLoad(m.env.id), m.env);
        assert.deepEqual(Buffer.concat(b.bodyRead(m.msgid, 0, 1 << 20)?.chunks ?? []), m.body);
      }
      assert.equal(typeof b.db.prepare('SELECT json FROM envelope WHERE evpid = ?').pluck().get(m1.env.id), 'string', 'plain JSON text');
    } finally {
      b.close();
    }
  } finally {
    t.cleanup();
  }
});

test('chunkCopy of encrypted chunks: the copy decodes to the original body', () => {
  const t = tempSpool();
  const b = new SqliteQueueBackend(t.spool, { compression: true, encryption: { key: KEY_A } });
  try {
    const orig = storeText(b, 'the original message ');
    const bounce = newMsgid();
    const head = Buffer.from('Subject: report\r\n\r\n');
    b.batch(() => {
      b.chunkAppend(bounce, 0, 1, head);
      const copied = b.chunkCopy(orig.msgid, bounce, 1);
      assert.deepEqual(copied, { count: 2, bytes: orig.body.byteLength });
      b.messageCommit(bounce, 1, head.byteLength + orig.body.byteLength, 3, [makeEnvelope(bounce)]);
    });
    assert.deepEqual(Buffer.concat(b.bodyRead(bounce, 0, 1 << 20)?.chunks ?? []), Buffer.concat([head, orig.body]));
  } finally {
    b.close();
    t.cleanup();
  }
});

test('a damaged encrypted chunk is an error, never garbage', () => {
  const t = tempSpool();
  let b = new SqliteQueueBackend(t.spool, { encryption: { key: KEY_A } });
  try {
    const m = storeText(b, 'intact? ');
    // A fresh backend (a restart): the one that committed serves the body from memory (recent.ts).
    b.close();
    b = new SqliteQueueBackend(t.spool, { encryption: { key: KEY_A } });
    const data = Buffer.from(b.db.prepare('SELECT data FROM chunk WHERE msgid = ? AND seq = 1').pluck().get(m.msgid) as Uint8Array);
    data[15] = (data[15] ?? 0) ^ 0x20;
    b.db.prepare('UPDATE chunk SET data = ? WHERE msgid = ? AND seq = 1').run(data, m.msgid);
    assert.throws(() => b.bodyRead(m.msgid, 0, 1 << 20), { code: 'ERR_QUEUE_CORRUPT', message: /chunk 1: cannot be decrypted/ });
  } finally {
    b.close();
    t.cleanup();
  }
});
