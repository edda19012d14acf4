// The bench harness's smoke run (`npm run bench -- --smoke`): the only part of the harness CI runs.
// tsmtpd and smtp-sink, 20 messages each through the built-in pipelining client, a few seconds;
// the table must show both servers with every message delivered and a CPU figure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { run } from './lib/proc.js';
import { repoRoot, smtpSourceBin } from './lib/paths.js';

const skip = existsSync(smtpSourceBin) ? false : `${smtpSourceBin} missing: run scripts/peers-install.sh (as .ci/run does)`;

test('bench --smoke: tsmtpd and smtp-sink in one table', { skip }, async () => {
  const r = await run(process.execPath, [path.join(repoRoot, 'scripts/bench/run.mjs'), '--smoke'], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, `bench --smoke failed:\n${r.stdout}\n${r.stderr}`);
  for (const server of ['tsmtpd', 'sink']) {
    const row = r.stdout.split('\n').find((l) => l.startsWith('maildir 1K per-message s=2') && l.split(/\s{2,}/)[1] === server);
    assert.ok(row, `no ${server} row in:\n${r.stdout}`);
    const cells = row.split(/\s{2,}/);
    assert.match(cells[3] ?? '', /^\d+$/, `accepted/s of ${server} (no "!")`);
    assert.match(cells[8] ?? '', /^\d+\.\d\d$/, `CPU ms/msg of ${server}`);
  }
  assert.match(r.stdout, /tsmtpd\s+fsync of the SQLite WAL/);
});
