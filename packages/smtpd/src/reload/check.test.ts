// The checking half of a reload on real files: an invalid file gives `file:line:` errors, what
// only a restart changes keeps its running value with a warning naming it, the queue ttl is
// reloaded, and the change line and the added listeners come from comparing address and port.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type SmtpdConfig } from '@tsmtpd/config';
import { addedListeners, checkReload, describeChange } from './check.js';

async function load(file: string, text: string): Promise<SmtpdConfig> {
  writeFileSync(file, text);
  const r = await loadConfig(file, { readsStdinKey: true });
  assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
  return r.config;
}

const base = (extra: string[]) => ['listen on 127.0.9.20 port 2525', 'listen on 127.0.9.21 port 2525', ...extra, 'action "l" maildir', 'match from any for local action "l"'].join('\n') + '\n';

test('checkReload: errors as file:line:, restart-only settings kept with a warning, the rest reloaded', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'reload-check-'));
  try {
    const file = join(dir, 'smtpd.conf');
    const current = await load(file, base(['queue ttl 4d', 'smtp max-message-size 10M']));
    writeFileSync(file, base(['match from any for nowhere']));
    const bad = await checkReload(current, { configFile: file, macros: {}, legacy: false });
    assert.ok(!bad.ok);
    assert.match(bad.errors[0] ?? '', new RegExp(`^${file}:3: `));
    writeFileSync(file, base(['queue ttl 2d', 'queue compression', 'smtp max-message-size 20M', 'bounce warn-interval 1h', 'mda limit max-session 3']).replace('127.0.9.21', '127.0.9.22'));
    const ok = await checkReload(current, { configFile: file, macros: {}, legacy: false });
    assert.ok(ok.ok, ok.ok ? '' : ok.errors.join('\n'));
    assert.deepEqual(ok.warnings, ['queue encryption/compression change needs a restart']);
    assert.equal(ok.config.queue.compression, false, 'compression kept as running');
    assert.equal(ok.config.queue.ttl, 2 * 86400, 'the ttl is reloaded');
    assert.equal(ok.config.smtp.maxMessageSize, 20 * 1024 * 1024);
    assert.deepEqual(ok.config.bounce.warnIntervals, [3600], 'delay warnings are reloaded');
    assert.equal(ok.config.mda.limits.maxSession, 3, 'mda limits are reloaded');
    const change = describeChange(current, ok.config);
    assert.equal(change['listeners-added'], '127.0.9.22:2525');
    assert.equal(change['listeners-removed'], '127.0.9.21:2525');
    assert.equal(change.rules, 1);
    const added = addedListeners(current, ok.config);
    assert.deepEqual(added.listeners.flatMap((l) => l.addresses.map((a) => `${a.address}:${l.port}`)), ['127.0.9.22:2525']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('checkReload: a queue backend change needs a restart; an action gone is named in the change', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'reload-check-'));
  try {
    const file = join(dir, 'smtpd.conf');
    const current = await load(file, base(['action "gone" maildir', 'match from any for domain "x.test" action "gone"']));
    writeFileSync(file, base(['queue backend postgres "postgresql://127.0.0.1/q"']));
    const r = await checkReload(current, { configFile: file, macros: {}, legacy: false });
    assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
    assert.ok(r.warnings.includes('queue backend change needs a restart'), r.warnings.join('; '));
    assert.equal(r.config.queue.backend, undefined, 'the running backend stays');
    assert.equal(describeChange(current, r.config)['actions-removed'], 'gone');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
