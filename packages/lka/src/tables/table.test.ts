import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SystemUsers } from '../users.js';
import { FileTableBackend } from './file.js';
import { GetpwnamTableBackend } from './getpwnam.js';
import { StaticTableBackend, contentFromDef } from './static.js';
import { Table } from './table.js';

const list = (values: string[]) => new Table('t', new StaticTableBackend({ kind: 'list', values }));

test('string service: exact, case-insensitive; map tables match on keys', async () => {
  const t = list(['Alice', 'bob']);
  assert.equal(t.match('string', 'alice'), true);
  assert.equal(t.match('string', 'BOB'), true);
  assert.equal(t.match('string', 'carol'), false);
  const m = new Table('m', new StaticTableBackend(contentFromDef({ map: { Key1: 'v1' } })));
  assert.equal(m.match('string', 'key1'), true);
  assert.deepEqual(await m.lookup('KEY1'), { found: true, value: 'v1' });
  assert.deepEqual(await m.lookup('nokey'), { found: false });
  assert.deepEqual(await t.lookup('alice'), { found: false });
});

test('domain service with wildcard entries, trailing dot ignored', () => {
  const t = list(['example.org', '*.example.net']);
  assert.equal(t.match('domain', 'EXAMPLE.org'), true);
  assert.equal(t.match('domain', 'example.org.'), true);
  assert.equal(t.match('domain', 'mx.example.net'), true);
  assert.equal(t.match('domain', 'example.net'), false);
  assert.equal(t.match('domain', 'example.com'), false);
});

test('mailaddr, netaddr and regex services through a table', () => {
  assert.equal(list(['@example.org', 'bob']).match('mailaddr', 'x@example.org'), true);
  assert.equal(list(['@example.org', 'bob']).match('mailaddr', 'bob@other.org'), true);
  assert.equal(list(['@example.org', 'bob']).match('mailaddr', 'eve@other.org'), false);
  assert.equal(list(['@']).match('mailaddr', ''), false, 'the null sender is no address');
  assert.equal(list(['192.168.0.0/16', '[::1]']).match('netaddr', '192.168.4.4'), true);
  assert.equal(list(['192.168.0.0/16', '[::1]']).match('netaddr', '::1'), true);
  assert.equal(list(['192.168.0.0/16']).match('netaddr', '10.0.0.1'), false);
  const warnings: string[] = [];
  const rx = new Table('rx', new StaticTableBackend({ kind: 'list', values: ['^spam-', '(bad'] }), { warn: (e) => warnings.push(e) });
  assert.equal(rx.match('regex', 'SPAM-bot@x.org'), true, 'keys are lowercased');
  assert.equal(rx.match('regex', 'ham@x.org'), false);
  assert.deepEqual(warnings, ['table regex invalid']);
});

test('keys longer than the limit are a lookup error, not a miss', async () => {
  const t = list(['x']);
  assert.equal(t.match('string', 'x'.repeat(2000)), 'error');
  assert.ok('error' in (await t.lookup('x'.repeat(2000))));
});

test('file tables: initial content, reload on update, failed reload keeps the old content', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lka-table-'));
  try {
    const path = join(dir, 'aliases');
    writeFileSync(path, '# aliases\nroot: admin\npostmaster  root\n');
    const t = new Table('aliases', new FileTableBackend(path));
    assert.equal(t.match('string', 'root'), 'error', 'not loaded yet');
    await t.update();
    assert.deepEqual(await t.lookup('postmaster'), { found: true, value: 'root' });
    assert.equal(t.match('string', 'root'), true);
    writeFileSync(path, 'abuse: root\n');
    await t.update();
    assert.deepEqual(await t.lookup('postmaster'), { found: false });
    assert.equal(t.match('string', 'abuse'), true, 'matchers follow the new content');
    writeFileSync(path, 'key value\nbroken-entry-without-value\n');
    await assert.rejects(t.update());
    assert.deepEqual(await t.lookup('abuse'), { found: true, value: 'root' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('getpwnam tables answer userinfo for system users', async () => {
  const t = new Table('pw', new GetpwnamTableBackend(new SystemUsers()));
  const root = await t.lookup('root');
  assert.ok('found' in root && root.found && /^0:0:\//.test(root.value));
  assert.deepEqual(await t.lookup('no-such-user-xyz'), { found: false });
  assert.equal(t.match('string', 'root'), 'error', 'system users cannot be listed');
});
