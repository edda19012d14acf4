// Unit tests of AUTH verification: crypt(3) strings made by libxcrypt (Python's crypt) checked by
// ours, the shadow reader on a temp file, the Authenticator over tables and the crypt pool, the
// senders check — and the figure that matters: the lka's event loop keeps turning while bcrypt runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Lka } from '../lka.js';
import { TEST_IDENTITY, config, mapTable } from '../test-helpers.js';
import { cryptScheme, verifyCryptHash } from './crypt.js';
import { CryptPool } from './pool.js';
import { systemPasswordHash } from './system.js';

// Made with libxcrypt (python3 crypt.crypt('secret', salt)): an implementation independent of ours.
const SECRET = {
  b2b: '$2b$10$abcdefghijklmnopqrstuuqflPDzB6gcMhKa1rZqKiun2YGL5sa2u',
  b2a: '$2a$10$abcdefghijklmnopqrstuuqflPDzB6gcMhKa1rZqKiun2YGL5sa2u',
  b2y: '$2y$10$abcdefghijklmnopqrstuuqflPDzB6gcMhKa1rZqKiun2YGL5sa2u',
  sha512: '$6$x133x84mehGMtM5b$CVh012NKgWPIJ6Mx391gX1AFJIhS1z6TyI3NgudIgkA7sFVB.nG5utu7tI1MLJwFNyN/Kwi1U4.WxPkjRCydw.',
  sha256: '$5$rounds=10000$saltsaltsalt$W1lPXjvzBY/PSQSaoNW0wt8j2Q6KSqoGH6zhzUqYdQ9',
  md5: '$1$abcdefgh$cHJi5PXp/ki/ktXzqlk6I1',
};

test('crypt: bcrypt $2a$/$2b$/$2y$ and sha-crypt $5$/$6$ verify; wrong passwords, MD5, garbage and locked entries do not', () => {
  for (const h of [SECRET.b2b, SECRET.b2a, SECRET.b2y, SECRET.sha512, SECRET.sha256]) {
    assert.equal(verifyCryptHash('secret', h), true, h);
    assert.equal(verifyCryptHash('Secret', h), false, h);
  }
  assert.equal(cryptScheme(SECRET.md5), null);
  for (const h of [SECRET.md5, '', '!', '*', '!$6$x$y', '$6$', '$6$saltsalt$', '$2b$10$short', 'plaintext']) {
    assert.equal(verifyCryptHash('secret', h), false, JSON.stringify(h));
  }
});

test('system accounts: the shadow line of the user; locked, expired, absent and odd names give none', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tsmtpd-shadow-'));
  try {
    const f = path.join(dir, 'shadow');
    writeFileSync(f, [`alice:${SECRET.sha512}:19000:0:99999:7:::`, 'locked:!$6$abc$def:19000::::::', `old:${SECRET.sha512}:19000:0:99999:7::1:`, 'nopw::19000::::::'].join('\n'));
    assert.deepEqual(await systemPasswordHash('alice', f), { ok: true, hash: SECRET.sha512 });
    for (const u of ['locked', 'old', 'nopw', 'nobody', 'ali:ce', '']) assert.deepEqual(await systemPasswordHash(u, f), { ok: true, hash: null }, u);
    assert.equal((await systemPasswordHash('alice', path.join(dir, 'missing'))).ok, false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function lka(): Lka {
  return new Lka(config({
    tables: [mapTable('creds', { alice: SECRET.b2b, bob: SECRET.sha512, eve: SECRET.md5 }), mapTable('senders', { alice: 'alice@example.org, @alice.example', bob: 'bob' })],
  }), { identity: TEST_IDENTITY });
}

test('Authenticator: table entries, wrong password, unknown user, unsupported hash, bad requests', async () => {
  const l = lka();
  try {
    const a = (user: string, password: string, table: string | null = 'creds') => l.auth.authenticate({ table, user, password });
    assert.equal(await a('alice', 'secret'), 'ok');
    assert.equal(await a('ALICE', 'secret'), 'ok', 'table keys are case-insensitive');
    assert.equal(await a('bob', 'secret'), 'ok');
    assert.equal(await a('bob', 'wrong'), 'fail');
    assert.equal(await a('nobody', 'secret'), 'fail');
    assert.equal(await a('eve', 'secret'), 'fail');
    assert.equal(await a('alice', 'secret', 'no-such-table'), 'temp');
    for (const bad of [{ table: 'creds', user: 'alice\r\n', password: 'secret' }, { table: 'creds', user: 'alice', password: 'se\0cret' }, { user: 'alice' }, null]) {
      assert.equal(await l.auth.authenticate(bad), 'fail', JSON.stringify(bad));
    }
  } finally {
    await l.stop();
  }
});

test('credentials from a passwd: table (name:hash values, as table-passwd)', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lka-passwd-'));
  try {
    const f = path.join(dir, 'secrets');
    writeFileSync(f, `alice:${SECRET.sha512}:1001:1001::/home/alice:/bin/sh\n`);
    const l = new Lka(config({ tables: [{ name: 'secrets', type: 'passwd', path: f, file: 'test.conf', line: 1 }] }), { identity: TEST_IDENTITY });
    try {
      await l.start();
      assert.equal(await l.auth.authenticate({ table: 'secrets', user: 'alice', password: 'secret' }), 'ok');
      assert.equal(await l.auth.authenticate({ table: 'secrets', user: 'alice', password: 'wrong' }), 'fail');
    } finally {
      await l.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('senders: the mailaddrmap entries of the user (user@dom, @dom, user), sub-addresses, unknown users', async () => {
  const l = lka();
  try {
    const s = (user: string, sender: string) => l.auth.senderCheck('senders', user, sender);
    assert.equal(await s('alice', 'alice@example.org'), 'ok');
    assert.equal(await s('alice', 'alice+tag@example.org'), 'ok');
    assert.equal(await s('alice', 'anyone@alice.example'), 'ok');
    assert.equal(await s('alice', 'bob@example.org'), 'refused');
    assert.equal(await s('bob', 'bob@anywhere.example'), 'ok');
    assert.equal(await s('carol', 'carol@example.org'), 'refused');
    assert.equal(await s('alice', ''), 'refused');
    assert.equal(await l.auth.senderCheck('nope', 'alice', 'alice@example.org'), 'temp');
  } finally {
    await l.stop();
  }
});

test('the crypt pool keeps the event loop turning while bcrypt runs (inline it blocks for the whole hash)', async (t) => {
  const pool = new CryptPool();
  try {
    await pool.verify('secret', SECRET.b2b); // start the thread
    const t0 = performance.now();
    assert.equal(verifyCryptHash('secret', SECRET.b2b), true);
    const inline = performance.now() - t0;
    let ticks = 0;
    let maxGap = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      ticks++;
    }, 1);
    const t1 = performance.now();
    const results = await Promise.all([1, 2, 3].map(() => pool.verify('secret', SECRET.b2b)));
    const pooled = performance.now() - t1;
    clearInterval(timer);
    assert.deepEqual(results, ['match', 'match', 'match']);
    t.diagnostic(`bcrypt cost 10: inline ${inline.toFixed(1)} ms blocking; 3 in the pool ${pooled.toFixed(1)} ms, ${ticks} timer ticks meanwhile, longest event-loop gap ${maxGap.toFixed(1)} ms`);
    assert.ok(ticks > 10, `the event loop stalled: ${ticks} ticks in ${pooled.toFixed(0)} ms`);
  } finally {
    await pool.close();
  }
});
