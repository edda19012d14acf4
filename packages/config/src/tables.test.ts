import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTableText, readTableFile, readTableFileSync, TableFileError } from './tables.js';
import { tempDir } from './test-util.js';

test('table file: mapping with `key value` and `key: value`, comments, blank lines', () => {
  const r = parseTableText('# aliases\n\nroot: alice\nPostmaster   root\n  abuse:\tbob, carol\n');
  assert.deepEqual(r, { ok: true, content: { kind: 'map', entries: { root: 'alice', postmaster: 'root', abuse: 'bob, carol' } } });
});

test('table file: list auto-detected from the first entry', () => {
  const r = parseTableText('example.org\nExample.NET\n# c\nexample.org\n');
  assert.deepEqual(r, { ok: true, content: { kind: 'list', values: ['example.org', 'example.net'] } });
});

test('table file: `# @list` forces a list', () => {
  const r = parseTableText('# @list\nalice@example.org some words\n');
  assert.deepEqual(r, { ok: true, content: { kind: 'list', values: ['alice@example.org some words'] } });
});

test('table file: empty file is an empty mapping', () => {
  assert.deepEqual(parseTableText('\n# nothing\n'), { ok: true, content: { kind: 'map', entries: {} } });
});

test('table file: [ipv6] keys', () => {
  const r = parseTableText('[::1] localhost6\n192.0.2.1 mx\n');
  assert.deepEqual(r, { ok: true, content: { kind: 'map', entries: { '[::1]': 'localhost6', '192.0.2.1': 'mx' } } });
});

test('table file: a mapping line without value is malformed', () => {
  assert.deepEqual(parseTableText('root alice\nbob\n'), { ok: false, line: 2, message: 'invalid map entry' });
  assert.deepEqual(parseTableText('[::1 x\n'), { ok: false, line: 1, message: 'invalid map entry' });
});

test('readTableFile / readTableFileSync: content, malformed, missing', async () => {
  const t = tempDir();
  const good = t.put('t', 'a b\n');
  const bad = t.put('bad', 'a b\nc\n');
  assert.deepEqual(await readTableFile(good), { kind: 'map', entries: { a: 'b' } });
  assert.deepEqual(readTableFileSync(good), { kind: 'map', entries: { a: 'b' } });
  await assert.rejects(readTableFile(bad), (e: unknown) => e instanceof TableFileError && e.line === 2 && e.code === 'TABLE_MALFORMED');
  await assert.rejects(readTableFile(`${t.dir}/missing`), { code: 'ENOENT' });
});
