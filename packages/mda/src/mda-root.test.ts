// Run as root only: deliveries to a real non-root user (tsmtpd-t1, created with useradd if
// missing) run with that user's uid/gid: maildir and mbox through the per-uid helper process,
// mda commands spawned with the uid/gid. Files end up owned by the user.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { defaultConfig } from '@tsmtpd/config';
import type { UserInfo } from '@tsmtpd/proto';
import { action, envelope, startMda } from './test-actor.js';
import { pythonRead, tempDir } from './test-util.js';

const USER = 'tsmtpd-t1';
const isRoot = process.getuid?.() === 0;

function systemUser(name: string): UserInfo | null {
  const r = spawnSync('getent', ['passwd', name], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  const [username, , uid, gid, , directory] = r.stdout.trim().split(':');
  return { username: username!, uid: Number(uid), gid: Number(gid), directory: directory! };
}

function ensureUser(): UserInfo {
  let u = systemUser(USER);
  if (!u) {
    const r = spawnSync('useradd', ['-m', '-s', '/bin/sh', USER], { encoding: 'utf8' });
    assert.equal(r.status, 0, `useradd failed: ${r.stderr}`);
    u = systemUser(USER);
  }
  assert.ok(u && u.uid !== 0, 'a non-root test user');
  if (!existsSync(u.directory)) mkdirSync(u.directory, { mode: 0o755 });
  spawnSync('chown', [`${u.uid}:${u.gid}`, u.directory]);
  return u;
}

const MSG = 'Subject: as the user\n\nFrom here on\nbody\n';

test('as root: maildir, mbox and mda command deliveries run as the recipient', { skip: !isRoot && 'needs root' }, async () => {
  const user = ensureUser();
  const spool = tempDir('root-spool', 0o755); // like /var/mail: root-owned, not writable by users
  const out = tempDir('root-out', 0o1777);
  const closed = tempDir('root-closed', 0o755);
  const maildirName = `Maildir-tsmtpd-test-${process.pid}`;
  const config = defaultConfig('mx.test');
  config.actions = {
    md: action('md', { kind: 'maildir', path: `~/${maildirName}`, junk: false }),
    mb: action('mb', { kind: 'mbox' }),
    cmd: action('cmd', { kind: 'mda', command: `cat > /dev/null; id -u > ${out.path}/uid; id -g >> ${out.path}/uid; pwd >> ${out.path}/uid` }),
    bad: action('bad', { kind: 'maildir', path: `${closed.path}/sub/Maildir`, junk: false }),
  };
  const h = await startMda(config, new Map([['12345678', MSG], ['23456789', MSG]]), { [USER]: user }, { mailSpool: spool.path });
  try {
    const base = { mdaUser: USER, dest: `${USER}@y.org`, rcpt: `${USER}@y.org` };
    await h.deliver([
      envelope('1234567800000001', { ...base, dispatcher: 'md' }),
      envelope('1234567800000002', { ...base, dispatcher: 'mb' }),
      envelope('1234567800000003', { ...base, dispatcher: 'cmd' }),
      envelope('1234567800000004', { ...base, dispatcher: 'bad' }),
    ]);
    const r = Object.fromEntries((await h.waitResults(4)).map((x) => [x.evpid, x]));
    assert.equal(r['1234567800000001']?.status, 'ok', r['1234567800000001']?.errorline);
    assert.equal(r['1234567800000002']?.status, 'ok', r['1234567800000002']?.errorline);
    assert.equal(r['1234567800000003']?.status, 'ok', r['1234567800000003']?.errorline);
    assert.equal(r['1234567800000004']?.status, 'tempfail', 'the user may not create a maildir under a root-owned directory');
    assert.match(r['1234567800000004']!.errorline, /EACCES/);

    const md = join(user.directory, maildirName);
    for (const p of [md, join(md, 'new'), join(md, 'tmp'), join(md, 'cur')]) assert.equal(statSync(p).uid, user.uid, p);
    const files = readdirSync(join(md, 'new'));
    assert.equal(files.length, 1);
    const st = statSync(join(md, 'new', files[0]!));
    assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [user.uid, user.gid, 0o600]);
    assert.equal(pythonRead('maildir', md)[0]!.body, 'From here on\nbody\n');

    const mbox = join(spool.path, USER);
    const mst = statSync(mbox);
    assert.deepEqual([mst.uid, mst.gid, mst.mode & 0o777], [user.uid, user.gid, 0o600]);
    assert.equal(existsSync(`${mbox}.lock`), false);
    const msgs = pythonRead('mbox', mbox);
    assert.equal(msgs.length, 1);
    assert.equal(msgs[0]!.body, '>From here on\nbody\n');

    assert.deepEqual(readFileSync(join(out.path, 'uid'), 'utf8').trim().split('\n'), [String(user.uid), String(user.gid), user.directory]);
    assert.equal((await h.stats())['mda.helper'], 1, 'one helper process for the uid, reused');

    // A second message to the same user reuses the helper.
    await h.deliver([envelope('2345678900000001', { ...base, msgid: '23456789', dispatcher: 'md' })]);
    const again = await h.waitResults(5);
    assert.equal(again[4]?.status, 'ok', again[4]?.errorline);
    assert.equal((await h.stats())['mda.helper'], 1);
    assert.equal(readdirSync(join(md, 'new')).length, 2);
  } finally {
    await h.stop();
    rmSync(join(user.directory, maildirName), { recursive: true, force: true });
    chmodSync(closed.path, 0o700);
    for (const d of [spool, out, closed]) d.remove();
  }
});
