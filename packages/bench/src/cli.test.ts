// The bench's flags: --quick's defaults (every workload, 1 KiB, 1 and 20 sessions, a connection
// per message, 2 rounds of ~2 s), --peer (tsmtpd plus the named servers), and the clear errors
// for what cannot be combined or is misspelt. Parsing only: no server is started.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from './cli.js';
import { label } from './workloads.js';

test('--quick: accept, maildir and relay, 1 KiB, 1 and 20 sessions, per message, 2 rounds of 2 s', () => {
  const p = parse(['--quick']).bench;
  assert.deepEqual(p.runs.map((r) => `${label(r)} ${r.client}`), [
    'accept 1K per-message s=1 smtp-source', 'accept 1K per-message s=20 smtp-source',
    'maildir 1K per-message s=1 smtp-source', 'maildir 1K per-message s=20 smtp-source',
    'relay 1K per-message s=1 smtp-source', 'relay 1K per-message s=20 smtp-source',
  ]);
  assert.equal(p.rounds, 2);
  assert.equal(p.seconds, 2);
  assert.equal(p.warmup, 1000);
  assert.deepEqual(p.servers, ['tsmtpd', 'postfix', 'opensmtpd', 'sink']);
});

test('--quick: explicit flags still win', () => {
  const p = parse(['--quick', '--rounds', '1', '--seconds', '1', '--warmup', '200', '--workloads', 'maildir', '--sessions', '100']).bench;
  assert.deepEqual(p.runs.map(label), ['maildir 1K per-message s=100']);
  assert.deepEqual([p.rounds, p.seconds, p.warmup], [1, 1, 200]);
});

test('--peer: tsmtpd plus the named servers, in the order given, once each', () => {
  assert.deepEqual(parse(['--quick', '--peer', 'postfix']).bench.servers, ['tsmtpd', 'postfix']);
  assert.deepEqual(parse(['--peer', 'opensmtpd,postfix,opensmtpd']).bench.servers, ['tsmtpd', 'opensmtpd', 'postfix']);
  assert.deepEqual(parse(['--peer', 'sink']).bench.servers, ['tsmtpd', 'sink']);
  assert.deepEqual(parse([]).bench.servers, ['tsmtpd', 'postfix', 'opensmtpd', 'sink']);
});

test('bad combinations and names are refused with what is wrong', () => {
  assert.throws(() => parse(['--peer', 'exim']), /--peer: exim\? \(postfix, opensmtpd, sink\)/);
  assert.throws(() => parse(['--peer', 'tsmtpd']), /--peer: tsmtpd\?/);
  assert.throws(() => parse(['--peer', '']), /--peer: which\?/);
  assert.throws(() => parse(['--peer', 'postfix', '--servers', 'tsmtpd']), /one or the other/);
  assert.throws(() => parse(['--quick', '--matrix']), /one at a time/);
  assert.throws(() => parse(['--quick', '--smoke']), /one at a time/);
  assert.throws(() => parse(['--quik']), /Unknown option '--quik'/);
});
