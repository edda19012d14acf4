// Hold queues in the RAM backend with a fake clock (REFERENCE 5.6): park, overflow at 1000,
// FIFO release, deadline and expiry while held, and control (schedule, pause, remove) of held ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ScheduleEntry } from '@tsmtpd/proto';
import { RamSchedulerBackend } from './ram-backend.js';
import { HOLDQ_MAX, HOLD_MAX_S } from './hold.js';
import { nextAttempt } from './backoff.js';
import { FakeClock, entry, testMsgid } from './test-helpers.js';

function setup(): { clock: FakeClock; b: RamSchedulerBackend } {
  const clock = new FakeClock();
  return { clock, b: new RamSchedulerBackend({ now: clock.now }) };
}

/** Load `n` fresh mta envelopes of one message, dispatch them all and hold them on `holdq`. */
function heldOn(b: RamSchedulerBackend, clock: FakeClock, n: number, holdq: string, over: Partial<ScheduleEntry> = {}): ScheduleEntry[] {
  const m = testMsgid();
  const es = Array.from({ length: n }, (_, i) => entry(m, i + 1, { ctime: clock.t, type: 'mta', ...over }));
  b.load(es);
  const work = b.takeDue(n);
  assert.equal(work.dispatch.length, n);
  // In dispatch order, which is the order the relay would send them back in.
  b.outcomes(work.dispatch.map((d) => ({ evpid: d.evpid, outcome: 'hold' as const, holdq })));
  return work.dispatch.map((d) => es.find((e) => e.evpid === d.evpid) as ScheduleEntry);
}

test('hold parks the envelope: not in flight, not in the run queue, retry unchanged', () => {
  const { clock, b } = setup();
  const [e] = heldOn(b, clock, 1, 'relay-a');
  const s = b.stats();
  assert.equal(b.inflight, 0);
  assert.equal(s['scheduler.ramqueue.hold'], 1);
  assert.equal(s['scheduler.ramqueue.holdq'], 1);
  assert.equal(s['scheduler.ramqueue.envelope'], 0);
  assert.equal(s['scheduler.delivery.tempfail'], 0, 'a hold is not an attempt');
  assert.equal(s['scheduler.envelope'], 1);
  assert.deepEqual(b.takeDue(10), { dispatch: [], expire: [] });
  assert.equal(b.nextDue(), clock.t + HOLD_MAX_S, 'only the hold deadline is pending');
  assert.equal(b.envelopes('', 10)[0]?.state, 'held');
  assert.equal(b.envelopes('', 10)[0]?.evpid, e?.evpid);
});

test('a hold queue keeps 1000; the 1001st is rescheduled on the 3 s grid (hold-overflow)', () => {
  const { clock, b } = setup();
  const m = testMsgid();
  const es = Array.from({ length: HOLDQ_MAX + 1 }, (_, i) => entry(m, i + 1, { ctime: clock.t - 5, type: 'mta' }));
  b.load(es);
  const work = b.takeDue(HOLDQ_MAX + 1);
  b.outcomes(work.dispatch.map((d) => ({ evpid: d.evpid, outcome: 'hold' as const, holdq: 'relay-a' })));
  const s = b.stats();
  assert.equal(s['scheduler.ramqueue.hold'], HOLDQ_MAX);
  assert.equal(s['scheduler.ramqueue.hold-overflow'], 1);
  assert.equal(s['scheduler.ramqueue.envelope'], 1);
  // ctime - 5: grid ctime + 3 k^2 -> +3 is gone, +12 is next (7 s from now).
  assert.equal(b.nextDue(), nextAttempt(clock.t - 5, 3, 0, clock.t));
  assert.equal(b.nextDue(), clock.t + 7);
  clock.advance(7);
  const again = b.takeDue(10).dispatch;
  assert.deepEqual(again.map((d) => d.evpid), [work.dispatch[HOLDQ_MAX]?.evpid]);
  // Another relay's queue is not full.
  b.outcomes([{ evpid: again[0]?.evpid ?? '', outcome: 'hold', holdq: 'relay-b' }]);
  assert.equal(b.stats()['scheduler.ramqueue.holdq'], 2);
  assert.equal(b.stats()['scheduler.ramqueue.hold-overflow'], 1);
});

test('release makes held envelopes due now, oldest first, and drops an emptied queue', () => {
  const { clock, b } = setup();
  const held = heldOn(b, clock, 5, 'relay-a');
  clock.advance(20);
  assert.equal(b.release('relay-a', 2), 2);
  assert.equal(b.release('nobody', 2), 0);
  assert.equal(b.nextDue(), clock.t);
  // The two oldest are released (dispatch order among envelopes due at the same second is free).
  const ids = (xs: { evpid: string }[]): string[] => xs.map((x) => x.evpid).sort();
  assert.deepEqual(ids(b.takeDue(10).dispatch), ids(held.slice(0, 2)));
  assert.equal(b.stats()['scheduler.ramqueue.hold'], 3);
  assert.equal(b.release('relay-a', 100), 3);
  assert.deepEqual(ids(b.takeDue(10).dispatch), ids(held.slice(2)));
  assert.equal(b.stats()['scheduler.ramqueue.holdq'], 0);
  assert.equal(b.stats()['scheduler.ramqueue.hold-released'], 5);
  assert.equal(b.release('relay-a', 0), 0);
});

test('never released: dispatched again after the hold deadline; expired if expiry comes first', () => {
  const { clock, b } = setup();
  const [longLived] = heldOn(b, clock, 1, 'relay-a');
  const [shortLived] = heldOn(b, clock, 1, 'relay-a', { ttl: 60 });
  assert.equal(b.nextDue(), clock.t + 60);
  clock.advance(59);
  assert.deepEqual(b.takeDue(10), { dispatch: [], expire: [] });
  clock.advance(1);
  assert.deepEqual(b.takeDue(10), { dispatch: [], expire: [shortLived?.evpid] });
  clock.advance(HOLD_MAX_S - 60);
  assert.deepEqual(b.takeDue(10).dispatch.map((d) => d.evpid), [longLived?.evpid]);
  const s = b.stats();
  assert.equal(s['scheduler.ramqueue.hold'], 0);
  assert.equal(s['scheduler.ramqueue.hold-timeout'], 2);
  assert.equal(b.inflight, 2);
});

test('schedule, pause/resume and remove reach held envelopes', () => {
  const { clock, b } = setup();
  const [a, c, d] = heldOn(b, clock, 3, 'relay-a');
  clock.advance(30);
  // smtpctl schedule <evpid>: out of the hold queue, due now.
  assert.equal(b.scheduleNow(a?.evpid ?? ''), 1);
  assert.deepEqual(b.takeDue(10).dispatch.map((x) => x.evpid), [a?.evpid]);
  // smtpctl pause envelope: out of the hold queue; resume makes it due at once.
  assert.equal(b.suspend(c?.evpid ?? ''), 1);
  assert.equal(b.stats()['scheduler.envelope.suspended'], 1);
  assert.equal(b.release('relay-a', 10), 1, 'only the one still held');
  assert.equal(b.resume(c?.evpid ?? ''), 1);
  assert.deepEqual(b.takeDue(10).dispatch.map((x) => x.evpid).sort(), [c?.evpid, d?.evpid].sort());
  // smtpctl remove: the queue deletes it and reports `removed`, also for a held one.
  b.outcomes([{ evpid: d?.evpid ?? '', outcome: 'hold', holdq: 'relay-a' }]);
  assert.equal(b.stats()['scheduler.ramqueue.hold'], 1);
  b.outcomes([{ evpid: d?.evpid ?? '', outcome: 'removed' }]);
  const s = b.stats();
  assert.equal(s['scheduler.ramqueue.hold'], 0);
  assert.equal(s['scheduler.ramqueue.holdq'], 0);
  assert.equal(s['scheduler.envelope.removed'], 1);
  assert.equal(b.release('relay-a', 10), 0);
  assert.equal(b.nextDue(), null, 'no stale deadline left behind');
});

test('schedule by msgid releases every held envelope of the message', () => {
  const { clock, b } = setup();
  const held = heldOn(b, clock, 4, 'relay-a');
  assert.equal(b.scheduleNow(held[0]?.evpid.slice(0, 8) ?? ''), 4);
  assert.equal(b.stats()['scheduler.ramqueue.hold'], 0);
  assert.equal(b.takeDue(10).dispatch.length, 4);
});

test('hold is ignored unless in flight; without a hold queue it is an overflow', () => {
  const { clock, b } = setup();
  const m = testMsgid();
  const e = entry(m, 1, { ctime: clock.t, type: 'mta' });
  b.load([e]);
  b.outcomes([{ evpid: e.evpid, outcome: 'hold', holdq: 'relay-a' }]);
  assert.equal(b.stats()['scheduler.ramqueue.hold'], 0, 'pending, not in flight: ignored');
  b.takeDue(1);
  b.outcomes([{ evpid: e.evpid, outcome: 'hold' }]);
  assert.equal(b.stats()['scheduler.ramqueue.hold-overflow'], 1);
  assert.equal(b.stats()['scheduler.ramqueue.envelope'], 1);
});
