// Group commit and the tick batcher over a fake store that counts transactions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GroupCommit, TickBatcher } from './group-commit.js';

/** A store that counts batches and can be told to fail the next one. */
function fakeStore() {
  const s = {
    batches: 0,
    durability: [] as boolean[],
    failNext: false,
    /** Set by a write to simulate SQLite rolling the transaction back on its own (SQLITE_FULL). */
    rolledBack: false,
    inTransaction(): boolean {
      return !s.rolledBack;
    },
    batch<T>(fn: () => T, durable = true): T {
      s.batches++;
      s.durability.push(durable);
      s.rolledBack = false;
      const v = fn();
      if (s.failNext) {
        s.failNext = false;
        throw new Error('commit failed');
      }
      return v;
    },
    atomic<T>(fn: () => T): T {
      return fn();
    },
  };
  return s;
}

test('writes submitted in one turn share one batch, and each gets its own value', async () => {
  const store = fakeStore();
  const gc = new GroupCommit(store);
  const results = await Promise.all(Array.from({ length: 50 }, (_, i) => gc.submit(() => i * 2)));
  assert.deepEqual(results, Array.from({ length: 50 }, (_, i) => i * 2));
  assert.equal(store.batches, 1);
  assert.deepEqual(gc.stats, { txns: 1, ops: 50, maxOps: 50, failed: 0, lazy: 0 });
  await gc.submit(() => 0);
  assert.equal(store.batches, 2);
});

test('a batch of only non-durable writes skips the fsync; one durable write makes the batch durable', async () => {
  const store = fakeStore();
  const gc = new GroupCommit(store);
  await Promise.all([gc.submit(() => 1, { durable: false }), gc.submit(() => 2, { durable: false })]);
  await Promise.all([gc.submit(() => 1, { durable: false }), gc.submit(() => 2)]);
  await gc.submit(() => 3);
  assert.deepEqual(store.durability, [false, true, true]);
  assert.equal(gc.stats.lazy, 1);
});

test('a failing write fails alone; a failing commit fails all', async () => {
  const store = fakeStore();
  const gc = new GroupCommit(store);
  const a = gc.submit(() => 'a');
  const b = gc.submit(() => {
    throw new Error('constraint');
  });
  assert.equal(await a, 'a');
  await assert.rejects(b, /constraint/);
  store.failNext = true;
  const c = gc.submit(() => 'c');
  const d = gc.submit(() => 'd');
  await assert.rejects(c, /commit failed/);
  await assert.rejects(d, /commit failed/);
  assert.equal(gc.stats.failed, 1);
});

test('maxOps splits a large group; a window collects across turns; flush commits at once', async () => {
  const store = fakeStore();
  const gc = new GroupCommit(store, { maxOps: 10 });
  await Promise.all(Array.from({ length: 25 }, () => gc.submit(() => 1)));
  assert.equal(store.batches, 3);

  const windowed = new GroupCommit(store, { windowMs: 20 });
  const before = store.batches;
  const p1 = windowed.submit(() => 1);
  await new Promise((r) => setImmediate(r));
  const p2 = windowed.submit(() => 2);
  await Promise.all([p1, p2]);
  assert.equal(store.batches, before + 1);

  const p3 = windowed.submit(() => 3);
  windowed.flush();
  assert.equal(windowed.pending, 0);
  assert.equal(await p3, 3);
});

test('TickBatcher hands the items of one turn to one sink call; a failing sink is reported', async () => {
  const calls: string[][] = [];
  const turn = () => new Promise((r) => setImmediate(r));
  const tb = new TickBatcher<string>((items) => void calls.push(items));
  for (const x of ['a', 'b', 'c']) tb.add(x);
  assert.deepEqual(calls, [], 'not before the turn ends');
  await turn();
  tb.add('d');
  await turn();
  assert.deepEqual(calls, [['a', 'b', 'c'], ['d']]);
  const lost: string[][] = [];
  const failing = new TickBatcher<string>(() => {
    throw new Error('sink down');
  }, (e, items) => void lost.push([String((e as Error).message), ...items]));
  failing.add('x');
  failing.add('y');
  await turn();
  assert.deepEqual(lost, [['sink down', 'x', 'y']]);
});

test('a write after which the database rolled the transaction back fails the whole batch; later writes do not run', async () => {
  const store = fakeStore();
  const gc = new GroupCommit(store);
  const ran: string[] = [];
  const full = Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
  const a = gc.submit(() => void ran.push('a'));
  const b = gc.submit(() => {
    ran.push('b');
    store.rolledBack = true;
    throw full;
  });
  const c = gc.submit(() => void ran.push('c'));
  const results = await Promise.allSettled([a, b, c]);
  assert.deepEqual(ran, ['a', 'b'], 'nothing runs outside the transaction');
  for (const r of results) {
    assert.equal(r.status, 'rejected');
    assert.equal((r as PromiseRejectedResult).reason, full, 'every writer hears the real error');
  }
});
