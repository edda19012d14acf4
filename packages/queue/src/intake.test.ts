// Intake in one thread, over the RAM backend and recording fake peers: failure paths that the
// actor tests cannot provoke on a healthy disk, and the idle sweep.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger, type Remote } from '@tsmtpd/actor';
import type { SchedulerMailbox } from '@tsmtpd/proto';
import { RamQueueBackend } from './ram-backend.js';
import { GroupCommit } from './group-commit.js';
import { newCounters, type QueueShared } from './context.js';
import { Intake, commitBatcher } from './intake.js';
import { bytes, makeEnvelope } from './test-helpers.js';

function setup(backend = new RamQueueBackend()) {
  const calls: string[] = [];
  const clock = { t: 1_700_000_000 };
  const scheduler = {
    onMessagesCommit: (_e: unknown[], m: string[]) => void calls.push(`commit ${m.join(',')}`),
    onMessageRollback: async (m: string) => void calls.push(`rollback ${m}`),
  } as unknown as Remote<SchedulerMailbox>;
  const q: QueueShared = {
    backend,
    gc: new GroupCommit(backend),
    commits: commitBatcher(() => scheduler),
    peers: { scheduler: () => scheduler, mda: () => null, mta: () => null, lka: () => null },
    log: createLogger('queue', { quiet: true }),
    counters: newCounters(),
    now: () => clock.t,
    serverName: 'mx.test',
    warnIntervals: [14_400],
  };
  return { intake: new Intake(q), q, calls, clock, backend };
}

function created(intake: Intake): string {
  const r = intake.msgidsReserve(1);
  assert.ok(r.ok && r.value[0] !== undefined);
  return r.value[0];
}

test('a failing chunk write fails temporarily, and the commit after it fails and rolls back', async () => {
  const backend = new RamQueueBackend();
  const { intake, calls } = setup(backend);
  const msgid = created(intake);
  backend.chunkAppend = () => {
    throw new Error('disk full');
  };
  const r = await intake.bodyAppend(msgid, bytes(10).buffer as ArrayBuffer);
  assert.deepEqual(r.ok ? null : [r.code, r.kind], ['ERR_QUEUE_IO', 'temp']);
  const c = await intake.messageCommit(msgid, [makeEnvelope(msgid)]);
  assert.deepEqual(c.ok ? null : [c.code, c.kind], ['ERR_QUEUE_IO', 'temp']);
  assert.equal(intake.openCount, 0);
  assert.equal(intake.openCount, 0);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(calls, [], 'the scheduler never heard of the message');
});

test('a failing commit transaction answers a temporary failure, never success', async () => {
  const backend = new RamQueueBackend();
  const { intake, calls } = setup(backend);
  const msgid = created(intake);
  await intake.bodyAppend(msgid, bytes(10).buffer as ArrayBuffer);
  backend.batch = () => {
    throw new Error('SQLITE_IOERR');
  };
  const c = await intake.messageCommit(msgid, [makeEnvelope(msgid)]);
  assert.equal(c.ok, false);
  assert.ok(!calls.some((x) => x.startsWith('commit')), 'the scheduler never heard of a commit');
});

test('a commit without envelopes, or of an unknown message, is refused', async () => {
  const { intake } = setup();
  const msgid = created(intake);
  assert.equal((await intake.messageCommit(msgid, [])).ok, false);
  assert.equal((await intake.messageCommit('deadbeef', [makeEnvelope('deadbeef')])).ok, false);
  assert.equal((await intake.bodyAppend('deadbeef', new ArrayBuffer(4))).ok, false);
});

test('the sweep drops open messages idle too long and keeps active ones', async () => {
  const { intake, calls, clock, backend } = setup();
  const idle = created(intake);
  await intake.bodyAppend(idle, bytes(10).buffer as ArrayBuffer);
  clock.t += 3000;
  const busy = created(intake);
  // Naming a reserved id opens it (an empty chunk stores nothing).
  assert.ok((await intake.bodyAppend(busy, new ArrayBuffer(0))).ok);
  clock.t += 700;
  assert.equal(intake.sweep(3600), 1);
  assert.equal(intake.openCount, 1);
  assert.deepEqual(calls, [], 'the scheduler never heard of the idle message');
  await new Promise((r) => setImmediate(r));
  assert.equal(backend.messageExists(idle), false, 'its chunks are deleted');
  assert.ok((await intake.messageCommit(busy, [makeEnvelope(busy)])).ok);
});

for (const kind of ['another message', 'a duplicate'] as const) {
  test(`envelopes with the commit: ${kind} among them fails the commit (temp) and drops the message`, async () => {
    const { intake, calls, backend } = setup();
    const msgid = created(intake);
    await intake.bodyAppend(msgid, bytes(10).buffer as ArrayBuffer);
    const good = makeEnvelope(msgid);
    const bad = kind === 'a duplicate' ? { ...good } : makeEnvelope('0badc0de');
    const c = await intake.messageCommit(msgid, [good, bad]);
    assert.deepEqual(c.ok ? null : [c.code, c.kind], ['ERR_QUEUE_BAD_ENVELOPE', 'temp']);
    assert.equal(intake.openCount, 0);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(calls, [], 'the scheduler never heard of it');
    assert.equal(backend.messageExists(msgid), false, 'its chunks are deleted');
  });
}

test('reserved msgids: distinct, opened by the first call naming them, freed by rollback, forgotten by the sweep', async () => {
  const { intake, clock, backend } = setup();
  const r = intake.msgidsReserve(64);
  assert.ok(r.ok);
  assert.equal(new Set(r.value).size, 64);
  assert.ok(r.value.every((m) => /^[0-9a-f]{8}$/.test(m)));
  assert.equal(intake.reservedCount, 64);
  assert.equal(intake.openCount, 0, 'a reservation is not an open message');
  const [used = '', dropped = '', stale = ''] = r.value;
  assert.ok((await intake.bodyAppend(used, bytes(10).buffer as ArrayBuffer)).ok);
  assert.equal(intake.openCount, 1);
  assert.equal(intake.reservedCount, 63);
  intake.messageRollback(dropped);
  assert.equal(intake.reservedCount, 62);
  assert.equal((await intake.bodyAppend(dropped, new ArrayBuffer(4))).ok, false, 'a freed id opens nothing');
  clock.t += 3601;
  intake.sweep(3600);
  assert.equal(intake.reservedCount, 0, 'unused reservations are forgotten after the ttl');
  assert.equal((await intake.bodyAppend(stale, new ArrayBuffer(4))).ok, false);
  assert.equal(backend.messageExists(stale), false);
  assert.equal(intake.msgidsReserve(10_000).ok && intake.reservedCount, 256, 'one reservation is bounded');
});
