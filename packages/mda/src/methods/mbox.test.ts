// mbox delivery: From line, >From quoting across chunk boundaries, dotlock and flock, read back
// with Python's mailbox.mbox.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, utimesSync, writeFileSync, chmodSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { acquireDotlock, FLOCK_BINARY, openMbox, prepareMailbox } from './mbox.js';
import { asctime, FromQuoter, mboxFromLine } from './mbox-format.js';
import { chunks, deliverParts, pythonRead, tempDir } from '../test-util.js';

function quoteAll(text: string, n: number): string {
  const q = new FromQuoter();
  const out = chunks(text, n).map((c) => q.push(c));
  return Buffer.concat([...out, q.end()]).toString();
}

test('asctime and the From line', () => {
  assert.equal(asctime(new Date(2026, 10, 2, 3, 4, 5)), 'Mon Nov  2 03:04:05 2026');
  assert.equal(mboxFromLine('', new Date(2026, 0, 15, 12, 0, 0)), 'From MAILER-DAEMON Thu Jan 15 12:00:00 2026\n');
  assert.equal(mboxFromLine('bob@x.org', new Date(2026, 0, 15, 12, 0, 0)), 'From bob@x.org Thu Jan 15 12:00:00 2026\n');
});

test('lines matching /^>*From / get one more ">", whatever the chunking', () => {
  const input = 'From start\nx\nFrom me\n>From you\n>>From them\nFromage\n From indented\n>>Fro\nFrom';
  const want = '>From start\nx\n>From me\n>>From you\n>>>From them\nFromage\n From indented\n>>Fro\nFrom\n\n';
  for (const n of [1, 2, 3, 5, 8, 1000]) assert.equal(quoteAll(input, n), want, `chunk size ${n}`);
});

test('a message ending in a newline gets exactly one blank line after it', () => {
  assert.equal(quoteAll('a\nb\n', 3), 'a\nb\n\n');
  assert.equal(quoteAll('a\nb', 3), 'a\nb\n\n');
  assert.equal(quoteAll('', 3), '\n');
});

async function deliver(path: string, sender: string, body: string, split = 5): Promise<void> {
  const bad = await prepareMailbox(path, null);
  assert.equal(bad, null, bad?.errorline);
  const lock = await acquireDotlock(path);
  assert.ok(lock.ok);
  try {
    const o = await deliverParts(openMbox({ kind: 'mbox', path, fromLine: mboxFromLine(sender, new Date()), uid: null }), chunks(body, split));
    assert.equal(o.status, 'ok', o.errorline);
  } finally {
    if (lock.ok) await lock.release();
  }
}

test('two messages appended, created 0600, read back by Python (quoted From line kept)', async () => {
  const d = tempDir('mbox');
  try {
    const path = join(d.path, 'alice');
    await deliver(path, 'bob@x.org', 'Subject: one\n\nFrom the start\nbody\n');
    await deliver(path, '', 'Subject: two\n\n>From quoted\nno newline at end', 3);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(existsSync(`${path}.lock`), false, 'dotlock released');
    const raw = readFileSync(path, 'utf8');
    assert.match(raw, /^From bob@x\.org \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\nSubject: one\n\n>From the start\nbody\n\nFrom MAILER-DAEMON /);
    const msgs = pythonRead('mbox', path);
    assert.equal(msgs.length, 2);
    assert.match(msgs[0]!.from!, /^bob@x\.org /);
    assert.equal(msgs[0]!.body, '>From the start\nbody\n', 'the separating blank line is not part of the body');
    assert.match(msgs[1]!.from!, /^MAILER-DAEMON /);
    assert.deepEqual(msgs[1]!.headers, [['Subject', 'two']]);
  } finally {
    d.remove();
  }
});

test('a symlink or hard-linked mailbox is refused (temporary failure)', async () => {
  const d = tempDir('mbox-link');
  try {
    const target = join(d.path, 'target');
    writeFileSync(target, '');
    const { symlinkSync, linkSync } = await import('node:fs');
    symlinkSync(target, join(d.path, 'sym'));
    const s = await prepareMailbox(join(d.path, 'sym'), null);
    assert.equal(s?.status, 'tempfail');
    linkSync(target, join(d.path, 'hard'));
    const h = await prepareMailbox(join(d.path, 'hard'), null);
    assert.equal(h?.status, 'tempfail');
    assert.match(h!.errorline, /2 links/);
    const o = await openMbox({ kind: 'mbox', path: join(d.path, 'sym'), fromLine: 'From x\n', uid: null });
    assert.equal(o.ok, false, 'O_NOFOLLOW refuses the link at append time too');
  } finally {
    d.remove();
  }
});

test('a world-writable spool without the sticky bit is refused', async () => {
  const d = tempDir('mbox-spool', 0o777);
  try {
    chmodSync(d.path, 0o777);
    const r = await prepareMailbox(join(d.path, 'alice'), null);
    assert.equal(r?.status, 'tempfail');
    assert.match(r!.errorline, /world-writable/);
    chmodSync(d.path, 0o1777);
    assert.equal(await prepareMailbox(join(d.path, 'alice'), null), null);
  } finally {
    d.remove();
  }
});

test('dotlock: a fresh lock blocks (bounded), a stale one is broken', async () => {
  const d = tempDir('mbox-lock');
  try {
    const path = join(d.path, 'alice');
    writeFileSync(`${path}.lock`, '1\n');
    const t0 = Date.now();
    const busy = await acquireDotlock(path, { attempts: 3, retryMs: 50 });
    assert.equal(busy.ok, false);
    if (!busy.ok) assert.match(busy.outcome.errorline, /locked/);
    assert.ok(Date.now() - t0 < 2000);
    const old = new Date(Date.now() - 10 * 60_000);
    utimesSync(`${path}.lock`, old, old);
    const got = await acquireDotlock(path, { attempts: 3, retryMs: 50 });
    assert.ok(got.ok);
    assert.equal(readFileSync(`${path}.lock`, 'utf8'), `${process.pid}\n`);
    if (got.ok) await got.release();
    assert.equal(existsSync(`${path}.lock`), false);
  } finally {
    d.remove();
  }
});

test('flock: the append waits while another process holds flock() on the mailbox', { skip: !existsSync(FLOCK_BINARY) }, async () => {
  const d = tempDir('mbox-flock');
  try {
    const path = join(d.path, 'alice');
    writeFileSync(path, '', { mode: 0o600 });
    // flock(1) holds the lock for 1.5 s, as mutt or mail.local would while writing.
    const holder = spawn(FLOCK_BINARY, ['-x', path, 'sleep', '1.5'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    const o = await deliverParts(openMbox({ kind: 'mbox', path, fromLine: 'From a@b Thu Jan 15 12:00:00 2026\n', uid: null }), ['Subject: x\n\nhi\n']);
    const waited = Date.now() - t0;
    assert.equal(o.status, 'ok', o.errorline);
    assert.ok(waited >= 900, `the append waited for the lock (${waited} ms)`);
    await new Promise((r) => (holder.exitCode !== null ? r(null) : holder.once('exit', r)));
    assert.equal(pythonRead('mbox', path).length, 1);
  } finally {
    d.remove();
  }
});
