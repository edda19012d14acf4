// maildir delivery, read back with Python's mailbox.Maildir.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { openMaildir, maildirHostname, maildirCounters, type MaildirJob } from './maildir.js';
import { chunks, deliverParts, pythonRead, tempDir } from '../test-util.js';

const MSG = 'Return-Path: <bob@x.org>\nDelivered-To: alice@y.org\nSubject: hello\n\nline one\n.dot line\nFrom me\n';

function job(root: string, extra: Partial<MaildirJob> = {}): MaildirJob {
  return { kind: 'maildir', root, junk: false, extension: null, hostname: 'mx.example', ...extra };
}

test('creates Maildir/{cur,new,tmp} 0700 and writes one file into new/ (0600), read back by Python', async () => {
  const d = tempDir('maildir');
  try {
    const root = join(d.path, 'home', 'Maildir');
    const o = await deliverParts(openMaildir(job(root)), chunks(MSG, 7));
    assert.equal(o.status, 'ok', o.errorline);
    for (const sub of ['cur', 'new', 'tmp']) assert.equal(statSync(join(root, sub)).mode & 0o777, 0o700, sub);
    assert.deepEqual(readdirSync(join(root, 'tmp')), []);
    const files = readdirSync(join(root, 'new'));
    assert.equal(files.length, 1);
    assert.match(files[0]!, /^\d{10}\.[0-9a-f]{8}\.mx\.example$/);
    assert.equal(statSync(join(root, 'new', files[0]!)).mode & 0o777, 0o600);
    const msgs = pythonRead('maildir', root);
    assert.equal(msgs.length, 1);
    assert.deepEqual(msgs[0]!.headers.slice(0, 3), [['Return-Path', '<bob@x.org>'], ['Delivered-To', 'alice@y.org'], ['Subject', 'hello']]);
    assert.equal(msgs[0]!.body, 'line one\n.dot line\nFrom me\n');
  } finally {
    d.remove();
  }
});

test('two deliveries get two distinct files', async () => {
  const d = tempDir('maildir2');
  try {
    for (let i = 0; i < 2; i++) assert.equal((await deliverParts(openMaildir(job(d.path)), [MSG])).status, 'ok');
    assert.equal(pythonRead('maildir', d.path).length, 2);
  } finally {
    d.remove();
  }
});

test('concurrent deliveries into one maildir share directory fsyncs, and every file is there', async (t) => {
  const d = tempDir('maildir-group');
  try {
    await deliverParts(openMaildir(job(d.path)), [MSG]);
    const before = maildirCounters.dirSyncs;
    const N = 20;
    const outs = await Promise.all(Array.from({ length: N }, () => deliverParts(openMaildir(job(d.path)), [MSG])));
    assert.ok(outs.every((o) => o.status === 'ok'));
    const syncs = maildirCounters.dirSyncs - before;
    t.diagnostic(`${N} deliveries, ${syncs} directory fsyncs`);
    assert.ok(syncs >= 1 && syncs < N, `${syncs} directory fsyncs for ${N} concurrent deliveries`);
    assert.equal(readdirSync(join(d.path, 'new')).length, N + 1);
    assert.equal(pythonRead('maildir', d.path).length, N + 1);
  } finally {
    d.remove();
  }
});

test('an envelope delivered again (after a crash) lands once; a leftover tmp file of it is replaced', async () => {
  const d = tempDir('maildir-idem');
  try {
    const envelope = { ctime: 1795000000, id: '0123456789abcdef' };
    const name = `${envelope.ctime}.E${envelope.id}.mx.example`;
    mkdirSync(join(d.path, 'tmp'), { recursive: true });
    writeFileSync(join(d.path, 'tmp', name), 'half a message from a dead attempt');
    for (let i = 0; i < 2; i++) assert.equal((await deliverParts(openMaildir(job(d.path, { envelope })), [MSG])).status, 'ok');
    assert.deepEqual(readdirSync(join(d.path, 'new')), [name]);
    assert.deepEqual(readdirSync(join(d.path, 'tmp')), []);
    const msgs = pythonRead('maildir', d.path);
    assert.equal(msgs.length, 1);
    assert.equal(msgs[0]!.body, 'line one\n.dot line\nFrom me\n');
    // Another envelope of the same message is another file.
    assert.equal((await deliverParts(openMaildir(job(d.path, { envelope: { ...envelope, id: '0123456789abcdee' } })), [MSG])).status, 'ok');
    assert.equal(readdirSync(join(d.path, 'new')).length, 2);
  } finally {
    d.remove();
  }
});

test('a sub-address delivers into .<extension> when that folder exists, else into INBOX', async () => {
  const d = tempDir('maildir-ext');
  try {
    mkdirSync(join(d.path, '.lists'), { mode: 0o700 });
    assert.equal((await deliverParts(openMaildir(job(d.path, { extension: 'lists' })), [MSG])).status, 'ok');
    assert.equal((await deliverParts(openMaildir(job(d.path, { extension: 'nothere' })), [MSG])).status, 'ok');
    assert.equal((await deliverParts(openMaildir(job(d.path, { extension: '../evil' })), [MSG])).status, 'ok');
    assert.equal(pythonRead('maildir', d.path, 'lists').length, 1);
    assert.equal(pythonRead('maildir', d.path).length, 2);
  } finally {
    d.remove();
  }
});

test('junk files the message into .Junk (created as needed)', async () => {
  const d = tempDir('maildir-junk');
  try {
    assert.equal((await deliverParts(openMaildir(job(d.path, { junk: true })), ['X-Spam: yes\n\nbuy\n'])).status, 'ok');
    assert.equal(pythonRead('maildir', d.path, 'Junk').length, 1);
    assert.equal(pythonRead('maildir', d.path).length, 0);
  } finally {
    d.remove();
  }
});

test('a file where the Maildir should be is a temporary failure, nothing left behind', async () => {
  const d = tempDir('maildir-bad');
  try {
    writeFileSync(join(d.path, 'Maildir'), 'not a dir');
    const r = await openMaildir(job(join(d.path, 'Maildir')));
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.outcome.status, 'tempfail');
      assert.match(r.outcome.errorline, /maildir .*E(EXIST|NOTDIR)/);
    }
  } finally {
    d.remove();
  }
});

test('unwritable parent directory is a temporary failure (as a non-root user only)', { skip: process.getuid?.() === 0 }, async () => {
  const d = tempDir('maildir-perm');
  try {
    chmodSync(d.path, 0o500);
    const r = await openMaildir(job(join(d.path, 'Maildir')));
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.outcome.status, 'tempfail');
  } finally {
    chmodSync(d.path, 0o700);
    d.remove();
  }
});

test('abort removes the temporary file', async () => {
  const d = tempDir('maildir-abort');
  try {
    const r = await openMaildir(job(d.path));
    assert.ok(r.ok);
    if (r.ok) {
      await r.sink.write(Buffer.from(MSG));
      assert.equal(readdirSync(join(d.path, 'tmp')).length, 1);
      await r.sink.abort('test');
    }
    assert.deepEqual(readdirSync(join(d.path, 'tmp')), []);
    assert.deepEqual(readdirSync(join(d.path, 'new')), []);
  } finally {
    d.remove();
  }
});

test('host names with / and : are escaped in file names', () => {
  assert.equal(maildirHostname('a/b:c'), 'a\\057b\\072c');
});
