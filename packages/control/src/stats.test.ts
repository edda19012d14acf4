// The statistics book: counters vs levels, prefixes, persistence across a reopen, the digest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StatsBook, durationText, isCounter } from './stats.js';

test('counters that only grow are told from levels', () => {
  for (const k of ['smtp.session', 'smtp.message', 'scheduler.delivery.ok', 'mda.delivery.tempfail', 'queue.envelope.removed', 'lka.resolved', 'scheduler.envelope.enqueued']) assert.ok(isCounter(k), k);
  for (const k of ['smtp.session.active', 'scheduler.envelope', 'queue.message', 'queue.envelope', 'mda.running', 'mta.session', 'scheduler.memory.heapUsed']) assert.ok(!isCounter(k), k);
});

test('durations as OpenSMTPD prints them', () => {
  assert.equal(durationText(0), '0s');
  assert.equal(durationText(59), '59s');
  assert.equal(durationText(3600), '1h');
  assert.equal(durationText(90061), '1d1h1m1s');
});

test('counters survive a reopen, levels do not; a broken file is set aside', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stats-'));
  try {
    const warns: string[] = [] as string[];
    const a = new StatsBook((e) => warns.push(e));
    a.open(dir);
    a.push({ role: 'smtp', counters: { 'smtp.session': 3, 'smtp.session.active': 1 } });
    a.push({ role: 'lka', counters: { resolved: 2 } });
    a.close();
    const b = new StatsBook((e) => warns.push(e));
    b.open(dir);
    b.push({ role: 'smtp', counters: { 'smtp.session': 1, 'smtp.session.active': 1 } });
    assert.deepEqual(b.all(), [['lka.resolved', 2], ['smtp.session', 4], ['smtp.session.active', 1]]);
    assert.equal(b.digest().clt_connect, 1, 'the digest is of this run');
    b.close();
    assert.equal(warns.length, 0);
    const bad = mkdtempSync(join(tmpdir(), 'stats-bad-'));
    writeFileSync(join(bad, 'stats.db'), 'not a database at all, not at all, not even a little bit'.repeat(10));
    const c = new StatsBook((e) => warns.push(e));
    c.open(bad);
    c.push({ role: 'smtp', counters: { 'smtp.session': 1 } });
    assert.deepEqual(c.all(), [['smtp.session', 1]]);
    c.close();
    assert.equal(warns.length, 1);
    rmSync(bad, { recursive: true, force: true });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
