// The one address validator: what it accepts, what it refuses (REFERENCE 14, CVE-2020-7247).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAddress, normalizeAddress, formatAddress } from './address.js';

test('ordinary mailboxes parse into local part and lowercased domain', () => {
  const r = parseAddress('Alice.Smith+tag@Example.ORG');
  assert.deepEqual(r, { ok: true, address: { local: 'Alice.Smith+tag', domain: 'example.org' } });
  assert.equal(normalizeAddress('bob@[192.0.2.1]'), 'bob@[192.0.2.1]');
  assert.equal(normalizeAddress('bob@[IPv6:2001:db8::1]'), 'bob@[ipv6:2001:db8::1]');
  assert.equal(normalizeAddress('x@mail.example.org.'), 'x@mail.example.org');
});

test('RFC 5321 atext is accepted, even characters a shell cares about', () => {
  for (const a of ['a|b@example.org', "o'brien@example.org", 'a$b@example.org', 'a{b}@example.org', 'a`b@example.org']) {
    assert.equal(parseAddress(a).ok, true, a);
  }
});

test('CVE-2020-7247 style senders are refused', () => {
  for (const a of [';sleep 66;', '<;sleep 66;>', ';sleep 66;@example.org', 'a;b@example.org', '$(id)@example.org', 'a b@example.org', 'a\nb@example.org', 'a\r\nRCPT TO:<x>@example.org']) {
    assert.equal(parseAddress(a).ok, false, JSON.stringify(a));
  }
});

test('an address without a domain is refused unless explicitly allowed', () => {
  assert.deepEqual(parseAddress('root'), { ok: false, error: 'bad-domain' });
  assert.deepEqual(parseAddress('root', { allowUnqualified: true }), { ok: true, address: { local: 'root', domain: '' } });
  assert.equal(parseAddress(';id;', { allowUnqualified: true }).ok, false);
});

test('dot-string rules: no leading, trailing or double dots; no empty parts', () => {
  for (const a of ['.a@example.org', 'a.@example.org', 'a..b@example.org', '@example.org', 'a@', 'a@.example.org', 'a@example..org', 'a@-x.org', 'a@x-.org']) {
    assert.equal(parseAddress(a).ok, false, a);
  }
});

test('quoted local parts: accepted, unquoted when they can be, requoted when they must be', () => {
  const r = parseAddress('"john doe"@example.org');
  assert.ok(r.ok);
  assert.equal(r.address.local, 'john doe');
  assert.equal(formatAddress(r.address), '"john doe"@example.org');
  assert.equal(normalizeAddress('"plain"@example.org'), 'plain@example.org');
  assert.equal(parseAddress('"a\\"b"@example.org').ok, true);
  assert.equal(parseAddress('"a"b"@example.org').ok, false);
  assert.equal(parseAddress('"a\r"@example.org').ok, false);
});

test('size limits of RFC 5321 4.5.3.1', () => {
  assert.equal(parseAddress('a'.repeat(64) + '@example.org').ok, true);
  assert.deepEqual(parseAddress('a'.repeat(65) + '@example.org'), { ok: false, error: 'too-long' });
  const long = 'a@' + Array.from({ length: 60 }, () => 'abcd').join('.') + '.org';
  assert.equal(parseAddress(long).ok, false);
});

test('UTF-8 only when the session negotiated SMTPUTF8', () => {
  assert.equal(parseAddress('jörg@example.org').ok, false);
  assert.equal(parseAddress('jörg@bücher.example', { utf8: true }).ok, true);
  assert.equal(parseAddress('a\u0000b@example.org', { utf8: true }).ok, false);
});

test('control characters never pass, anywhere', () => {
  for (let c = 0; c < 0x20; c++) assert.equal(parseAddress(`a${String.fromCharCode(c)}b@example.org`, { utf8: true }).ok, false, `0x${c.toString(16)}`);
  assert.equal(parseAddress('ab@exa\x7fmple.org').ok, false);
});

test('whatever is accepted formats back to something the validator accepts again', () => {
  const samples = ['a@b.c', '"x y"@b.c', 'a+b@B.C', 'a|b@b.c', '"q\\"uote"@b.c', 'u@[10.0.0.1]'];
  for (const s of samples) {
    const r = parseAddress(s);
    assert.ok(r.ok, s);
    const again = parseAddress(formatAddress(r.address));
    assert.ok(again.ok, formatAddress(r.address));
    assert.deepEqual(again.address, r.address);
  }
});
