// Actor tests: the real scheduler worker with a fake queue recording what it is handed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestActor, type TestActor } from '@tsmtpd/actor';
import { defaultConfig } from '@tsmtpd/config';
import { DEFAULT_SETTINGS, type DispatchItem } from '@tsmtpd/proto';
import { workerUrl } from './index.js';
import { entry, testMsgid } from './test-helpers.js';

interface Recorder {
  dispatched: { at: number; items: DispatchItem[] }[];
  expired: string[][];
}

async function start(): Promise<{ a: TestActor<'scheduler'>; rec: Recorder }> {
  const rec: Recorder = { dispatched: [], expired: [] };
  const a = await startTestActor({
    role: 'scheduler',
    entry: workerUrl,
    init: { config: defaultConfig(), spool: '/nonexistent', settings: DEFAULT_SETTINGS },
    deadlineMs: 5000,
    fakes: {
      queue: {
        onEnvelopesDispatch: (items) => void rec.dispatched.push({ at: Date.now(), items }),
        onEnvelopesExpire: (evpids) => void rec.expired.push(evpids),
      },
    },
  });
  return { a, rec };
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const nowSec = (): number => Math.floor(Date.now() / 1000);

test('nothing before commit; the first dispatch follows the commit at once', async () => {
  const { a, rec } = await start();
  try {
    const m = testMsgid();
    const es = [entry(m, 1, { ctime: nowSec() }), entry(m, 2, { ctime: nowSec(), type: 'mta' })];
    a.mailbox.onEnvelopesInsert(es);
    await a.drain();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(rec.dispatched.length, 0);
    const t0 = Date.now();
    a.mailbox.onMessagesCommit([], [m]);
    await until(() => rec.dispatched.length > 0);
    assert.ok(Date.now() - t0 < 500, 'first attempt is immediate');
    const items = rec.dispatched.flatMap((d) => d.items);
    assert.deepEqual(items.map((i) => i.evpid).sort(), es.map((e) => e.evpid).sort());
    const stats = await a.handle.ctl.stats();
    assert.equal(stats['scheduler.envelope.inflight'], 2);
  } finally {
    await a.stop();
  }
});

test('rollback drops the changeset', async () => {
  const { a, rec } = await start();
  try {
    const m = testMsgid();
    a.mailbox.onEnvelopesInsert([entry(m, 1, { ctime: nowSec() })]);
    await a.drain();
    a.mailbox.onMessageRollback(m);
    await a.drain();
    a.mailbox.onMessagesCommit([], [m]);
    await a.drain();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(rec.dispatched.length, 0);
    const stats = await a.handle.ctl.stats();
    assert.equal(stats['scheduler.envelope'], 0);
    assert.equal(stats['scheduler.envelope.incoming'], 0);
  } finally {
    await a.stop();
  }
});

test('a tempfail comes back on the ctime + 10 k^2 grid; idle with nothing queued', async () => {
  const { a, rec } = await start();
  try {
    const m = testMsgid();
    // Created 8 s ago: after a tempfail with retry 1 the next slot is ctime + 10, 2-3 s away
    // (room for a loaded machine: an outcome handled after ctime + 10 would land on + 40).
    const e = entry(m, 1, { ctime: nowSec() - 8 });
    // As the queue sends a durable message: its envelopes and its commit in one notification.
    a.mailbox.onMessagesCommit([e], [m]);
    await until(() => rec.dispatched.length === 1);
    a.mailbox.onOutcomes([{ evpid: e.evpid, outcome: 'tempfail', retry: 1, lastTry: nowSec() }]);
    await a.drain();
    let stats = await a.handle.ctl.stats();
    assert.equal(stats['scheduler.timer.pending'], 1, 'sleeps until the retry');
    await until(() => rec.dispatched.length === 2, 8000);
    const second = rec.dispatched[1];
    assert.ok(second && second.at >= (e.ctime + 10) * 1000, 'not before ctime + 10 s');
    assert.ok(second && second.at < (e.ctime + 10) * 1000 + 2000, 'soon after ctime + 10 s');
    a.mailbox.onOutcomes([{ evpid: e.evpid, outcome: 'ok' }]);
    await a.drain();
    stats = await a.handle.ctl.stats();
    assert.equal(stats['scheduler.timer.pending'], 0, 'idle: no timer');
    assert.equal(stats['scheduler.envelope'], 0);
    assert.equal(stats['scheduler.delivery.ok'], 1);
  } finally {
    await a.stop();
  }
});

test('expiry hands the envelope to queue.onEnvelopesExpire', async () => {
  const { a, rec } = await start();
  try {
    const m = testMsgid();
    const old = entry(m, 1, { ctime: nowSec() - 1000, ttl: 500, retry: 3, lastTry: nowSec() - 600 });
    a.mailbox.onEnvelopesLoad([old]);
    await a.drain();
    await until(() => rec.expired.length === 1);
    assert.deepEqual(rec.expired[0], [old.evpid]);
    assert.equal(rec.dispatched.length, 0);
    a.mailbox.onOutcomes([{ evpid: old.evpid, outcome: 'expired' }]);
    await a.drain();
    const stats = await a.handle.ctl.stats();
    assert.equal(stats['scheduler.envelope.expired'], 1);
    assert.equal(stats['scheduler.timer.pending'], 0);
  } finally {
    await a.stop();
  }
});

test('dispatch batches respect maxEvpBatchSize and maxInflight', async () => {
  const rec: Recorder = { dispatched: [], expired: [] };
  const config = defaultConfig();
  config.scheduler.limits.maxEvpBatchSize = 7;
  config.scheduler.limits.maxInflight = 20;
  const a = await startTestActor({
    role: 'scheduler',
    entry: workerUrl,
    init: { config, spool: '/nonexistent', settings: DEFAULT_SETTINGS },
    deadlineMs: 5000,
    fakes: { queue: { onEnvelopesDispatch: (items) => void rec.dispatched.push({ at: Date.now(), items }) } },
  });
  try {
    const m = testMsgid();
    const es = Array.from({ length: 50 }, (_, i) => entry(m, i + 1, { ctime: nowSec() }));
    a.mailbox.onEnvelopesLoad(es);
    await a.drain();
    await until(() => rec.dispatched.flatMap((d) => d.items).length === 20);
    await new Promise((r) => setTimeout(r, 50));
    const items = rec.dispatched.flatMap((d) => d.items);
    assert.equal(items.length, 20, 'no more than maxInflight');
    assert.ok(rec.dispatched.every((d) => d.items.length <= 7));
    a.mailbox.onOutcomes(items.slice(0, 5).map((i) => ({ evpid: i.evpid, outcome: 'ok' as const })));
    await a.drain();
    await until(() => rec.dispatched.flatMap((d) => d.items).length === 25);
  } finally {
    await a.stop();
  }
});

test('a held envelope waits for onHoldRelease, then is dispatched again; stats show the heap', async () => {
  const { a, rec } = await start();
  try {
    const m = testMsgid();
    const es = [1, 2, 3].map((n) => entry(m, n, { ctime: nowSec(), type: 'mta' }));
    a.mailbox.onEnvelopesLoad(es);
    await a.drain();
    await until(() => rec.dispatched.flatMap((d) => d.items).length === 3);
    a.mailbox.onOutcomes(es.map((e) => ({ evpid: e.evpid, outcome: 'hold' as const, holdq: 'relay-1' })));
    await a.drain();
    let stats = await a.handle.ctl.stats();
    assert.equal(stats['scheduler.ramqueue.hold'], 3);
    assert.equal(stats['scheduler.envelope.inflight'], 0);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(rec.dispatched.length, 1, 'nothing while held');
    a.mailbox.onHoldRelease('relay-1', 2);
    await a.drain();
    await until(() => rec.dispatched.flatMap((d) => d.items).length === 5);
    stats = await a.handle.ctl.stats();
    assert.equal(stats['scheduler.ramqueue.hold'], 1);
    assert.equal(stats['scheduler.envelope.inflight'], 2);
    assert.ok((stats['scheduler.memory.heapUsed'] ?? 0) > 100_000);
  } finally {
    await a.stop();
  }
});
