// The msgid stock in one thread, with a fake queue and clock: one refill shared by concurrent
// takers, refills below half, stale ids dropped, failures as values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Remote } from '@tsmtpd/actor';
import { MSGID_RESERVE_TTL, fail, ok, type QueueMailbox, type Result } from '@tsmtpd/proto';
import { MsgidPool } from './msgid-pool.js';

function fakeQueue() {
  let n = 0;
  const asks: number[] = [];
  const q = {
    asks,
    answer: null as Result<string[]> | null,
    queue: {
      msgidsReserve: async (k: number) => {
        asks.push(k);
        await new Promise((r) => setImmediate(r));
        return q.answer ?? ok(Array.from({ length: k }, () => (0x20000000 + ++n).toString(16)));
      },
    } as unknown as Remote<QueueMailbox>,
  };
  return q;
}

test('concurrent takers on an empty stock share one refill; a refill is asked below half', async () => {
  const f = fakeQueue();
  const pool = new MsgidPool(() => f.queue, 8);
  const got = await Promise.all(Array.from({ length: 5 }, () => pool.take()));
  assert.ok(got.every((r) => r.ok));
  assert.equal(new Set(got.map((r) => (r.ok ? r.value : ''))).size, 5);
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(f.asks, [8, 5], 'one refill for all five, then one to top up below half');
  assert.equal(pool.count, 8);
});

test('ids older than half the reservation ttl are not used; a failed refill is a failure value', async () => {
  const f = fakeQueue();
  const clock = { t: 1_000_000 };
  const pool = new MsgidPool(() => f.queue, 4, () => clock.t);
  const first = await pool.take();
  assert.ok(first.ok);
  clock.t += (MSGID_RESERVE_TTL * 1000) / 2 + 1;
  f.answer = fail('ERR_QUEUE_IO', 'temp', 'disk');
  const r = await pool.take();
  assert.deepEqual(r.ok ? null : [r.code, r.kind], ['ERR_QUEUE_IO', 'temp'], 'the stale stock is not used');
  f.answer = null;
  const again = await pool.take();
  assert.ok(again.ok && again.value !== (first.ok ? first.value : ''));
});
