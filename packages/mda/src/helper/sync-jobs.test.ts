// The helper's file deliveries and their commit: fsyncs on this thread (a lone delivery) or in
// libuv's pool (several ending together), one fsync per directory for a batch, and a failed
// fsync that leaves nothing published. Runs in-process, as our own uid.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fsyncHere, fsyncPool, openMaildirSync, syncDirs, type Committed, type Fsync, type SyncSink } from './sync-jobs.js';
import type { MaildirJob } from '../methods/maildir.js';
import { delivered } from '../sink.js';
import { tempDir } from '../test-util.js';

function job(root: string, i: number): MaildirJob {
  return { kind: 'maildir', root, junk: false, extension: null, hostname: 'h', envelope: { ctime: 7, id: (0x5000 + i).toString(16).padStart(16, '0') } };
}

function opened(j: MaildirJob, body: string): SyncSink {
  const r = openMaildirSync(j);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.outcome));
  r.sink.write(Buffer.from(body));
  return r.sink;
}

/** An Fsync that counts its calls and hands them on to `inner`. */
function counting(inner: Fsync): Fsync & { calls: number } {
  const f = ((fd, done) => {
    f.calls++;
    inner(fd, done);
  }) as Fsync & { calls: number };
  f.calls = 0;
  return f;
}

test('a lone delivery commits on this thread: answered before commit returns', () => {
  const d = tempDir('sync-here');
  try {
    let got: Committed | null = null;
    opened(job(d.path, 1), 'Subject: 1\n\nx\n').commit(fsyncHere, (c) => (got = c));
    assert.deepEqual(got, { outcome: delivered(), syncDir: join(d.path, 'new') });
    const names = readdirSync(join(d.path, 'new'));
    assert.deepEqual(names, [`7.E${(0x5001).toString(16).padStart(16, '0')}.h`]);
    assert.equal(readFileSync(join(d.path, 'new', names[0]!), 'utf8'), 'Subject: 1\n\nx\n');
  } finally {
    d.remove();
  }
});

test('deliveries ending together fsync in the pool; their directory is fsynced once', async () => {
  const d = tempDir('sync-pool');
  try {
    const sync = counting(fsyncPool);
    const sinks = Array.from({ length: 5 }, (_, i) => opened(job(d.path, i), `Subject: ${i}\n\nx\n`));
    let returned = false;
    let early = 0;
    const pending = sinks.map((s) => new Promise<Committed>((res) => s.commit(sync, (c) => (returned || early++, res(c)))));
    returned = true;
    const done = await Promise.all(pending);
    assert.equal(early, 0, 'answered from the pool, after commit returned');
    assert.deepEqual(done.map((c) => c.outcome.status), Array(5).fill('ok'));
    assert.equal(sync.calls, 5);
    const failed = await new Promise<Map<string, Error>>((res) => syncDirs(done.map((c) => c.syncDir!), sync, res));
    assert.equal(failed.size, 0);
    assert.equal(sync.calls, 6, 'one fsync of new/ for the five');
    assert.equal(readdirSync(join(d.path, 'new')).length, 5);
    assert.deepEqual(readdirSync(join(d.path, 'tmp')), []);
  } finally {
    d.remove();
  }
});

test('a failed fsync publishes nothing and answers a temporary failure', () => {
  const d = tempDir('sync-fail');
  try {
    const eio: Fsync = (_fd, done) => done(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }));
    let got: Committed | null = null;
    opened(job(d.path, 9), 'Subject: 9\n\nx\n').commit(eio, (c) => (got = c));
    assert.equal(got!.outcome.status, 'tempfail');
    assert.match(got!.outcome.errorline, /maildir commit: EIO/);
    assert.equal(got!.syncDir, undefined);
    assert.deepEqual(readdirSync(join(d.path, 'new')), []);
    assert.deepEqual(readdirSync(join(d.path, 'tmp')), []);
  } finally {
    d.remove();
  }
});

test('syncDirs reports a directory it cannot open, and still syncs the others', () => {
  const d = tempDir('sync-dirs');
  try {
    let failed: Map<string, Error> | null = null;
    const missing = join(d.path, 'gone', 'new');
    syncDirs([d.path, missing, d.path], fsyncHere, (f) => (failed = f));
    assert.deepEqual([...failed!.keys()], [missing]);
  } finally {
    d.remove();
  }
});
