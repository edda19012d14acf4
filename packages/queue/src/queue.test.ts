// Actor tests: the real queue worker on a temporary spool, with a fake scheduler and fake
// mda/mta in this thread recording what they are told.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { startTestActor, transfer, type TestActor } from '@tsmtpd/actor';
import { type Envelope, type OutcomeReport, type ScheduleEntry } from '@tsmtpd/proto';
import { workerUrl } from './index.js';
import { queueDbPath } from './schema.js';
import { bytes, concat, makeEnvelope, queueInit, reserveMsgid, tempSpool } from './test-helpers.js';

interface Rec {
  inserts: ScheduleEntry[][];
  commits: string[][];
  rollbacks: string[];
  loads: ScheduleEntry[][];
  outcomes: OutcomeReport[][];
  delivered: Envelope[][];
  /** The bodies sent along with each onDeliver. */
  bodies: (Record<string, ArrayBuffer[]> | undefined)[];
  relayed: Envelope[][];
  /** Called inside scheduler.onMessagesCommit, before it returns (the queue does not wait for it). */
  onCommit?: (msgids: string[]) => void | Promise<void>;
}

function newRec(): Rec {
  return { inserts: [], commits: [], rollbacks: [], loads: [], outcomes: [], delivered: [], bodies: [], relayed: [] };
}

async function startQueue(spool: string, rec: Rec, opts: { mta?: boolean } = {}): Promise<TestActor<'queue'>> {
  return startTestActor({
    role: 'queue',
    entry: workerUrl,
    init: queueInit(spool),
    deadlineMs: 10_000,
    fakes: {
      scheduler: {
        onMessagesCommit: async (e, msgids) => {
          rec.inserts.push(e);
          await rec.onCommit?.(msgids);
          rec.commits.push(msgids);
        },
        onMessageRollback: (m) => void rec.rollbacks.push(m),
        onEnvelopesLoad: (e) => void rec.loads.push(e),
        onOutcomes: (o) => void rec.outcomes.push(o),
      },
      mda: { onDeliver: (e, b) => void (rec.delivered.push(e), rec.bodies.push(b)) },
      ...(opts.mta === false ? {} : { mta: { onRelay: (e: Envelope[]) => void rec.relayed.push(e) } }),
    },
  });
}

function unwrap<T>(r: { ok: true; value: T } | { ok: false; code: string; message: string }): T {
  if (!r.ok) throw new Error(`${r.code}: ${r.message}`);
  return r.value;
}

/** Reserve a msgid, send the body in chunks, commit with the envelopes; returns msgid and envelopes. */
async function enqueue(a: TestActor<'queue'>, body: Uint8Array[], n = 1, over: Partial<Envelope> = {}) {
  const msgid = unwrap(await reserveMsgid(a.mailbox));
  const envs = Array.from({ length: n }, () => makeEnvelope(msgid, over));
  for (const part of body) {
    const buf = part.slice().buffer;
    unwrap(await a.mailbox.bodyAppend(msgid, transfer(buf, [buf])));
  }
  const committed = unwrap(await a.mailbox.messageCommit(msgid, envs));
  return { msgid, envs, committed };
}

function readDb(spool: string): Database.Database {
  return new Database(queueDbPath(spool), { readonly: true });
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function withQueue(fn: (a: TestActor<'queue'>, rec: Rec, spool: string) => Promise<void>, opts: { mta?: boolean } = {}): Promise<void> {
  const t = tempSpool();
  const rec = newRec();
  const a = await startQueue(t.spool, rec, opts);
  try {
    await fn(a, rec, t.spool);
  } finally {
    await a.stop();
    t.cleanup();
  }
}

test('commit: durable before the scheduler hears of it, answered without waiting for it', () =>
  withQueue(async (a, rec, spool) => {
    const seenDurable: boolean[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    rec.onCommit = async (msgids) => {
      const db = readDb(spool);
      for (const m of msgids) {
        const state = db.prepare('SELECT state FROM message WHERE msgid = ?').pluck().get(m);
        const envs = db.prepare('SELECT count(*) FROM envelope WHERE msgid = ?').pluck().get(m);
        seenDurable.push(state === 'committed' && envs === 2);
      }
      db.close();
      // The scheduler answers only once the commit was answered: a queue waiting for it hangs.
      await gate;
    };
    const { msgid, envs, committed } = await enqueue(a, [bytes(300)], 2);
    release();
    await until(() => rec.commits.length === 1);
    assert.deepEqual(committed, { msgid, size: 300 });
    assert.deepEqual(seenDurable, [true]);
    assert.deepEqual(rec.commits, [[msgid]]);
    assert.deepEqual(rec.inserts.flat().map((e) => e.evpid), envs.map((e) => e.id), 'the envelopes came with the commit');
    const stats = await a.handle.ctl.stats();
    assert.equal(stats['queue.message'], 1);
    assert.equal(stats['queue.envelope'], 2);
    assert.equal(stats['queue.db.synchronous'], 2, 'synchronous is FULL in the actor');
  }));

test('rollback: rows gone, the scheduler never heard of it, the msgid is dead', () =>
  withQueue(async (a, rec, spool) => {
    const msgid = unwrap(await reserveMsgid(a.mailbox));
    const buf = bytes(1000).buffer as ArrayBuffer;
    unwrap(await a.mailbox.bodyAppend(msgid, transfer(buf, [buf])));
    const db = readDb(spool);
    assert.equal(db.prepare('SELECT count(*) FROM chunk WHERE msgid = ?').pluck().get(msgid), 1, 'chunk written as it came');
    a.mailbox.onMessageRollback(msgid);
    await a.drain();
    await a.handle.ctl.ping();
    await until(() => db.prepare('SELECT count(*) FROM chunk WHERE msgid = ?').pluck().get(msgid) === 0);
    assert.equal(db.prepare('SELECT count(*) FROM message WHERE msgid = ?').pluck().get(msgid), 0);
    db.close();
    const r = await a.mailbox.messageCommit(msgid, [makeEnvelope(msgid)]);
    assert.equal(r.ok, false);
    assert.deepEqual([rec.inserts, rec.commits, rec.rollbacks], [[], [], []]);
  }));

// Their content is smtp's to validate (transaction.ts parses each envelope it builds); the queue
// checks only that they belong to the message, once each.
test('envelopes that do not belong to the message, or repeat one, fail the commit', () =>
  withQueue(async (a, rec) => {
    for (const kind of ['other message', 'duplicate']) {
      const msgid = unwrap(await reserveMsgid(a.mailbox));
      const good = makeEnvelope(msgid);
      const r = await a.mailbox.messageCommit(msgid, [good, kind === 'duplicate' ? { ...good } : makeEnvelope('0badc0de')]);
      assert.deepEqual(r.ok ? null : r.kind, 'temp');
    }
    assert.deepEqual([rec.inserts, rec.commits], [[], []]);
    // The same calls with good envelopes only commit.
    const msgid = unwrap(await reserveMsgid(a.mailbox));
    unwrap(await a.mailbox.messageCommit(msgid, [makeEnvelope(msgid)]));
  }));

test('concurrent commits in one tick share transactions', (t) =>
  withQueue(async (a) => {
    const N = 20;
    const opened = await Promise.all(Array.from({ length: N }, () => reserveMsgid(a.mailbox)));
    const ids = opened.map(unwrap);
    await Promise.all(ids.map((m) => {
      const buf = bytes(200).buffer as ArrayBuffer;
      return a.mailbox.bodyAppend(m, transfer(buf, [buf]));
    }));
    const before = await a.handle.ctl.stats();
    const results = await Promise.all(ids.map((m) => a.mailbox.messageCommit(m, [makeEnvelope(m)])));
    assert.ok(results.every((r) => r.ok));
    const after = await a.handle.ctl.stats();
    const txns = (after['queue.commit.txn'] ?? 0) - (before['queue.commit.txn'] ?? 0);
    t.diagnostic(`${N} concurrent commits: ${txns} transaction(s)`);
    assert.ok(txns >= 1 && txns <= 3, `${N} commits took ${txns} transactions`);
    assert.ok((after['queue.commit.maxops'] ?? 0) >= N / 2);
  }));

test('a 5 MB body in 256 KiB chunks reads back byte-exact, in pages of about 1 MiB', () =>
  withQueue(async (a) => {
    const total = 5 * 1024 * 1024 + 123;
    const body = bytes(total, 7);
    const parts: Uint8Array[] = [];
    for (let o = 0; o < total; o += 256 * 1024) parts.push(body.subarray(o, Math.min(total, o + 256 * 1024)));
    const { msgid, committed } = await enqueue(a, parts);
    assert.equal(committed.size, total);
    const got: Uint8Array[] = [];
    let from: number | null = 0;
    let pages = 0;
    while (from !== null && pages < 100) {
      const page: { chunks: ArrayBuffer[]; next: number | null } = unwrap(await a.mailbox.bodyRead(msgid, from));
      assert.ok(page.chunks.reduce((n, c) => n + c.byteLength, 0) <= 1024 * 1024 + 256 * 1024);
      got.push(...page.chunks.map((c) => new Uint8Array(c)));
      from = page.next;
      pages++;
    }
    assert.ok(pages >= 5 && pages <= 7, `${pages} pages`);
    assert.ok(Buffer.from(concat(got)).equals(Buffer.from(body)));
  }));

test('the tail sent with the commit is stored in the same transaction, after the appended chunks', (t) =>
  withQueue(async (a) => {
    const head = bytes(300, 3);
    const tail = bytes(700, 4);
    const msgid = unwrap(await reserveMsgid(a.mailbox));
    const hb = head.slice().buffer;
    unwrap(await a.mailbox.bodyAppend(msgid, transfer(hb, [hb])));
    const before = await a.handle.ctl.stats();
    const tb = tail.slice().buffer;
    const committed = unwrap(await a.mailbox.messageCommit(msgid, [makeEnvelope(msgid)], transfer(tb, [tb])));
    const after = await a.handle.ctl.stats();
    assert.equal(committed.size, 1000);
    assert.equal((after['queue.commit.txn'] ?? 0) - (before['queue.commit.txn'] ?? 0), 1, 'tail and commit: one transaction');
    const page = unwrap(await a.mailbox.bodyRead(msgid, 0));
    assert.ok(Buffer.from(concat(page.chunks.map((c) => new Uint8Array(c)))).equals(Buffer.concat([head, tail])));
    t.diagnostic(`chunks=${page.chunks.length}`);
    // A message whose whole body is the tail.
    const m2 = unwrap(await reserveMsgid(a.mailbox));
    const only = bytes(50, 5);
    const ob = only.slice().buffer;
    assert.equal(unwrap(await a.mailbox.messageCommit(m2, [makeEnvelope(m2)], transfer(ob, [ob]))).size, 50);
    const p2 = unwrap(await a.mailbox.bodyRead(m2, 0));
    assert.ok(Buffer.from(concat(p2.chunks.map((c) => new Uint8Array(c)))).equals(Buffer.from(only)));
  }));

test('dispatch groups by type; tempfail updates retry, lastTry and errorline', () =>
  withQueue(async (a, rec, spool) => {
    const { envs: local } = await enqueue(a, [bytes(10)], 2);
    const { envs: [relay] } = await enqueue(a, [bytes(10)], 1, { type: 'mta' });
    assert.ok(relay);
    a.mailbox.onEnvelopesDispatch([...local, relay].map((e) => ({ evpid: e.id, type: e.type })));
    await a.drain();
    await until(() => rec.delivered.length === 1 && rec.relayed.length === 1);
    assert.deepEqual(rec.delivered[0], local);
    const sent = rec.bodies[0]?.[local[0]!.msgid];
    assert.ok(sent, 'the small body just committed travels with its envelopes');
    assert.deepEqual(Object.keys(rec.bodies[0] ?? {}), [local[0]!.msgid], 'once per message');
    assert.ok(Buffer.from(concat(sent.map((c) => new Uint8Array(c)))).equals(Buffer.from(bytes(10))));
    assert.deepEqual(rec.relayed[0], [relay]);
    a.mailbox.onDeliveryResults([{ evpid: relay.id, status: 'tempfail', errorline: '421 4.4.2 busy\r\nInjected: x' }]);
    await a.drain();
    await until(() => rec.outcomes.length === 1);
    const report = rec.outcomes[0]?.[0];
    assert.equal(report?.outcome, 'tempfail');
    assert.equal(report?.retry, 1);
    assert.ok((report?.lastTry ?? 0) >= relay.ctime);
    const db = readDb(spool);
    const stored = JSON.parse(db.prepare('SELECT json FROM envelope WHERE evpid = ?').pluck().get(relay.id) as string) as Envelope;
    db.close();
    assert.equal(stored.retry, 1);
    assert.equal(stored.errorline, '421 4.4.2 busy Injected: x');
  }));

test('ok deletes the envelope, and the message with its last one; expiry of a null sender deletes too', () =>
  withQueue(async (a, rec, spool) => {
    const { msgid, envs } = await enqueue(a, [bytes(10)], 2, { sender: '' });
    const [e1, e2] = envs as [Envelope, Envelope];
    a.mailbox.onDeliveryResults([{ evpid: e1.id, status: 'ok', errorline: '250 2.0.0 delivered' }]);
    await a.drain();
    await until(() => rec.outcomes.length === 1);
    assert.ok((await a.mailbox.bodyRead(msgid, 0)).ok, 'body stays while an envelope remains');
    a.mailbox.onEnvelopesExpire([e2.id]);
    await a.drain();
    await until(() => rec.outcomes.length === 2);
    assert.deepEqual(rec.outcomes.flat(), [{ evpid: e1.id, outcome: 'ok' }, { evpid: e2.id, outcome: 'expired' }]);
    const db = readDb(spool);
    for (const table of ['message', 'envelope', 'chunk']) {
      assert.equal(db.prepare(`SELECT count(*) FROM ${table} WHERE msgid = ?`).pluck().get(msgid), 0, table);
    }
    db.close();
    assert.equal((await a.mailbox.bodyRead(msgid, 0)).ok, false);
    const stats = await a.handle.ctl.stats();
    assert.equal(stats['queue.message'], 0);
    assert.equal(stats['queue.envelope'], 0);
    assert.equal(stats['queue.envelope.expired'], 1);
  }));

test('a vanished envelope is reported removed, a bounce without a report dropped, an unwired mta a tempfail', () =>
  withQueue(async (a, rec) => {
    const { envs: [bounce] } = await enqueue(a, [bytes(10)], 1, { type: 'bounce' });
    const { envs: [relay] } = await enqueue(a, [bytes(10)], 1, { type: 'mta' });
    assert.ok(bounce && relay);
    a.mailbox.onEnvelopesDispatch([
      { evpid: 'abcdef0112345678', type: 'mda' },
      { evpid: bounce.id, type: 'bounce' },
      { evpid: relay.id, type: 'mta' },
    ]);
    await a.drain();
    await until(() => rec.outcomes.flat().length === 3);
    const byId = new Map(rec.outcomes.flat().map((o) => [o.evpid, o]));
    assert.equal(byId.get('abcdef0112345678')?.outcome, 'removed');
    assert.equal(byId.get(bounce.id)?.outcome, 'permfail');
    assert.equal(byId.get(relay.id)?.outcome, 'tempfail');
  }, { mta: false }));

test('a permanent failure is replaced by a bounce envelope under the same message, in the same commit', () =>
  withQueue(async (a, rec, spool) => {
    const { msgid, envs } = await enqueue(a, [bytes(10)], 2);
    const [e1, e2] = envs as [Envelope, Envelope];
    a.mailbox.onDeliveryResults([
      { evpid: e1.id, status: 'permfail', errorline: '550 5.1.1 no such user\r\nX-Injected: 1', remote: true, remoteMta: 'mx.remote.test' },
      { evpid: e2.id, status: 'tempfail', errorline: '451 later' },
    ]);
    await a.drain();
    await until(() => rec.outcomes.length === 1 && rec.loads.length === 1);
    const [born] = rec.loads[0] as ScheduleEntry[];
    assert.equal(born?.type, 'bounce');
    assert.ok(born?.evpid.startsWith(msgid));
    const db = readDb(spool);
    const rows = db.prepare('SELECT evpid, type, json FROM envelope WHERE msgid = ? ORDER BY type').all(msgid) as { evpid: string; type: string; json: string }[];
    db.close();
    assert.deepEqual(rows.map((r) => r.type), ['bounce', 'mda'], 'the failed envelope is gone, its report and the deferred one stay');
    const stored = JSON.parse(rows[0]!.json) as Envelope;
    assert.equal(stored.report?.kind, 'failed');
    assert.equal(stored.report?.status, '5.1.1');
    assert.equal(stored.report?.diagnosticType, 'smtp');
    assert.equal(stored.report?.remoteMta, 'mx.remote.test');
    assert.equal(stored.report?.diagnostic, '550 5.1.1 no such user X-Injected: 1', 'one line of data');
    assert.equal(stored.sender, e1.sender);
  }));

test('restart: committed envelopes reach onEnvelopesLoad, uncommitted ones are purged', async () => {
  const t = tempSpool();
  try {
    const rec1 = newRec();
    const a1 = await startQueue(t.spool, rec1);
    const kept = await enqueue(a1, [bytes(50)], 3);
    const kept2 = await enqueue(a1, [bytes(50)], 1, { type: 'mta' });
    const open = unwrap(await reserveMsgid(a1.mailbox));
    const buf = bytes(64).buffer as ArrayBuffer;
    unwrap(await a1.mailbox.bodyAppend(open, transfer(buf, [buf])));
    await a1.stop();

    const rec2 = newRec();
    const a2 = await startQueue(t.spool, rec2);
    try {
      // Loads travel on the scheduler's channel, start() answers on the control lane: wait.
      await until(() => rec2.loads.flat().length >= 4);
      await new Promise((r) => setTimeout(r, 20));
      const loaded = rec2.loads.flat().map((e) => e.evpid).sort();
      assert.deepEqual(loaded, [...kept.envs, ...kept2.envs].map((e) => e.id).sort());
      assert.equal(rec2.loads.flat().find((e) => e.evpid === kept2.envs[0]?.id)?.type, 'mta');
      const db = readDb(t.spool);
      assert.equal(db.prepare('SELECT count(*) FROM message WHERE msgid = ?').pluck().get(open), 0);
      assert.equal(db.prepare('SELECT count(*) FROM chunk WHERE msgid = ?').pluck().get(open), 0);
      db.close();
      const stats = await a2.handle.ctl.stats();
      assert.equal(stats['queue.message'], 2);
      assert.equal(stats['queue.envelope'], 4);
    } finally {
      await a2.stop();
    }
  } finally {
    t.cleanup();
  }
});

test('reload: a checked order is taken (server name, delay warnings), a malformed one refused', () =>
  withQueue(async (a, _rec, spool) => {
    const next = queueInit(spool).config;
    next.serverName = 'renamed.test';
    next.bounce = { warnIntervals: [600] };
    assert.deepEqual(await a.mailbox.reload({ gen: 2, config: next }), { ok: true, notes: [] });
    const bad = await a.mailbox.reload({ gen: 3, config: { bounce: 'x' } });
    assert.equal(bad.ok, false);
  }));
