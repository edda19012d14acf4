import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isValidUserName, parsePasswdLine, SystemUsers } from './users.js';

test('isValidUserName: strict, no options, no uids, no shell metacharacters', () => {
  for (const ok of ['root', 'daemon', 'www-data', '_smtpd', 'user.name', 'host$', 'a1']) assert.equal(isValidUserName(ok), true, ok);
  for (const bad of ['', '-n', '.hidden', '0', '1000', 'a b', 'a;b', 'a/b', 'a:b', 'x'.repeat(40), 'root\n', '$(id)', 'é']) {
    assert.equal(isValidUserName(bad), false, JSON.stringify(bad));
  }
});

test('parsePasswdLine', () => {
  assert.deepEqual(parsePasswdLine('bob:x:1000:1001:Bob,,,:/home/bob:/bin/sh'), { name: 'bob', uid: 1000, gid: 1001, dir: '/home/bob', shell: '/bin/sh' });
  assert.equal(parsePasswdLine('bob:x:1000:1001:/home/bob:/bin/sh'), null);
  assert.equal(parsePasswdLine('bob:x:-1:0::/:/bin/sh'), null);
  assert.equal(parsePasswdLine(''), null);
});

test('system users that exist everywhere: root, daemon, nobody; unknown users', async () => {
  const users = new SystemUsers();
  const root = await users.lookup('root');
  assert.ok('found' in root && root.found && root.user.uid === 0 && root.user.name === 'root');
  const daemon = await users.lookup('daemon');
  assert.ok('found' in daemon && daemon.found && daemon.user.uid > 0);
  const nobody = await users.lookup('nobody');
  assert.ok('found' in nobody && nobody.found);
  assert.deepEqual(await users.lookup('no-such-user-xyz'), { found: false });
  assert.deepEqual(await users.lookup('0'), { found: false }, 'a uid is not a name');
  assert.deepEqual(await users.lookup('-s'), { found: false });
});

function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lka-users-'));
  return fn(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

test('without getent, /etc/passwd-format file is parsed', () =>
  withDir(async (dir) => {
    const passwd = join(dir, 'passwd');
    writeFileSync(passwd, '# comment\nroot:x:0:0:root:/root:/bin/sh\nvmail:x:5000:5000::/var/vmail:/usr/sbin/nologin\n');
    const users = new SystemUsers({ getentPath: join(dir, 'no-getent'), passwdFile: passwd });
    assert.deepEqual(await users.lookup('vmail'), { found: true, user: { name: 'vmail', uid: 5000, gid: 5000, dir: '/var/vmail', shell: '/usr/sbin/nologin' } });
    assert.deepEqual(await users.lookup('vmai'), { found: false });
  }));

test('a getent that hangs is a temporary failure after the timeout', () =>
  withDir(async (dir) => {
    const slow = join(dir, 'getent');
    writeFileSync(slow, '#!/bin/sh\nexec sleep 5\n');
    chmodSync(slow, 0o755);
    const users = new SystemUsers({ getentPath: slow, timeoutMs: 200 });
    const t0 = Date.now();
    const r = await users.lookup('root');
    assert.ok('error' in r && /timed out/.test(r.error));
    assert.ok(Date.now() - t0 < 3000);
  }));

test('results are cached; concurrent lookups share one getent call; errors are not cached', () =>
  withDir(async (dir) => {
    const calls = join(dir, 'calls');
    const fake = join(dir, 'getent');
    writeFileSync(calls, '');
    writeFileSync(fake, `#!/bin/sh\necho "$2" >> ${calls}\n[ "$2" = bob ] && echo 'bob:x:1000:1000::/home/bob:/bin/sh' && exit 0\n[ "$2" = err ] && exit 1\nexit 2\n`);
    chmodSync(fake, 0o755);
    const users = new SystemUsers({ getentPath: fake });
    const [a, b] = await Promise.all([users.lookup('bob'), users.lookup('bob')]);
    assert.deepEqual(a, b);
    assert.ok('found' in a && a.found && a.user.dir === '/home/bob');
    await users.lookup('bob');
    await users.lookup('ghost');
    await users.lookup('ghost');
    assert.ok('error' in (await users.lookup('err')));
    await users.lookup('err');
    assert.deepEqual(readFileSync(calls, 'utf8').trim().split('\n'), ['bob', 'ghost', 'err', 'err']);
    users.clear();
    await users.lookup('bob');
    assert.equal(readFileSync(calls, 'utf8').trim().split('\n').length, 5);
  }));

test('an answer for another name (alias, uid) is not taken', () =>
  withDir(async (dir) => {
    const fake = join(dir, 'getent');
    writeFileSync(fake, "#!/bin/sh\necho 'root:x:0:0::/root:/bin/sh'\n");
    chmodSync(fake, 0o755);
    assert.deepEqual(await new SystemUsers({ getentPath: fake }).lookup('toor'), { found: false });
  }));
