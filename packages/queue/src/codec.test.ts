// The at-rest codec: round trips under every setting, OpenSMTPD's sealed format (opened by hand
// with a bare AES-256-GCM decipher and gunzip), key rules, damage detection, and the cost per
// chunk (printed, bounded loosely so a loaded machine does not fail it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDecipheriv } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { ENC_AES, ENC_GZIP, MIN_GZIP_BYTES, QueueCodec, queueKeyBytes } from './codec.js';
import { bytes } from './test-helpers.js';

const KEY = '0123456789abcdef0123456789abcdef'; // as `openssl rand -hex 16` prints one
const text = (n: number): Buffer => Buffer.from('Subject: hello\r\n\r\nA line of a letter, said twice. '.repeat(Math.ceil(n / 48)).slice(0, n));

test('every setting round-trips text, random bytes and an empty chunk', () => {
  const settings = [{}, { compression: true }, { encryption: { key: KEY } }, { compression: true, encryption: { key: KEY } }];
  for (const opts of settings) {
    const c = new QueueCodec(opts);
    for (const plain of [text(5000), bytes(5000), new Uint8Array(0)]) {
      const row = c.encode(plain);
      assert.deepEqual(Buffer.from(c.decode(row.flags, row.data, 'x')), Buffer.from(plain), JSON.stringify(opts));
    }
  }
});

test('with neither option rows are stored as given (existing spools stay readable)', () => {
  const c = new QueueCodec({ compression: false });
  const plain = text(100);
  assert.equal(c.flags, 0);
  assert.deepEqual(c.encode(plain), { flags: 0, data: plain });
});

test('compression is gzip, skipped for a short row and for one it does not shrink', () => {
  const c = new QueueCodec({ compression: true });
  const t = c.encode(text(10_000));
  assert.equal(t.flags, ENC_GZIP);
  assert.ok(t.data.byteLength < 2000, `${t.data.byteLength}`);
  assert.deepEqual(gunzipSync(t.data), text(10_000));
  const r = c.encode(bytes(10_000));
  assert.equal(r.flags, 0, 'random bytes stay uncompressed');
  assert.equal(c.encode(text(MIN_GZIP_BYTES - 1)).flags, 0, 'a short row (an envelope) is not worth it');
  assert.equal(c.encode(text(MIN_GZIP_BYTES)).flags, ENC_GZIP);
});

test("encryption is OpenSMTPD's format: version 1 | 12-byte IV | ciphertext | 16-byte tag, key = the 32 characters", () => {
  const c = new QueueCodec({ encryption: { key: KEY } });
  const plain = text(300);
  const row = c.encode(plain);
  assert.equal(row.flags, ENC_AES);
  const b = Buffer.from(row.data);
  assert.equal(b.byteLength, 1 + 12 + plain.byteLength + 16);
  assert.equal(b[0], 1);
  // Decrypt independently with the key's characters as raw bytes (crypto.c's memcpy).
  const d = createDecipheriv('aes-256-gcm', Buffer.from(KEY, 'latin1'), b.subarray(1, 13));
  d.setAuthTag(b.subarray(b.byteLength - 16));
  assert.deepEqual(Buffer.concat([d.update(b.subarray(13, b.byteLength - 16)), d.final()]), plain);
  // A fresh IV every time: the same plaintext never gives the same row.
  assert.notDeepEqual(Buffer.from(c.encode(plain).data), b);
});

test('compression comes before encryption', () => {
  const c = new QueueCodec({ compression: true, encryption: { key: KEY } });
  const row = c.encode(text(10_000));
  assert.equal(row.flags, ENC_GZIP | ENC_AES);
  assert.ok(row.data.byteLength < 2000, 'the ciphertext is of the compressed text');
});

test('a key is exactly 32 bytes; a missing or bad key is refused when the codec is made', () => {
  assert.ok(queueKeyBytes(KEY));
  assert.equal(queueKeyBytes(KEY.slice(1)), null);
  assert.ok(queueKeyBytes('é'.repeat(16)), 'OpenSMTPD counts bytes (strlen): 16 two-byte characters are 32');
  assert.equal(queueKeyBytes('é'.repeat(32)), null, '32 characters but 64 bytes');
  assert.throws(() => new QueueCodec({ encryption: { key: 'short' } }), { code: 'ERR_QUEUE_KEY', message: /5 bytes, 32 needed/ });
  assert.throws(() => new QueueCodec({ encryption: {} }), { code: 'ERR_QUEUE_KEY', message: /no key reached/ });
});

test('a wrong key, a flipped byte, a cut row or unknown flags never decode', () => {
  const c = new QueueCodec({ compression: true, encryption: { key: KEY } });
  const other = new QueueCodec({ encryption: { key: 'f'.repeat(32) } });
  const plainOnly = new QueueCodec({});
  const row = c.encode(text(4000));
  assert.throws(() => other.decode(row.flags, row.data, 'message m chunk 0'), { code: 'ERR_QUEUE_CORRUPT', message: /message m chunk 0: cannot be decrypted/ });
  assert.throws(() => plainOnly.decode(row.flags, row.data, 'e'), { code: 'ERR_QUEUE_CORRUPT', message: /no queue encryption key/ });
  const flipped = Buffer.from(row.data);
  flipped[20] = (flipped[20] ?? 0) ^ 1;
  assert.throws(() => c.decode(row.flags, flipped, 'e'), { code: 'ERR_QUEUE_CORRUPT' });
  assert.throws(() => c.decode(row.flags, row.data.subarray(0, 20), 'e'), { code: 'ERR_QUEUE_CORRUPT' });
  assert.throws(() => c.decode(8, row.data, 'e'), { code: 'ERR_QUEUE_CORRUPT', message: /unknown encoding flags/ });
  const z = new QueueCodec({ compression: true }).encode(text(4000));
  const zbad = Buffer.from(z.data);
  zbad[zbad.byteLength - 6] = (zbad[zbad.byteLength - 6] ?? 0) ^ 0xff; // inside the CRC32 trailer
  assert.throws(() => c.decode(z.flags, zbad, 'e'), { code: 'ERR_QUEUE_CORRUPT', message: /decompressed/ });
});

test('the key check value matches its own key only', () => {
  const c = new QueueCodec({ encryption: { key: KEY } });
  const check = c.keyCheck();
  assert.ok(check);
  assert.equal(c.keyMatches(check), true);
  assert.equal(new QueueCodec({ encryption: { key: 'x'.repeat(32) } }).keyMatches(check), false);
  assert.equal(new QueueCodec({}).keyCheck(), null);
});

// Costs are printed for the benchmark notes, never asserted: a timed unit test fails on a busy machine.
test('cost per chunk (printed), each setting round-trips', (t) => {
  const settings: [string, ConstructorParameters<typeof QueueCodec>[0]][] = [
    ['gzip', { compression: true }],
    ['aes', { encryption: { key: KEY } }],
    ['gzip+aes', { compression: true, encryption: { key: KEY } }],
  ];
  for (const [name, opts] of settings) {
    const c = new QueueCodec(opts);
    for (const [kind, plain] of [['text 1 KiB', text(1024)], ['text 100 KiB', text(100 * 1024)], ['random 100 KiB', Buffer.from(bytes(100 * 1024))]] as const) {
      const n = plain.byteLength > 10_000 ? 30 : 500;
      let row = c.encode(plain);
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) row = c.encode(plain);
      const t1 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) c.decode(row.flags, row.data, 'x');
      const t2 = process.hrtime.bigint();
      const enc = Number(t1 - t0) / n / 1e3;
      const dec = Number(t2 - t1) / n / 1e3;
      t.diagnostic(`codec ${name} ${kind}: encode ${enc.toFixed(0)} us, decode ${dec.toFixed(0)} us, stored ${row.data.byteLength} B`);
      assert.ok(Buffer.from(c.decode(row.flags, row.data, 'x')).equals(Buffer.from(plain)), `${name} ${kind}: round trip`);
    }
  }
});
