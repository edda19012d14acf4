// The markdown table: ratios against tsmtpd's row of the same run (delivered, or accepted for
// accept-only and the sink), "paused" where nothing is delivered, failures marked, cells escaped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Row } from './compare.js';
import { HEAD, mdTable, resultsTable, throughput } from './table.js';
import type { Run } from './workloads.js';

const run = (workload: Run['workload'], over: Partial<Run> = {}): Run => ({ workload, size: 1024, mode: 'per-message', sessions: 20, client: 'smtp-source', halfRate: false, ...over });

function row(server: Row['server'], r: Run, accepted: number, delivered: number | undefined, cpu: number, over: Partial<Row> = {}): Row {
  return { run: r, server, count: 100, ok: true, accepted, delivered, cpuPerMsg: cpu, machinePerMsg: cpu * 2, rssMb: 100, p50: undefined, p99: undefined, ...over };
}

function cellsOf(md: string): string[][] {
  return md.split('\n').slice(2).map((l) => l.slice(2, -2).split(' | '));
}

test('ratios: tsmtpd over each peer of the same run, delivered and CPU', () => {
  const m = run('maildir');
  const rows = [row('tsmtpd', m, 500, 400, 2), row('postfix', m, 300, 200, 4), row('sink', m, 5000, 4990, 0.25)];
  const c = cellsOf(resultsTable(rows));
  assert.equal(c.length, 3);
  assert.equal(c[0]![0], 'maildir 1K per-message s=20');
  assert.deepEqual([c[0]![12], c[0]![13]], ['-', '-'], 'no ratio on tsmtpd\'s own row');
  assert.deepEqual([c[1]![2], c[1]![5], c[1]![12], c[1]![13]], ['postfix', '200', '2.00x', '0.50x']);
  assert.equal(c[2]![12], '0.08x', "tsmtpd's delivered over what the sink accepted (400/5000)");
  assert.equal(c[1]![6], '0.2', 'MiB/s of 200 msgs/s of 1 KiB');
});

test('accept only: paused instead of a delivered rate, ratios on accepted', () => {
  const a = run('accept');
  const rows = [row('tsmtpd', a, 900, undefined, 1), row('postfix', a, 300, undefined, 3)];
  const c = cellsOf(resultsTable(rows));
  assert.equal(c[0]![5], 'paused');
  assert.equal(c[1]![12], '3.00x');
  assert.equal(throughput(rows[0]!), 900);
});

test('a failed run is marked, a missing figure is "-", runs are compared only within themselves', () => {
  const s1 = run('maildir', { sessions: 1 });
  const s20 = run('maildir');
  const rows = [row('tsmtpd', s1, 100, 90, 5), row('postfix', s20, 300, undefined, 4, { ok: false })];
  const c = cellsOf(resultsTable(rows));
  assert.equal(c[1]![4], '300!');
  assert.equal(c[1]![5], '-');
  assert.equal(c[1]![12], '-', 'no tsmtpd row for s=20');
});

test('half-rate rows are compared with half-rate rows only, and name their pace', () => {
  const m = run('maildir', { client: 'builtin' });
  const rows = [row('tsmtpd', m, 500, 400, 2), row('tsmtpd', m, 200, 200, 2, { paced: 200, p99: 3.25 }), row('postfix', m, 150, 150, 4, { paced: 150 })];
  const c = cellsOf(resultsTable(rows));
  assert.equal(c[1]![1], 'builtin paced 200/s (half peak)');
  assert.equal(c[1]![8], '3.3');
  assert.equal(c[2]![13], '0.50x');
  assert.equal(c[2]![12], '-', 'a paced rate is not a throughput');
});

test('mdTable: header, separator, escaped pipes', () => {
  const t = mdTable(['a', 'b'], [['x|y', 1]]).split('\n');
  assert.deepEqual(t, ['| a | b |', '| --- | --- |', '| x\\|y | 1 |']);
  assert.equal(HEAD.length, 14);
});

test('a failed cell shows "!" and no figure, and the other rows keep theirs', () => {
  const m = run('maildir', { sessions: 100 });
  const md = resultsTable([
    row('tsmtpd', m, 500, 480, 2),
    row('opensmtpd', m, Number.NaN, undefined, Number.NaN, { ok: false, count: 0, cpuPerMsg: undefined, error: 'smtp-source: timeout' }),
  ]);
  const [ours, peer] = cellsOf(md);
  assert.equal(ours?.[4], '500');
  assert.equal(peer?.[4], '-!');
  assert.equal(peer?.[5], '-');
  assert.equal(peer?.[12], '-');
});
