// Session limits: global and per-user caps, arrival order, grouping by message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SessionLimiter } from './limits.js';

test('per-user limit holds a user back without blocking others; order is kept', () => {
  const l = new SessionLimiter<string>(10, 2);
  for (let i = 0; i < 4; i++) l.add('alice', `m${i}`, `a${i}`);
  l.add('bob', 'm9', 'b0');
  const started = l.take().flatMap((g) => g.items.map((i) => i.item));
  assert.deepEqual(started, ['a0', 'a1', 'b0']);
  assert.equal(l.running, 3);
  assert.equal(l.pending, 2);
  assert.deepEqual(l.take(), []);
  l.release('alice');
  assert.deepEqual(l.take().flatMap((g) => g.items.map((i) => i.item)), ['a2']);
  assert.equal(l.users, 2);
});

test('global limit caps the total; releases start the next in arrival order', () => {
  const l = new SessionLimiter<number>(3, 7);
  for (let i = 0; i < 6; i++) l.add(`u${i}`, `m${i}`, i);
  assert.deepEqual(l.take().flatMap((g) => g.items.map((i) => i.item)), [0, 1, 2]);
  l.release('u1');
  assert.deepEqual(l.take().flatMap((g) => g.items.map((i) => i.item)), [3]);
  assert.equal(l.running, 3);
});

test('envelopes of one message start together (one body read) when the limits allow', () => {
  const l = new SessionLimiter<string>(50, 7);
  l.add('a', 'm1', 'e1');
  l.add('b', 'm2', 'e2');
  l.add('c', 'm1', 'e3');
  l.add('d', 'm1', 'e4');
  const groups = l.take();
  assert.deepEqual(groups.map((g) => [g.msgid, g.items.map((i) => i.item)]), [['m1', ['e1', 'e3', 'e4']], ['m2', ['e2']]]);
});

test('drain answers what never started', () => {
  const l = new SessionLimiter<string>(1, 1);
  l.add('a', 'm1', 'x');
  l.add('a', 'm2', 'y');
  l.take();
  assert.deepEqual(l.drain(), ['y']);
  assert.equal(l.pending, 0);
});

test('reloaded limits (setLimits) apply to the next deliveries started', () => {
  const l = new SessionLimiter<number>(1, 7);
  for (let i = 0; i < 4; i++) l.add(`u${i}`, `m${i}`, i);
  assert.deepEqual(l.take().flatMap((g) => g.items.map((i) => i.item)), [0]);
  l.setLimits(3, 7);
  assert.deepEqual(l.take().flatMap((g) => g.items.map((i) => i.item)), [1, 2]);
  assert.equal(l.running, 3);
});
