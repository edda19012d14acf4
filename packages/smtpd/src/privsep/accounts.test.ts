// The privileged side's checks of what the actor process asks: a helper only for a real
// non-root account with its primary group; system passwords through unix_chkpwd; ~/.forward
// read with its owner and mode checked. The account tests need root (useradd, chpasswd).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AccountCache, lookupAccount, validateHelperRequest } from './accounts.js';
import { checkSystemPassword, readForwardFile } from './root-ops.js';

const isRoot = process.getuid?.() === 0;
const USER = 'tsmtpd-pw1';

function ensureUser(): { uid: number; gid: number; home: string } {
  if (spawnSync('id', [USER]).status !== 0) spawnSync('useradd', ['-m', '-s', '/usr/sbin/nologin', USER]);
  const r = spawnSync('getent', ['passwd', USER], { encoding: 'utf8' });
  const f = r.stdout.trim().split(':');
  return { uid: Number(f[2]), gid: Number(f[3]), home: f[5]! };
}

test('a helper is refused for uid 0, an unknown uid, a foreign gid; granted for a real account', async () => {
  assert.deepEqual(await validateHelperRequest(0, 0), { ok: false, error: 'no delivery helper runs as root' });
  const none = await validateHelperRequest(3_999_999, 3_999_999);
  assert.ok(!none.ok && /not an account/.test(none.error));
  assert.ok(!(await validateHelperRequest(-1, 5)).ok);
  assert.ok(!(await validateHelperRequest(1.5, 5)).ok);
  // A lookup that lies about the uid (a stale cache, a crafted NSS answer) is refused too.
  const liar = await validateHelperRequest(42, 42, async () => ({ name: 'x', uid: 0, gid: 42, home: '/' }));
  assert.ok(!liar.ok);
  const nobody = await lookupAccount('nobody');
  assert.ok(nobody && nobody.uid !== 0);
  const granted = await validateHelperRequest(nobody.uid, nobody.gid);
  assert.ok(granted.ok && granted.account.name === 'nobody');
  const wrongGid = await validateHelperRequest(nobody.uid, 0);
  assert.ok(!wrongGid.ok && /primary group/.test(wrongGid.error));
});

test('account names that could be options or numbers are not looked up', async () => {
  assert.equal(await lookupAccount('-x'), null);
  assert.equal(await lookupAccount('123'), null);
  assert.equal(await lookupAccount('a b'), null);
  assert.equal(await lookupAccount('root:x'), null);
});

test('system password check: right, wrong, unknown user, NUL/CR/LF', { skip: !isRoot && 'needs root' }, async () => {
  ensureUser();
  const set = spawnSync('chpasswd', [], { input: `${USER}:Corr3ct-horse\n`, encoding: 'utf8' });
  assert.equal(set.status, 0, set.stderr);
  assert.equal(await checkSystemPassword(USER, 'Corr3ct-horse'), true);
  assert.equal(await checkSystemPassword(USER, 'wrong'), false);
  assert.equal(await checkSystemPassword(USER, 'Corr3ct-horse\n'), false);
  assert.equal(await checkSystemPassword(USER, 'Corr3ct\0horse'), false);
  assert.equal(await checkSystemPassword('tsmtpd-no-such-user', 'x'), false);
});

test('~/.forward: read when safe; none; refused when writable by others or a link', { skip: !isRoot && 'needs root' }, async () => {
  const u = ensureUser();
  mkdirSync(u.home, { recursive: true });
  const f = join(u.home, '.forward');
  rmSync(f, { force: true });
  try {
    assert.deepEqual(await readForwardFile(USER), { text: null });
    writeFileSync(f, 'someone@example.org\n', { mode: 0o644 });
    chownSync(f, u.uid, u.gid);
    assert.deepEqual(await readForwardFile(USER), { text: 'someone@example.org\n' });
    chmodSync(f, 0o666);
    assert.ok('error' in (await readForwardFile(USER)));
    rmSync(f);
    symlinkSync('/etc/shadow', f);
    const link = await readForwardFile(USER);
    assert.ok('error' in link, JSON.stringify(link));
  } finally {
    rmSync(f, { force: true });
  }
});

test('AccountCache: one lookup per name within its lifetime, again after it; unknown names kept shorter', async () => {
  let calls = 0;
  const lookup = async (name: string) => (calls++, name === 'alice' ? { name, uid: 1000, gid: 1000, home: '/home/alice' } : null);
  let clock = 1_000;
  const cache = new AccountCache(60, 20, lookup, 4096, () => clock);
  assert.equal((await cache.get('alice'))?.uid, 1000);
  assert.equal((await cache.get('alice'))?.uid, 1000);
  assert.equal(calls, 1, 'the second get is served from memory');
  assert.equal(await cache.get('ghost'), null);
  clock += 30;
  assert.equal(await cache.get('ghost'), null);
  assert.equal(calls, 3, 'an unknown name is looked up again after the negative lifetime');
  await cache.get('alice');
  assert.equal(calls, 3, 'a known one is still remembered');
  clock += 40;
  await cache.get('alice');
  assert.equal(calls, 4, 'and looked up again after its lifetime');
});
