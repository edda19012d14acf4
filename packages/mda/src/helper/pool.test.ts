// The per-uid delivery helper processes: reuse, idle exit, a helper dying mid-delivery, a
// helper that does not answer, an invalid request, a big body in pieces, concurrent deliveries
// sharing a directory fsync. Runs with our own uid/gid (spawning with
// one's own ids works unprivileged too); the root test covers a foreign uid.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createLogger } from '@tsmtpd/actor';
import { HelperPool } from './pool.js';
import type { FileJob } from '../file-jobs.js';
import { FLOCK_BINARY } from '../methods/mbox.js';
import { deliverParts, tempDir } from '../test-util.js';

const uid = process.getuid!();
const gid = process.getgid!();
const log = createLogger('mda', { quiet: true });

function maildir(root: string): Extract<FileJob, { kind: 'maildir' }> {
  return { kind: 'maildir', root, junk: false, extension: null, hostname: 'h' };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('one helper serves successive deliveries and exits when idle', async () => {
  const d = tempDir('pool');
  const pool = new HelperPool(log, 300);
  try {
    assert.equal((await deliverParts(pool.open(uid, gid, maildir(d.path)), ['Subject: 1\n\nx\n'])).status, 'ok');
    const [pid] = pool.pids();
    assert.ok(pid !== undefined && alive(pid));
    assert.equal((await deliverParts(pool.open(uid, gid, maildir(d.path)), ['Subject: 2\n\nx\n'])).status, 'ok');
    assert.deepEqual(pool.pids(), [pid], 'reused');
    assert.equal(readdirSync(join(d.path, 'new')).length, 2);
    for (let i = 0; i < 50 && alive(pid!); i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(alive(pid!), false, 'the idle helper exited');
    assert.equal(pool.size, 0);
  } finally {
    await pool.close();
    d.remove();
  }
});

test('a helper killed mid-delivery fails it temporarily; the next delivery gets a new helper', async () => {
  const d = tempDir('pool-kill');
  const pool = new HelperPool(log);
  try {
    const r = await pool.open(uid, gid, maildir(d.path));
    assert.ok(r.ok);
    const [pid] = pool.pids();
    if (r.ok) {
      await r.sink.write(Buffer.from('Subject: x\n\n'));
      process.kill(pid!, 'SIGKILL');
      await new Promise((res) => setTimeout(res, 200));
      await r.sink.write(Buffer.from('more\n'));
      const o = await r.sink.end();
      assert.equal(o.status, 'tempfail');
      assert.match(o.errorline, /helper/);
    }
    // Nothing delivered (the body was still held back: the maildir was not even made).
    assert.ok(!existsSync(join(d.path, 'new')) || readdirSync(join(d.path, 'new')).length === 0);
    assert.equal((await deliverParts(pool.open(uid, gid, maildir(d.path)), ['Subject: 2\n\nx\n'])).status, 'ok');
    assert.notDeepEqual(pool.pids(), [pid]);
  } finally {
    await pool.close();
    d.remove();
  }
});

test('a helper that does not answer in time is killed: temporary failure', { skip: !existsSync(FLOCK_BINARY) }, async () => {
  const d = tempDir('pool-hang');
  const pool = new HelperPool(log, 30_000, 400);
  const path = join(d.path, 'mbox');
  writeFileSync(path, '', { mode: 0o600 });
  const holder = spawn(FLOCK_BINARY, ['-x', path, 'sleep', '3'], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 200));
    const o = await deliverParts(pool.open(uid, gid, { kind: 'mbox', path, fromLine: 'From a Thu Jan 15 12:00:00 2026\n', uid: null }), ['x\n']);
    assert.ok(o.status === 'tempfail' && /no answer/.test(o.errorline), JSON.stringify(o));
    assert.equal(pool.size, 0);
  } finally {
    if (holder.pid !== undefined && holder.exitCode === null) process.kill(holder.pid, 'SIGTERM');
    await pool.close();
    d.remove();
  }
});

test('an invalid request is refused by the helper (relative path)', async () => {
  const pool = new HelperPool(log);
  try {
    const o = await deliverParts(pool.open(uid, gid, { kind: 'maildir', root: 'relative/Maildir', junk: false, extension: null, hostname: 'h' }), ['x\n']);
    assert.ok(o.status === 'permfail' && /invalid delivery request/.test(o.errorline), JSON.stringify(o));
  } finally {
    await pool.close();
  }
});

test('a 3 MiB body goes through in frames; concurrent deliveries all land, none left in tmp/', async () => {
  const d = tempDir('pool-big');
  const pool = new HelperPool(log);
  try {
    const big = Buffer.alloc(3 * 1024 * 1024 + 17, 'y');
    for (let i = 0; i < big.length; i += 100) big[i] = 10;
    const job = (i: number): FileJob => ({ ...maildir(d.path), envelope: { ctime: 5, id: (0xabc000 + i).toString(16).padStart(16, '0') } });
    assert.equal((await deliverParts(pool.open(uid, gid, job(0)), [Buffer.from('Subject: big\n\n'), big.subarray(0, 1000), big.subarray(1000)])).status, 'ok');
    const name = readdirSync(join(d.path, 'new'))[0]!;
    assert.equal(readFileSync(join(d.path, 'new', name)).length, big.length + 14);
    const outs = await Promise.all(Array.from({ length: 20 }, (_, i) => deliverParts(pool.open(uid, gid, job(i + 1)), [`Subject: ${i}\n\nx\n`])));
    assert.deepEqual(outs.map((o) => o.status), Array(20).fill('ok'));
    assert.equal(readdirSync(join(d.path, 'new')).length, 21);
    assert.deepEqual(readdirSync(join(d.path, 'tmp')), []);
  } finally {
    await pool.close();
    d.remove();
  }
});
