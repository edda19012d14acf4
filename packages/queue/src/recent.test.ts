// The backend's memory of what it just committed (recent.ts) against the SQLite rows: served only
// after the transaction commits, never after a rollback, an update or a delete; paged like the disk.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newMsgid } from '@tsmtpd/proto';
import { SqliteQueueBackend } from './sqlite-backend.js';
import { bytes, makeEnvelope, tempSpool } from './test-helpers.js';

function withBackend(fn: (b: SqliteQueueBackend) => void): void {
  const t = tempSpool();
  const b = new SqliteQueueBackend(t.spool);
  try {
    fn(b);
  } finally {
    b.close();
    t.cleanup();
  }
}

test('a message committed in a transaction that rolls back is never served', () =>
  withBackend((b) => {
    const msgid = newMsgid();
    const env = makeEnvelope(msgid);
    assert.throws(() => b.batch(() => {
      b.atomic(() => {
        b.chunkAppend(msgid, 0, 1, bytes(100));
        b.messageCommit(msgid, 1, 100, 1, [env]);
      });
      throw new Error('boom');
    }), /boom/);
    assert.equal(b.envelopeLoad(env.id), null);
    assert.equal(b.bodyRead(msgid, 0, 1 << 20), null);
  }));

test('a savepoint that rolls back inside a committed batch leaves nothing served', () =>
  withBackend((b) => {
    const msgid = newMsgid();
    const env = makeEnvelope(msgid);
    b.batch(() => {
      try {
        b.atomic(() => {
          b.chunkAppend(msgid, 0, 1, bytes(100));
          b.messageCommit(msgid, 1, 100, 1, [env]);
          throw new Error('op failed');
        });
      } catch { /* the batch goes on */ }
    });
    assert.equal(b.envelopeLoad(env.id), null);
    assert.equal(b.bodyRead(msgid, 0, 1 << 20), null);
  }));

test('after the commit: envelopes and body equal the rows, copies each time, paged by size', () =>
  withBackend((b) => {
    const msgid = newMsgid();
    const envs = [makeEnvelope(msgid), makeEnvelope(msgid)];
    const chunks = [bytes(300, 1), bytes(300, 2), bytes(300, 3)];
    b.batch(() => chunks.forEach((c, i) => b.chunkAppend(msgid, i, 1, c)), false);
    b.batch(() => b.messageCommit(msgid, 1, 900, 3, envs));
    for (const e of envs) assert.deepEqual(b.envelopeLoad(e.id), e);
    const p1 = b.bodyRead(msgid, 0, 500);
    assert.deepEqual(p1, { chunks: chunks.slice(0, 2), next: 2 });
    p1!.chunks[0]![0] = 0xff; // a reader's copy: the next read is unchanged
    assert.deepEqual(b.bodyRead(msgid, 2, 500), { chunks: chunks.slice(2), next: null });
    assert.deepEqual(b.bodyRead(msgid, 0, 1 << 20)?.chunks, chunks);
  }));

test('an update or a delete is what the next load sees', () =>
  withBackend((b) => {
    const msgid = newMsgid();
    const [e1, e2] = [makeEnvelope(msgid), makeEnvelope(msgid)];
    b.batch(() => {
      b.chunkAppend(msgid, 0, 1, bytes(10));
      b.messageCommit(msgid, 1, 10, 1, [e1, e2]);
    });
    b.batch(() => b.envelopeUpdate({ ...e1, retry: 5 }));
    assert.equal(b.envelopeLoad(e1.id)?.retry, 5);
    b.batch(() => b.envelopeDelete(e2.id));
    assert.equal(b.envelopeLoad(e2.id), null);
    b.batch(() => b.envelopeDelete(e1.id));
    assert.equal(b.bodyRead(msgid, 0, 100), null);
  }));

test('a body of one 100 KiB chunk is kept; incoming bodies are bounded in bytes, not only in count', async () => {
  const { RecentCommits, RECENT_BODY_MAX } = await import('./recent.js');
  const r = new RecentCommits();
  const env = (msgid: string) => makeEnvelope(msgid);
  r.chunk('aaaaaaaa', 0, new Uint8Array(100 * 1024));
  r.commit('aaaaaaaa', 1, [env('aaaaaaaa')], false);
  assert.equal(r.body('aaaaaaaa')?.[0]?.byteLength, 100 * 1024);
  // 40 open messages with a full first chunk each: 10 MiB asked for, 8 MiB held at most, so
  // the last ones to arrive are not kept (before the bound they all were, until their commit).
  const open = Array.from({ length: 40 }, (_, i) => `b${String(i).padStart(7, '0')}`);
  for (const m of open) r.chunk(m, 0, new Uint8Array(RECENT_BODY_MAX));
  for (const m of [...open.slice(0, 4), ...open.slice(-4)]) r.commit(m, 1, [env(m)], false);
  assert.deepEqual(open.slice(0, 4).map((m) => r.body(m) !== undefined), [true, true, true, true]);
  assert.deepEqual(open.slice(-4).map((m) => r.body(m) !== undefined), [false, false, false, false]);
});

test('bodyKept: copies while an envelope is still to be handed out, then the chunks themselves; disk after', () =>
  withBackend((b) => {
    const msgid = newMsgid();
    const envs = [makeEnvelope(msgid), makeEnvelope(msgid)];
    const chunk = bytes(1000, 7);
    b.batch(() => b.chunkAppend(msgid, 0, 1, chunk), false);
    b.batch(() => b.messageCommit(msgid, 1, 1000, 1, envs));
    assert.deepEqual(b.envelopeLoad(envs[0]!.id), envs[0]);
    const early = b.bodyKept(msgid);
    assert.deepEqual(early, [chunk]);
    assert.notEqual(early![0], chunk); // the second envelope's delivery may still want it
    assert.deepEqual(b.envelopeLoad(envs[1]!.id), envs[1]);
    const last = b.bodyKept(msgid);
    assert.equal(last?.[0], chunk); // not copied: nobody else will ask
    assert.equal(b.bodyKept(msgid), null);
    last![0]![0] = (last![0]![0]! + 1) & 0xff; // what the receiver does with it is not seen here
    assert.deepEqual(b.bodyRead(msgid, 0, 1 << 20)?.chunks.map((c) => Buffer.from(c)), [Buffer.from(bytes(1000, 7))]);
  }));
