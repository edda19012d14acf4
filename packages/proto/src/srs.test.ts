// The SRS codec: round trips through one and two forwarders, forged hashes, expiry, the backup
// key, and a fixed vector computed by hand from OpenSMTPD's formula (SHA-1 of key || rest).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { srsDecode, srsEncode } from './srs.js';

const DAY = 86_400_000;
const NOW = 20_000 * DAY + 3600_000; // day 20000: 20000 % 1024 = 544 = 17*32 + 0 -> "RA"
const keys = { key: 'secret', ttl: 4 * 86_400 };

test('SRS0: the format, the hash of OpenSMTPD, and the way back', () => {
  const srs = srsEncode('alice@origin.example', 'fwd.example', 'secret', NOW);
  const rest = 'RA=origin.example=alice@fwd.example';
  const h = createHash('sha1').update('secret' + rest).digest('base64').slice(0, 4);
  assert.equal(srs, `SRS0=${h}=${rest}`);
  assert.equal(srsDecode(srs, keys, NOW), 'alice@origin.example');
  assert.equal(srsDecode(srs.replace(/^SRS0/, 'srs0'), keys, NOW), 'alice@origin.example', 'the prefix is case-insensitive');
});

test('SRS0: a wrong hash, an unknown key, expiry; the backup key still decodes', () => {
  const srs = srsEncode('alice@origin.example', 'fwd.example', 'secret', NOW);
  assert.equal(srsDecode(srs.replace(/^SRS0=..../, 'SRS0=AAAA'), keys, NOW), null);
  assert.equal(srsDecode(srs, { key: 'other', ttl: keys.ttl }, NOW), null);
  assert.equal(srsDecode(srs, { key: 'other', backup: 'secret', ttl: keys.ttl }, NOW), 'alice@origin.example');
  assert.equal(srsDecode(srs, keys, NOW + 4 * DAY), 'alice@origin.example', 'within the ttl');
  assert.equal(srsDecode(srs, keys, NOW + 5 * DAY), null, 'expired');
  assert.equal(srsDecode(srs, keys, NOW - DAY), 'alice@origin.example', 'a day of clock skew');
  assert.equal(srsDecode('alice@fwd.example', keys, NOW), null);
  assert.equal(srsDecode('SRS0=', keys, NOW), null);
});

test('SRS1: a second forwarder keeps the first one; decoding returns the SRS0 address of the first', () => {
  const first = srsEncode('alice@origin.example', 'fwd1.example', 'k1', NOW);
  const second = srsEncode(first, 'fwd2.example', 'k2', NOW);
  assert.match(second, /^SRS1=[A-Za-z0-9+/]{4}=fwd1\.example==.{4}=RA=origin\.example=alice@fwd2\.example$/);
  assert.equal(srsDecode(second, { key: 'k2', ttl: keys.ttl }, NOW), first);
  assert.equal(srsDecode(first, { key: 'k1', ttl: keys.ttl }, NOW), 'alice@origin.example');
  const third = srsEncode(second, 'fwd3.example', 'k3', NOW);
  assert.match(third, /^SRS1=.{4}=fwd1\.example==.{4}=RA=origin\.example=alice@fwd3\.example$/);
  assert.equal(srsDecode(third, { key: 'k3', ttl: keys.ttl }, NOW), first);
  assert.equal(srsDecode(third, { key: 'k2', ttl: keys.ttl }, NOW), null);
});

test('a sender without a domain is left alone', () => {
  assert.equal(srsEncode('postmaster', 'fwd.example', 'k', NOW), 'postmaster');
});
