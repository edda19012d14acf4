// Bodies sent along with envelopes: held until every envelope of the message started, bounded
// in bytes, anything but ArrayBuffer[] ignored.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeptBodies } from './kept-bodies.js';

const buf = (n: number): ArrayBuffer => new Uint8Array(n).fill(65).buffer;

test('a body is held for each envelope added and let go when the last one starts', () => {
  const k = new KeptBodies(100);
  k.add('aaaaaaaa', [buf(10), buf(5)]);
  k.add('aaaaaaaa', undefined); // a second envelope of the message
  assert.equal(k.take('aaaaaaaa', 1)?.reduce((n, c) => n + c.byteLength, 0), 15);
  assert.equal(k.size, 1, 'one envelope still to start');
  assert.ok(k.take('aaaaaaaa', 1));
  assert.equal(k.size, 0);
  assert.equal(k.take('aaaaaaaa', 1), null);
});

test('beyond the byte bound, or of the wrong shape, a body is not held', () => {
  const k = new KeptBodies(100);
  k.add('aaaaaaaa', [buf(80)]);
  k.add('bbbbbbbb', [buf(30)]);
  assert.equal(k.take('bbbbbbbb', 1), null, 'over the bound: read from the queue');
  k.add('cccccccc', ['text']);
  k.add('dddddddd', { length: 1 });
  assert.equal(k.take('cccccccc', 1), null);
  assert.equal(k.take('dddddddd', 1), null);
  assert.ok(k.take('aaaaaaaa', 1));
  k.add('bbbbbbbb', [buf(30)]);
  assert.ok(k.take('bbbbbbbb', 1), 'room again once the first was let go');
});
