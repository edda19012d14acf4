// Unit tests of the AUTH failure throttle: a random pause under a second, then a delay that
// doubles with each recent failure from the same address, capped; forgotten after the window
// or a success; the table of addresses stays bounded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AUTH_FAILURE_WINDOW_MS, AuthThrottle, MAX_AUTH_PENALTY_MS, hasForbiddenChars } from './auth.js';

test('AuthThrottle: 0-1 s, then +1 s, +2 s, +4 s ... capped; per address; reset by success and by time', () => {
  const t = new AuthThrottle(() => 0.5);
  const now = 1_000_000;
  assert.deepEqual([1, 2, 3, 4].map((i) => t.fail('192.0.2.1', now + i)), [500, 1500, 2500, 4500]);
  assert.equal(t.fail('192.0.2.2', now), 500, 'another address starts afresh');
  for (let i = 0; i < 20; i++) t.fail('192.0.2.1', now + 10 + i);
  assert.equal(t.fail('192.0.2.1', now + 40), 500 + MAX_AUTH_PENALTY_MS);
  t.succeed('192.0.2.1');
  assert.equal(t.recent('192.0.2.1', now + 41), 0);
  t.fail('192.0.2.3', now);
  assert.equal(t.recent('192.0.2.3', now + AUTH_FAILURE_WINDOW_MS + 1), 0);
  assert.equal(t.fail('192.0.2.3', now + AUTH_FAILURE_WINDOW_MS + 1), 500, 'an old failure no longer counts');
});

test('AuthThrottle: at most 10,000 addresses remembered, the oldest forgotten first', () => {
  const t = new AuthThrottle(() => 0);
  for (let i = 0; i < 10_050; i++) t.fail(`10.0.${i >> 8}.${i & 255}`, 1000);
  assert.equal(t.recent('10.0.0.0', 1000), 0);
  assert.equal(t.recent('10.0.39.65', 1000), 1);
});

test('CR, LF and NUL are the forbidden characters of user names and passwords', () => {
  for (const s of ['a\rb', 'a\nb', 'a\0b']) assert.equal(hasForbiddenChars(s), true, JSON.stringify(s));
  for (const s of ['alice', 'p w\t!', 'é']) assert.equal(hasForbiddenChars(s), false, s);
});
