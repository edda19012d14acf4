// The bench harness's smoke run (`npm run bench -- --smoke`): the only part of the harness CI runs.
// tsmtpd and smtp-sink, accept only (tsmtpd's delivery paused with smtpctl) and accept + maildir,
// 20 messages each through the built-in pipelining client, a few seconds; the markdown table must
// show both servers on both workloads with every message accepted (delivered, for maildir), CPU and
// latency figures, the idle RSS rows and what each server does on disk before its 250.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { run } from './lib/proc.js';
import { repoRoot, smtpSourceBin } from './lib/paths.js';

const skip = existsSync(smtpSourceBin) ? false : `${smtpSourceBin} missing: run scripts/peers-install.sh (as .ci/run does)`;

/** The cells of the markdown table line whose first two cells are `run` and `server` (3rd column). */
function row(stdout: string, runLabel: string, server: string): string[] | undefined {
  return stdout.split('\n').filter((l) => l.startsWith('| ')).map((l) => l.slice(2, -2).split(' | ')).find((c) => c[0] === runLabel && c[2] === server);
}

test('bench --smoke: tsmtpd and smtp-sink, accept only and maildir, in one table', { skip }, async () => {
  const r = await run(process.execPath, [path.join(repoRoot, 'scripts/bench/run.mjs'), '--smoke'], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, `bench --smoke failed:\n${r.stdout}\n${r.stderr}`);
  for (const workload of ['accept', 'maildir']) {
    for (const server of ['tsmtpd', 'sink']) {
      const cells = row(r.stdout, `${workload} 1K per-message s=2`, server);
      assert.ok(cells, `no ${workload} ${server} row in:\n${r.stdout}`);
      assert.equal(cells[1], 'builtin');
      assert.equal(cells[3], '20');
      assert.match(cells[4] ?? '', /^\d+$/, `accepted/s of ${server} (no "!")`);
      const delivered = workload === 'accept' && server === 'tsmtpd' ? /^paused$/ : /^\d+$/;
      assert.match(cells[5] ?? '', delivered, `delivered/s of ${workload} ${server}`);
      assert.match(cells[8] ?? '', /^\d+\.\d$/, `p99 of ${server}`);
      assert.match(cells[9] ?? '', /^\d+\.\d\d$/, `CPU ms/msg of ${server}`);
      assert.match(cells[11] ?? '', /^\d+$/, `peak RSS of ${server}`);
    }
    assert.match(r.stdout, new RegExp(`^\\| ${workload} \\| tsmtpd \\| \\d+ \\| \\d+ \\| \\d+ \\|$`, 'm'), 'idle RSS row of tsmtpd');
  }
  assert.match(r.stdout, /^- tsmtpd: fsync of the SQLite WAL/m);
  assert.match(r.stdout, /^- tsmtpd: `smtpctl pause mda`/m);
});
