// The retry grid against the table of REFERENCE 5.3.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nextAttempt, RETRY_BASE } from './backoff.js';

const C = 1_700_000_000;

test('relay grid follows ctime + 400 k^2 (REFERENCE 5.3)', () => {
  assert.equal(nextAttempt(C, 400, 1, C + 5), C + 400);
  assert.equal(nextAttempt(C, 400, 2, C + 401), C + 1600);
  assert.equal(nextAttempt(C, 400, 3, C + 1601), C + 3600);
  assert.equal(nextAttempt(C, 400, 29, C + 300_000) - C, 400 * 29 * 29);
});

test('local grid follows ctime + 10 k^2 and skips missed slots', () => {
  assert.equal(nextAttempt(C, 10, 1, C + 1), C + 10);
  assert.equal(nextAttempt(C, 10, 2, C + 11), C + 40);
  // retry 1, but the attempt ended at +95 s: slots at 10, 40, 90 are gone, next is 160.
  assert.equal(nextAttempt(C, 10, 1, C + 95), C + 160);
  // exactly on a slot: strictly after
  assert.equal(nextAttempt(C, 10, 1, C + 90), C + 160);
  assert.deepEqual(RETRY_BASE, [10, 400, 10]);
});

test('a stale ctime does not loop long and still lands after now', () => {
  const now = C;
  const t = nextAttempt(0, 10, 1, now);
  assert.ok(t > now);
  assert.ok(t - now < 2 * Math.sqrt(now / 10) * 10 + 10);
});
