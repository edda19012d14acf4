// Background loading at start-up (loader.ts): the real queue worker on a spool of 30,000 stored
// envelopes, a fake scheduler in this thread. start() must not wait for the load; mail is taken
// while it runs; every envelope reaches the scheduler once, and an outcome for a loaded envelope
// comes after its load. (The 'queue loaded' log line with count and duration: scripts/queue-scale.mjs.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestActor, transfer, type TestActor } from '@tsmtpd/actor';
import { newMsgid, type OutcomeReport, type ScheduleEntry } from '@tsmtpd/proto';
import { workerUrl } from './index.js';
import { SqliteQueueBackend } from './sqlite-backend.js';
import { bytes, makeEnvelope, queueInit, reserveMsgid, tempSpool } from './test-helpers.js';

type Event = { kind: 'load'; entries: ScheduleEntry[] } | { kind: 'insert'; entries: ScheduleEntry[] } | { kind: 'outcome'; reports: OutcomeReport[] };

/** `n` committed messages of 3 envelopes each, written straight to the spool. */
function fillSpool(spool: string, messages: number): string[] {
  const b = new SqliteQueueBackend(spool);
  const evpids: string[] = [];
  const body = bytes(200);
  b.batch(() => {
    for (let i = 0; i < messages; i++) {
      const msgid = newMsgid();
      const envs = [0, 1, 2].map(() => makeEnvelope(msgid));
      b.chunkAppend(msgid, 0, envs[0]?.ctime ?? 0, body);
      b.messageCommit(msgid, envs[0]?.ctime ?? 0, body.byteLength, 1, envs);
      for (const e of envs) evpids.push(e.id);
    }
  });
  b.close();
  return evpids;
}

async function startQueue(spool: string, events: Event[]): Promise<TestActor<'queue'>> {
  return startTestActor({
    role: 'queue',
    entry: workerUrl,
    init: queueInit(spool),
    deadlineMs: 10_000,
    fakes: {
      scheduler: {
        onMessagesCommit: (entries) => void events.push({ kind: 'insert', entries }),
        onMessageRollback: () => {},
        onEnvelopesLoad: (entries) => void events.push({ kind: 'load', entries }),
        onOutcomes: (reports) => void events.push({ kind: 'outcome', reports }),
      },
      mda: { onDeliver: () => {} },
    },
  });
}

async function until(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('start-up load runs in the background: mail accepted meanwhile, each envelope loaded once', async () => {
  const t = tempSpool();
  const stored = fillSpool(t.spool, 10_000);
  const events: Event[] = [];
  const a = await startQueue(t.spool, events);
  try {
    const loadedNow = (): number => events.reduce((n, e) => n + (e.kind === 'load' ? e.entries.length : 0), 0);
    // start() has answered: the load is under way, not over (30,000 envelopes take a while).
    assert.ok(loadedNow() < stored.length, `loaded ${loadedNow()} before start() answered`);
    // A new message during the load.
    const msgid = await reserveMsgid(a.mailbox);
    assert.ok(msgid.ok);
    const fresh = makeEnvelope(msgid.value);
    const buf = bytes(100).buffer as ArrayBuffer;
    const committed = await a.mailbox.messageCommit(msgid.value, [fresh], transfer(buf, [buf]));
    assert.ok(committed.ok);
    const acceptedDuringLoad = loadedNow() < stored.length;
    // A delivery result for an envelope that was loaded already: its outcome follows its load.
    await until(() => loadedNow() > 0, 5000);
    const first = events.find((e) => e.kind === 'load');
    const touched = first?.kind === 'load' ? first.entries[0]?.evpid ?? '' : '';
    void a.mailbox.onDeliveryResults([{ evpid: touched, status: 'ok', errorline: '250 2.0.0 ok' }]);
    await until(() => loadedNow() >= stored.length - 1, 30_000);
    await new Promise((r) => setTimeout(r, 50));
    await until(() => events.some((e) => e.kind === 'outcome'), 5000);

    const loads = events.flatMap((e) => (e.kind === 'load' ? e.entries.map((x) => x.evpid) : []));
    assert.equal(new Set(loads).size, loads.length, 'no envelope loaded twice');
    const all = new Set([...loads, ...events.flatMap((e) => (e.kind === 'insert' ? e.entries.map((x) => x.evpid) : []))]);
    for (const id of stored) assert.ok(all.has(id), `lost ${id}`);
    assert.ok(all.has(fresh.id), 'the new message reached the scheduler');
    assert.ok(acceptedDuringLoad, 'the commit was answered while loading');
    const loadAt = events.findIndex((e) => e.kind === 'load' && e.entries.some((x) => x.evpid === touched));
    const outcomeAt = events.findIndex((e) => e.kind === 'outcome' && e.reports.some((r) => r.evpid === touched));
    assert.ok(loadAt >= 0 && outcomeAt > loadAt, 'outcome after the load');
    assert.deepEqual(a.fatals, []);
  } finally {
    await a.stop();
    t.cleanup();
  }
});

test('stopping during the load stops it cleanly', async () => {
  const t = tempSpool();
  fillSpool(t.spool, 5000);
  const events: Event[] = [];
  const a = await startQueue(t.spool, events);
  try {
    await a.stop();
    const loaded = events.reduce((n, e) => n + (e.kind === 'load' ? e.entries.length : 0), 0);
    assert.ok(loaded < 15_000, 'the walk stopped early');
    assert.deepEqual(a.fatals, [], 'a stop is not a load failure');
  } finally {
    t.cleanup();
  }
});
