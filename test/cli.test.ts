// End-to-end: the daemon's command line. `smtpd -n` checks a configuration (the shipped example
// passes, an error names file:line); SIGTERM stops a running daemon with exit 0 within 5 s.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { startDaemon } from './lib/daemon.js';
import { localMaildirConfig } from './lib/conf.js';
import { exampleConfigPath, smtpdBin } from './lib/paths.js';
import { describeRun, run } from './lib/proc.js';
import { makeSharedDir, makeTestDir, removeTestDir } from './lib/tmp.js';

const dir = makeTestDir('cli');
makeSharedDir(`${dir}/mail`);
after(() => removeTestDir(dir));

test('smtpd -n on smtpd.conf.example prints "configuration OK"', async () => {
  const example = exampleConfigPath();
  assert.ok(example, 'smtpd.conf.example not found at the repository root or in packages/smtpd');
  const r = await run(process.execPath, [smtpdBin, '-n', '-f', example], { timeoutMs: 20_000 });
  assert.equal(r.code, 0, describeRun('smtpd -n', r));
  assert.match(r.stdout + r.stderr, /configuration OK/, describeRun('smtpd -n', r));
});

test('smtpd -n on a broken configuration fails and names file:line', async () => {
  const file = path.join(dir, 'broken.conf');
  writeFileSync(file, 'listen on 127.0.0.1 port 2525\naction "local" maildir\nmatch from any for local action "nonexistent"\n');
  const r = await run(process.execPath, [smtpdBin, '-n', '-f', file], { timeoutMs: 20_000 });
  assert.notEqual(r.code, 0, describeRun('smtpd -n', r));
  assert.ok((r.stdout + r.stderr).includes(`${file}:3:`), describeRun('smtpd -n (expected file:3:)', r));
  assert.doesNotMatch(r.stdout, /configuration OK/);
});

test('SIGTERM stops the daemon with exit 0 within 5 s, even with an idle client connected', async () => {
  const d = await startDaemon({ dir, config: (ctx) => localMaildirConfig(ctx) });
  const idle = net.connect({ host: '127.0.0.1', port: d.port });
  idle.on('error', () => {});
  await new Promise((r) => idle.once('data', r));
  idle.write('EHLO idle.client.test\r\n');
  await new Promise((r) => setTimeout(r, 200));
  const res = await d.stop(5000);
  idle.destroy();
  assert.equal(res.forced, false, `still running 5 s after SIGTERM\n${d.describe()}`);
  assert.equal(res.code, 0, `exit code ${res.code} signal ${res.signal}\n${d.describe()}`);
  assert.ok(res.ms <= 5000, `took ${res.ms} ms`);
});
