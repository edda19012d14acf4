// Log lines: formatted once (text or JSON members), stamped on the shared monotonic clock, and put
// in stamp order by the parent's writer across batches that arrive out of order; the wall-clock
// time first unless stderr is the journal (then `<N>` priorities instead).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, fstatSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { createLogger, formatLogJson, hrNow, type LogRecord } from './log.js';
import { LogWriter, packLogBatch, stderrIsJournal, unpackLogBatch } from './log-writer.js';

test('hrNow is one clock for every thread', async () => {
  const before = hrNow();
  const code = `const { parentPort } = require('node:worker_threads'); const [s, ns] = process.hrtime(); parentPort.postMessage(s * 1e3 + ns / 1e6);`;
  const w = new Worker(code, { eval: true });
  const theirs = await new Promise<number>((resolve) => w.once('message', resolve));
  await w.terminate();
  assert.ok(theirs >= before && theirs <= hrNow(), `${before} <= ${theirs} <= now`);
});

test('the writer orders lines of several batches by stamp and prefixes the time', () => {
  let out = '';
  const w = new LogWriter({ journal: false, windowMs: 1000, write: (t) => (out += t) });
  const t0 = hrNow() - 5000;
  // The mda's batch arrives first although the smtp line happened before it.
  w.add([[t0 + 20, 6, 'mda: delivery evpid=1'], [t0 + 30, 6, 'mda: delivery evpid=2']]);
  w.add([[t0 + 10, 6, 'smtp: message msgid=1'], [t0 + 10, 6, 'smtp: envelope evpid=1'], [t0 + 25, 6, 'smtp: message msgid=2']]);
  w.flush();
  const lines = out.trimEnd().split('\n');
  assert.deepEqual(lines.map((l) => l.replace(/^\S+ /, '')), ['smtp: message msgid=1', 'smtp: envelope evpid=1', 'mda: delivery evpid=1', 'smtp: message msgid=2', 'mda: delivery evpid=2']);
  for (const l of lines) assert.match(l, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /);
});

test('lines wait for the window before they are written; recent ones stay', async () => {
  let out = '';
  const w = new LogWriter({ journal: false, windowMs: 1000, write: (t) => (out += t) });
  const added = hrNow();
  w.add([[added - 5000, 6, 'old'], [added, 6, 'new']]);
  await new Promise((r) => setTimeout(r, 400));
  if (hrNow() - added < 1000) assert.match(out, /old\n$/); // (a stalled event loop may have passed the window)
  await new Promise((r) => setTimeout(r, 1200));
  assert.match(out, /old\n.*new\n$/);
});

test('JSON lines: one object each, the time first, values typed', () => {
  let out = '';
  const w = new LogWriter({ format: 'json', journal: false, write: (t) => (out += t) });
  const recs: LogRecord[] = [];
  const log = createLogger('smtp', { format: 'json', records: (b) => recs.push(...b), flushMs: 0 });
  log.info('message', { msgid: 'ab12', size: 371, note: 'a "quoted" = value\nline', err: new Error('boom'), skip: undefined });
  log.warn('refused', { why: 'x' });
  w.add(recs);
  w.flush();
  const objs = out.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(Object.keys(objs[0]!), ['time', 'level', 'role', 'event', 'msgid', 'size', 'note', 'err']);
  assert.equal(objs[0]!['size'], 371);
  assert.equal(objs[0]!['note'], 'a "quoted" = value\nline');
  assert.equal(objs[0]!['err'], 'boom');
  assert.equal(objs[1]!['level'], 'warn');
  assert.ok(!Number.isNaN(Date.parse(String(objs[0]!['time']))));
  assert.equal(formatLogJson('r', 'info', 'e', { role: 'spoof', time: 'x' }), '"level":"info","role":"r","event":"e"');
});

test('journal: JOURNAL_STREAM naming our stderr means no time and a <priority> prefix', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tsmtpd-journal-'));
  try {
    const fd = openSync(path.join(dir, 'stream'), 'w');
    const st = fstatSync(fd, { bigint: true });
    assert.equal(stderrIsJournal({ JOURNAL_STREAM: `${st.dev}:${st.ino}` }, fd), true);
    assert.equal(stderrIsJournal({ JOURNAL_STREAM: `${st.dev}:${st.ino + 1n}` }, fd), false);
    assert.equal(stderrIsJournal({}, fd), false);
    closeSync(fd);
    let out = '';
    const w = new LogWriter({ journal: true, write: (t) => (out += t) });
    w.add([[hrNow(), 4, 'smtp: warn: x'], [hrNow(), 6, 'smtp: y']]);
    w.flush();
    assert.equal(out, '<4>smtp: warn: x\n<6>smtp: y\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a batch from another thread is checked before use', () => {
  const recs: LogRecord[] = [[1.5, 6, 'a b=c'], [2.25, 4, 'x: warn: y']];
  assert.deepEqual(unpackLogBatch(structuredClone(packLogBatch(recs))), recs);
  const p = packLogBatch(recs);
  for (const bad of [null, 'x', [[1, 6, 'x']], { ...p, text: 'one' }, { ...p, stamps: [1, 2] }, { ...p, priorities: new Uint8Array(1) }]) assert.equal(unpackLogBatch(bad), null);
});
