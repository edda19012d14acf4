// RamSchedulerBackend with a fake clock: changesets, retry grid, expiry, load, control operations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RamSchedulerBackend } from './ram-backend.js';
import { FakeClock, entry, testMsgid } from './test-helpers.js';

function setup(): { clock: FakeClock; b: RamSchedulerBackend } {
  const clock = new FakeClock();
  return { clock, b: new RamSchedulerBackend({ now: clock.now }) };
}

test('nothing is dispatched before commit; commit makes the changeset due at once', () => {
  const { clock, b } = setup();
  const m = testMsgid();
  assert.equal(b.insert([entry(m, 1, { ctime: clock.t }), entry(m, 2, { ctime: clock.t, type: 'mta' })]), 2);
  assert.equal(b.nextDue(), null);
  assert.deepEqual(b.takeDue(10), { dispatch: [], expire: [] });
  assert.equal(b.stats()['scheduler.envelope.incoming'], 2);
  assert.equal(b.commit(m), 2);
  assert.equal(b.nextDue(), clock.t);
  const work = b.takeDue(10);
  assert.deepEqual(work.dispatch.map((d) => d.type).sort(), ['mda', 'mta']);
  assert.equal(b.inflight, 2);
  assert.equal(b.nextDue(), null);
});

test('rollback drops the changeset, commit after it finds nothing', () => {
  const { b } = setup();
  const m = testMsgid();
  b.insert([entry(m, 1), entry(m, 2)]);
  assert.equal(b.rollback(m), 2);
  assert.equal(b.commit(m), 0);
  assert.equal(b.nextDue(), null);
  assert.equal(b.stats()['scheduler.envelope'], 0);
  assert.equal(b.stats()['scheduler.envelope.incoming'], 0);
});

test('tempfail reschedules at ctime + 10 k^2 for mda, 400 k^2 for mta', () => {
  const { clock, b } = setup();
  const m = testMsgid();
  const ctime = clock.t;
  const mda = entry(m, 1, { ctime });
  const mta = entry(m, 2, { ctime, type: 'mta' });
  b.insert([mda, mta]);
  b.commit(m);
  b.takeDue(10);
  clock.advance(2);
  b.outcomes([{ evpid: mda.evpid, outcome: 'tempfail', retry: 1, lastTry: clock.t }, { evpid: mta.evpid, outcome: 'tempfail', retry: 1 }]);
  assert.equal(b.inflight, 0);
  assert.equal(b.nextDue(), ctime + 10);
  clock.t = ctime + 9;
  assert.equal(b.takeDue(10).dispatch.length, 0);
  clock.t = ctime + 10;
  assert.deepEqual(b.takeDue(10).dispatch, [{ evpid: mda.evpid, type: 'mda' }]);
  b.outcomes([{ evpid: mda.evpid, outcome: 'tempfail', retry: 2 }]);
  assert.equal(b.nextDue(), ctime + 40);
  clock.t = ctime + 41;
  b.takeDue(10);
  // retry 3 reported late (+95 s): 90 is gone, the next slot is 160.
  clock.t = ctime + 95;
  b.outcomes([{ evpid: mda.evpid, outcome: 'tempfail', retry: 3 }]);
  assert.equal(b.nextDue(), ctime + 160);
  b.suspend(mda.evpid);
  assert.equal(b.nextDue(), ctime + 400);
  assert.equal(b.stats()['scheduler.delivery.tempfail'], 4);
});

test('ok, permfail, loop, removed and expired forget the envelope; unknown ids are ignored', () => {
  const { b } = setup();
  const m = testMsgid();
  const outcomes = ['ok', 'permfail', 'loop', 'removed', 'expired'] as const;
  b.insert(outcomes.map((_, i) => entry(m, i + 1)));
  b.commit(m);
  const work = b.takeDue(100);
  assert.equal(work.dispatch.length, 5);
  b.outcomes(work.dispatch.map((d, i) => ({ evpid: d.evpid, outcome: outcomes[i] ?? 'ok' })));
  b.outcomes([{ evpid: 'ffffffffffffffff', outcome: 'ok' }]);
  const s = b.stats();
  assert.equal(s['scheduler.envelope'], 0);
  assert.equal(b.inflight, 0);
  assert.equal(s['scheduler.delivery.ok'], 1);
  assert.equal(s['scheduler.delivery.permfail'], 1);
  assert.equal(s['scheduler.envelope.expired'], 1);
});

test('an envelope whose expiry comes while pending is handed out as expired', () => {
  const { clock, b } = setup();
  const m = testMsgid();
  const e = entry(m, 1, { ctime: clock.t, ttl: 100, type: 'mta' });
  b.insert([e]);
  b.commit(m);
  b.takeDue(1);
  b.outcomes([{ evpid: e.evpid, outcome: 'tempfail', retry: 1 }]);
  // next try would be ctime+400, past the expiry at ctime+100
  assert.equal(b.nextDue(), e.ctime + 100);
  clock.t = e.ctime + 99;
  assert.deepEqual(b.takeDue(5), { dispatch: [], expire: [] });
  clock.t = e.ctime + 100;
  assert.deepEqual(b.takeDue(5), { dispatch: [], expire: [e.evpid] });
  assert.equal(b.inflight, 1);
  b.outcomes([{ evpid: e.evpid, outcome: 'expired' }]);
  assert.equal(b.stats()['scheduler.envelope.expired'], 1);
});

test('a tempfail past expiry expires on the next pass', () => {
  const { clock, b } = setup();
  const m = testMsgid();
  const e = entry(m, 1, { ctime: clock.t - 1000, ttl: 500 });
  b.load([e]);
  assert.deepEqual(b.takeDue(5).expire, [e.evpid]);
});

test('load: retry 0 is due now, a retried envelope resumes its grid, duplicates are ignored', () => {
  const { clock, b } = setup();
  const m = testMsgid();
  const fresh = entry(m, 1, { ctime: clock.t - 5 });
  const retried = entry(m, 2, { ctime: clock.t - 15, retry: 2, lastTry: clock.t - 3 });
  assert.equal(b.load([fresh, retried]), 2);
  assert.equal(b.load([fresh]), 0);
  assert.equal(b.insert([fresh]), 0);
  assert.deepEqual(b.takeDue(10).dispatch.map((d) => d.evpid), [fresh.evpid]);
  assert.equal(b.nextDue(), retried.ctime + 40);
});

test('takeDue respects its limit and hands out the earliest first', () => {
  const { clock, b } = setup();
  const m = testMsgid();
  const entries = [3, 1, 2].map((k) => entry(m, k, { ctime: clock.t - 100 * k, retry: 1, lastTry: clock.t - 100 * k + 1 }));
  b.load(entries);
  clock.advance(1000);
  const first = b.takeDue(2);
  assert.equal(first.dispatch.length, 2);
  assert.deepEqual(first.dispatch.map((d) => d.evpid), [entries[0]?.evpid, entries[2]?.evpid]);
  assert.equal(b.takeDue(2).dispatch.length, 1);
});

test('scheduleNow, suspend and resume by evpid and by msgid', () => {
  const { clock, b } = setup();
  const m = testMsgid();
  const es = [1, 2].map((n) => entry(m, n, { ctime: clock.t, retry: 1, lastTry: clock.t }));
  b.load(es);
  assert.equal(b.nextDue(), clock.t + 10);
  assert.equal(b.scheduleNow(es[0]?.evpid ?? ''), 1);
  assert.equal(b.nextDue(), clock.t);
  assert.equal(b.suspend(m), 2);
  assert.equal(b.nextDue(), null);
  assert.equal(b.stats()['scheduler.envelope.suspended'], 2);
  assert.equal(b.resume(m), 2);
  assert.equal(b.takeDue(10).dispatch.length, 1);
});

test('listings page through committed messages and envelopes in id order, incoming left out', () => {
  const { clock, b } = setup();
  const ms = [testMsgid(), testMsgid(), testMsgid()];
  for (const m of ms) b.load([3, 1, 2].map((n) => entry(m, n, { ctime: clock.t })));
  const open = testMsgid();
  b.insert([entry(open, 1)]);
  assert.deepEqual(b.messages('', 2), ms.slice(0, 2));
  assert.deepEqual(b.messages(ms[1] ?? '', 2), [ms[2]]);
  assert.deepEqual(b.messages(ms[2] ?? '', 2), []);
  const all: string[] = [];
  for (let page = b.envelopes('', 4); page.length > 0; page = b.envelopes(page[page.length - 1]?.evpid ?? '', 4)) {
    assert.ok(page.length <= 4);
    all.push(...page.map((e) => e.evpid));
  }
  assert.equal(all.length, 9);
  assert.deepEqual(all, [...all].sort());
  assert.ok(!all.some((e) => e.startsWith(open)));
  assert.equal(b.envelopes('', 1)[0]?.state, 'pending');
});
