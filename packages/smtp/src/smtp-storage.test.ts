// A full spool disk: the free-space check (statfs, OpenSMTPD's 5% floor) that refuses MAIL with
// 452 4.3.1, and the reply to a queue that cannot store a message (452 4.3.1 for a full disk,
// 451 4.3.0 for any other failure, never 250). The MAIL checks run on a real 8 MiB tmpfs (root
// only); the DATA checks use the test kit's fake queue answering with the queue's codes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fail } from '@tsmtpd/proto';
import { SpoolSpace, isStorageFull, judge, type FsSpace } from './storage.js';
import { WireClient, eventually, fakeQueue, openTransaction, startSmtp, type SmtpUnderTest } from './test-harness.js';

const FULL = '452 4.3.1 Insufficient system storage';
const space = (bavail: number, ffree = 1000): FsSpace => ({ bsize: 4096, blocks: 1000, bavail, files: 1000, ffree });

test('judge: below 5% of blocks or inodes is full; a file system without an inode count is judged by blocks', () => {
  assert.equal(judge(space(50), 0.05).ok, true);
  assert.equal(judge(space(49), 0.05).ok, false);
  assert.match(judge(space(49), 0.05).why, /49 of 1000 blocks/);
  assert.equal(judge(space(900, 10), 0.05).ok, false);
  assert.equal(judge({ ...space(900), files: 0, ffree: 0 }, 0.05).ok, true);
  assert.equal(judge(space(900), 0.05).freeBytes, 900 * 4096);
});

test('SpoolSpace: one statfs shared within the ttl, a fresh one on demand, a failing statfs never refuses', async () => {
  let calls = 0;
  let free = 900;
  const s = new SpoolSpace('/spool', { ttlMs: 60_000, statfs: async () => (calls++, space(free)) });
  const [a, b] = await Promise.all([s.check(), s.check()]);
  assert.equal(calls, 1);
  assert.ok(a.ok && b.ok);
  free = 10;
  assert.equal((await s.check()).ok, true, 'cached');
  assert.equal((await s.check(true)).ok, false, 'fresh');
  assert.equal(calls, 2);
  const broken = new SpoolSpace('/gone', { statfs: async () => Promise.reject(Object.assign(new Error('ENOENT'), { code: 'ENOENT' })) });
  assert.equal((await broken.check()).ok, true);
});

test('isStorageFull: the queue code and the words SQLite and the kernel use', () => {
  assert.ok(isStorageFull('ERR_QUEUE_FULL', 'x'));
  assert.ok(isStorageFull('ERR_QUEUE_IO', 'database or disk is full'));
  assert.ok(isStorageFull('SQLITE_FULL', ''));
  assert.ok(isStorageFull('ERR_QUEUE_IO', 'ENOSPC: no space left on device, write'));
  assert.ok(!isStorageFull('ERR_QUEUE_IO', 'cannot commit - no transaction is active'));
});

let t: SmtpUnderTest;
const q = fakeQueue();
let commitFailure: ReturnType<typeof fail> | null = null;
let appendFailure: ReturnType<typeof fail> | null = null;
const realCommit = q.fake.messageCommit!;
const realAppend = q.fake.bodyAppend!;
q.fake.messageCommit = async (msgid, tail) => commitFailure ?? realCommit(msgid, tail);
q.fake.bodyAppend = async (msgid, chunk) => appendFailure ?? realAppend(msgid, chunk);

before(async () => {
  t = await startSmtp({ queue: q });
});
after(async () => {
  await t.stop();
});

async function sendBody(c: WireClient, lines: number): Promise<string> {
  assert.equal(await c.cmd('DATA'), '354 Enter mail, end with "." on a line by itself');
  c.write('Subject: x\r\n\r\n' + 'z'.repeat(998).concat('\r\n').repeat(lines) + '.\r\n');
  return (await c.reply(5000)).raw[0] ?? '';
}

const cases = [
  { name: 'commit: ERR_QUEUE_FULL', set: () => (commitFailure = fail('ERR_QUEUE_FULL', 'temp', 'database or disk is full')), lines: 2, want: FULL },
  { name: 'commit: SQLITE_FULL words under ERR_QUEUE_IO', set: () => (commitFailure = fail('ERR_QUEUE_IO', 'temp', 'database or disk is full')), lines: 2, want: FULL },
  { name: 'body chunk: ERR_QUEUE_FULL', set: () => (appendFailure = fail('ERR_QUEUE_FULL', 'temp', 'database or disk is full')), lines: 700, want: FULL },
  { name: 'commit: another I/O error, disk not full', set: () => (commitFailure = fail('ERR_QUEUE_IO', 'temp', 'disk I/O error')), lines: 2, want: '451 4.3.0 Temporary failure' },
];
for (const c of cases) {
  test(`a message the queue cannot store (${c.name}): ${c.want}, rolled back, the session goes on`, async () => {
    const w = await openTransaction(t.port);
    const rolled = q.rolledBack.length;
    c.set();
    try {
      assert.equal(await sendBody(w, c.lines), c.want);
    } finally {
      commitFailure = null;
      appendFailure = null;
    }
    assert.ok(await eventually(() => q.rolledBack.length > rolled));
    assert.ok(!q.committed.includes(q.rolledBack.at(-1) ?? ''));
    assert.equal(await w.cmd('MAIL FROM:<a@example.org>'), '250 2.1.0 Ok');
    assert.equal(await w.cmd('RCPT TO:<alice@example.org>'), '250 2.1.5 Destination address valid: Recipient ok');
    assert.match(await sendBody(w, 2), /^250 2\.0\.0 [0-9a-f]{8} Message accepted for delivery$/);
    w.close();
  });
}

const isRoot = process.getuid?.() === 0;
test('a spool on a full file system: MAIL gets 452 4.3.1 (also a SIZE= above the free space), and 250 again once space is back', { skip: isRoot ? false : 'not root: cannot mount a tmpfs' }, async () => {
  const mnt = mkdtempSync(join(tmpdir(), 'tsmtpd-smtp-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mnt]);
  mkdirSync(join(mnt, 'spool')); // the queue makes it in the daemon; here no queue runs
  const small = await startSmtp({ spool: join(mnt, 'spool') }).catch(async (e: unknown) => {
    execFileSync('umount', [mnt]);
    throw e;
  });
  try {
    const c = await WireClient.open(small.port);
    await c.reply();
    await c.cmd('EHLO client.example');
    // Over the 8 MiB file system, under the 35 MiB size limit (smtp-server's own check passes).
    assert.equal(await c.cmd('MAIL FROM:<a@example.org> SIZE=12000000'), FULL);
    assert.equal(await c.cmd('MAIL FROM:<a@example.org> SIZE=1000'), '250 2.1.0 Ok');
    assert.equal(await c.cmd('RSET'), '250 2.0.0 Reset state');
    const s = statfsSync(mnt);
    writeFileSync(join(mnt, 'filler'), Buffer.alloc(Math.max(0, (s.bavail - Math.floor(s.blocks * 0.03)) * s.bsize)));
    await new Promise((r) => setTimeout(r, 600)); // past the shared reading's 500 ms
    assert.equal(await c.cmd('MAIL FROM:<a@example.org>'), FULL);
    assert.equal(await c.cmd('NOOP'), '250 2.0.0 Ok', 'the session goes on');
    rmSync(join(mnt, 'filler'));
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(await c.cmd('MAIL FROM:<a@example.org>'), '250 2.1.0 Ok');
    assert.equal(small.queue.committed.length, 0);
    c.close();
  } finally {
    await small.stop().catch(() => undefined);
    execFileSync('umount', [mnt]);
    rmSync(mnt, { recursive: true, force: true });
  }
});
