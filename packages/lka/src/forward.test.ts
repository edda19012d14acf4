// ~/.forward under privilege separation: the lka asks the privileged process only when the file
// may be there (a home it can search without a .forward costs no request), and a .forward made
// afterwards is read at the next lookup (nothing remembered between lookups).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { privilegedForwardReader, rememberAbsence } from './forward.js';

test('privileged reader: no request for a searchable home without .forward; asked when one appears', async () => {
  const home = mkdtempSync(join(tmpdir(), 'lka-fwd-'));
  try {
    chmodSync(home, 0o755);
    const asked: string[] = [];
    const read = privilegedForwardReader(async (user) => (asked.push(user), { ok: true as const, value: 'bob@example.org\n' }));
    const user = { username: 'alice', uid: process.getuid!(), directory: home };
    assert.deepEqual(await read(user), { kind: 'none' });
    assert.deepEqual(asked, [], 'no .forward: the privileged side is not asked');
    writeFileSync(join(home, '.forward'), 'bob@example.org\n');
    assert.deepEqual(await read(user), { kind: 'found', text: 'bob@example.org\n', path: join(home, '.forward') });
    assert.deepEqual(asked, ['alice'], 'a .forward made since is read at once, by the privileged side');
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test('privileged reader: a home this process cannot search is left to the privileged side', { skip: process.getuid!() === 0 && 'root searches every directory' }, async () => {
  const home = mkdtempSync(join(tmpdir(), 'lka-fwd-'));
  try {
    chmodSync(home, 0o600);
    const asked: string[] = [];
    const read = privilegedForwardReader(async (user) => (asked.push(user), { ok: true as const, value: null }));
    assert.deepEqual(await read({ username: 'alice', uid: process.getuid!(), directory: home }), { kind: 'none' });
    assert.deepEqual(asked, ['alice']);
  } finally {
    chmodSync(home, 0o700);
    rmSync(home, { recursive: true, force: true });
  }
});

test('a missing .forward is remembered for a short while; a found one is read every time', async () => {
  let calls = 0;
  let text: string | null = null;
  const inner = async () => (calls++, text === null ? { kind: 'none' as const } : { kind: 'found' as const, text, path: '/home/a/.forward' });
  const read = rememberAbsence(inner, 50);
  const u = { username: 'a', uid: 1000, directory: '/home/a' };
  assert.equal((await read(u)).kind, 'none');
  text = 'b@example.org\n';
  assert.equal((await read(u)).kind, 'none', 'within the lifetime the absence is remembered');
  assert.equal(calls, 1);
  await new Promise((r) => setTimeout(r, 60));
  assert.equal((await read(u)).kind, 'found', 'a .forward made meanwhile is found after it');
  assert.equal((await read(u)).kind, 'found');
  assert.equal(calls, 3, 'a found file is not remembered');
});
