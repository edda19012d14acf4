// The mda's short memory of users: a hit within the lifetime, keyed by userbase too, gone after.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UserCache } from './user-cache.js';

test('users are remembered per name and userbase for the lifetime only', async () => {
  const c = new UserCache(40);
  const alice = { username: 'alice', uid: 1000, gid: 1000, directory: '/home/alice' };
  assert.equal(c.get('alice', null), null);
  c.set('alice', null, alice);
  assert.deepEqual(c.get('alice', null), alice);
  assert.equal(c.get('alice', 'virtual'), null, 'another userbase is another user');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(c.get('alice', null), null, 'forgotten after the lifetime');
});
