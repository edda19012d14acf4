// `metrics listen on ADDR [port N]`: parsed into the model, errors as file:line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from './index.js';

const RULES = 'listen on 127.0.0.1\naction a mbox\nmatch from any for local action a\n';

async function load(text: string) {
  const dir = mkdtempSync(join(tmpdir(), 'metrics-conf-'));
  const file = join(dir, 'smtpd.conf');
  writeFileSync(file, text);
  try {
    return { file, r: await loadConfig(file, {}) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('metrics listen on: address and port, default port 9100', async () => {
  const a = await load('metrics listen on 127.0.0.1 port 9200\n' + RULES);
  assert.ok(a.r.ok);
  assert.deepEqual(a.r.ok && a.r.config.metrics && { address: a.r.config.metrics.address, port: a.r.config.metrics.port, line: a.r.config.metrics.line }, { address: '127.0.0.1', port: 9200, line: 1 });
  const b = await load('metrics listen on localhost\n' + RULES);
  assert.ok(b.r.ok && b.r.config.metrics?.port === 9100 && b.r.config.metrics.address === '127.0.0.1');
  const none = await load(RULES);
  assert.ok(none.r.ok && none.r.config.metrics === undefined);
});

test('metrics errors name file and line', async () => {
  const cases: [string, RegExp][] = [
    ['listen on 127.0.0.1\nmetrics listen on example.org\n', /:2: metrics listen on: "example.org" is not an IP address/],
    ['metrics listen on 127.0.0.1 port 70000\n', /:1: metrics listen on: invalid port 70000/],
    ['metrics listen on 127.0.0.1\nmetrics listen on 127.0.0.1 port 1\n', /:2: metrics listen on: already given at line 1/],
    ['metrics on 127.0.0.1\n', /:1: syntax error/],
  ];
  for (const [text, re] of cases) {
    const { r } = await load(text);
    assert.ok(!r.ok, text);
    assert.ok(!r.ok && r.errors.some((e) => re.test(e)), `${text}: ${!r.ok ? r.errors.join('; ') : ''}`);
  }
});
