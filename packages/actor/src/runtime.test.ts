// The actor runtime's promises: deadlines, dead workers, error fields, batching,
// peer wiring and supervision — exercised on real worker threads.
import { UNPRIVILEGED } from './privileged.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Role } from '@tsmtpd/proto';
import { spawnActor, connectPair, type ActorHandle } from './spawn.js';
import { Supervisor } from './supervisor.js';
import { createLogger } from './log.js';
import type { Remote } from './remote.js';
import type { ProbeMailbox } from './fixtures/probe-worker.js';

const entry = new URL('./fixtures/probe-worker.js', import.meta.url);
const parent = { ...UNPRIVILEGED, onFatal: () => {}, reloadConfig: async () => ({ ok: false as const, errors: [] }) };

async function probe(role: Role, deadlineMs = 30_000): Promise<{ h: ActorHandle<Role>; m: Remote<ProbeMailbox> }> {
  const h = await spawnActor(role, entry, { init: null, parent, quiet: true, deadlineMs });
  return { h, m: h.mailbox as unknown as Remote<ProbeMailbox> };
}

test('a call answers through the mailbox', { timeout: 30_000 }, async () => {
  const { h, m } = await probe('mta');
  try {
    assert.deepEqual(await m.echo({ a: [1, 2] }), { a: [1, 2] });
    assert.equal(await h.ctl.ping(), 'mta');
  } finally {
    await h.terminate();
  }
});

test('a call past its deadline fails as a temporary error', { timeout: 30_000 }, async () => {
  const { h, m } = await probe('mta', 100);
  try {
    const t0 = Date.now();
    await assert.rejects(m.sleep(2000), (e: { code?: string; kind?: string }) => e.code === 'ERR_ACTOR_TIMEOUT' && e.kind === 'temp');
    assert.ok(Date.now() - t0 < 1500, 'rejected near the deadline, not after the work');
  } finally {
    await h.terminate();
  }
});

test('errors crossing the thread keep code and kind', { timeout: 30_000 }, async () => {
  const { h, m } = await probe('mta');
  try {
    await assert.rejects(m.throwCoded(), (e: { code?: string; kind?: string; message?: string }) => {
      assert.equal(e.code, 'ERR_PROBE');
      assert.equal(e.kind, 'perm');
      assert.equal(e.message, 'coded failure');
      return true;
    });
  } finally {
    await h.terminate();
  }
});

for (const how of ['exit', 'throw'] as const) {
  test(`a dead worker (${how}) rejects every pending call at once`, { timeout: 30_000 }, async () => {
    const { h, m } = await probe('mta');
    const t0 = Date.now();
    const pending = [m.sleep(20_000), m.sleep(20_000), m.sleep(20_000)];
    await m.crash(how);
    const results = await Promise.allSettled(pending);
    assert.ok(Date.now() - t0 < 3000, 'rejected promptly, not at the 30 s deadline');
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      assert.equal((r as PromiseRejectedResult).reason.code, 'ERR_ACTOR_DEAD');
    }
    const exit = await h.exited;
    assert.equal(exit.role, 'mta');
    if (how === 'throw') assert.match(exit.error?.message ?? '', /crashed on purpose/);
    await assert.rejects(m.echo(1), (e: { code?: string }) => e.code === 'ERR_ACTOR_DEAD');
  });
}

test('calls made within one tick travel as one batch', { timeout: 30_000 }, async () => {
  const { h, m } = await probe('mta');
  try {
    await m.echo(0);
    const before = h.muxStats;
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => m.echo(i)));
    assert.deepEqual(results, Array.from({ length: 100 }, (_, i) => i));
    const after = h.muxStats;
    assert.equal(after.messages - before.messages, 100);
    assert.ok(after.frames - before.frames <= 2, `100 calls used ${after.frames - before.frames} frames`);
  } finally {
    await h.terminate();
  }
});

test('wired peers call each other, and a dead peer fails its callers at once', { timeout: 30_000 }, async () => {
  const a = await probe('smtp');
  const b = await probe('queue');
  try {
    await connectPair(a.h, b.h);
    const okCall = await a.m.callPeer('queue', 'echo', ['x']);
    assert.equal(okCall.ok, true);
    const inflight = a.m.callPeer('queue', 'sleep', [20_000]);
    await new Promise((r) => setTimeout(r, 50));
    await b.m.crash('exit');
    const r = await inflight;
    assert.equal(r.ok, false);
    assert.equal(r.code, 'ERR_ACTOR_DEAD');
    assert.ok(r.ms < 3000, `took ${r.ms} ms`);
  } finally {
    await a.h.terminate();
    await b.h.terminate();
  }
});

test('an unwired peer is a bug reported as such, not a hang', { timeout: 30_000 }, async () => {
  const a = await probe('smtp');
  try {
    const r = await a.m.callPeer('lka', 'echo', [1]);
    assert.equal(r.ok, false);
    assert.equal(r.code, 'ERR_ACTOR_NOT_CONNECTED');
  } finally {
    await a.h.terminate();
  }
});

test('the supervisor reports a dying actor and stops the rest in order', { timeout: 30_000 }, async () => {
  const sup = new Supervisor({ log: createLogger('test', { quiet: true }), quiet: true });
  await sup.startAll(
    [
      { role: 'smtp', entry, init: null },
      { role: 'queue', entry, init: null },
    ],
    [['smtp', 'queue']],
    ['queue', 'smtp'],
  );
  const q = sup.handle('queue').mailbox as unknown as Remote<ProbeMailbox>;
  await q.crash('throw');
  const reason = await sup.failed;
  assert.match(reason, /actor queue died: Error: probe crashed on purpose/);
  await sup.stopAll(['smtp', 'queue']);
  const smtpExit = await sup.handle('smtp').exited;
  assert.equal(smtpExit.role, 'smtp');
});

test('notifications travel one way, in order, and drain waits for their handlers', { timeout: 30_000 }, async () => {
  const { h, m } = await probe('mta');
  try {
    await m.echo(0);
    const before = h.muxStats.received;
    for (let i = 1; i <= 40; i++) {
      m.onNote(i, 0);
      await new Promise((r) => setImmediate(r)); // one frame each: no batching to hide replies
    }
    m.onNote(41, 300);
    m.onBoom(); // a failing handler is reported on the actor's side and breaks nothing
    assert.ok(!(await m.notes()).includes(41), 'the slow handler has not finished yet');
    await h.drain();
    const notes = await m.notes();
    assert.deepEqual(notes, Array.from({ length: 41 }, (_, i) => i + 1));
    // Answers of notes(), the drain and notes() again; no reply per notification (there were 42).
    const replies = h.muxStats.received - before;
    assert.ok(replies <= 4, `${replies} frames came back for 42 notifications and 3 requests`);
  } finally {
    await h.terminate();
  }
});
