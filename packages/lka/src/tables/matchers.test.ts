import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileNetaddrs, compileRegex, domainMatch, mailaddrMatch, netaddrMatch, normalizeIp, parseNetaddr, regexMatch, splitMailaddr, MAX_REGEX_SUBJECT } from './matchers.js';

test('domainMatch: exact, case-insensitive, * wildcards at any depth', () => {
  assert.equal(domainMatch('example.org', 'example.org'), true);
  assert.equal(domainMatch('Example.ORG', 'example.org'), true);
  assert.equal(domainMatch('example.org', 'example.com'), false);
  assert.equal(domainMatch('a.example.org', '*.example.org'), true);
  assert.equal(domainMatch('a.b.example.org', '*.example.org'), true);
  assert.equal(domainMatch('example.org', '*.example.org'), false);
  assert.equal(domainMatch('badexample.org', '*.example.org'), false);
  assert.equal(domainMatch('anything', '*'), true);
  assert.equal(domainMatch('mx1.example.org', 'mx*.example.org'), true);
  assert.equal(domainMatch('mail.example.org', 'mx*.example.org'), false);
});

test('domainMatch stays fast on adversarial globs', () => {
  const t0 = Date.now();
  assert.equal(domainMatch('a'.repeat(200) + 'b', '*a*a*a*a*a*a*a*a*c'), false);
  assert.ok(Date.now() - t0 < 200);
});

test('mailaddrMatch: user, @domain, user@domain, user@*.domain, @ and tags', () => {
  const k = (s: string) => splitMailaddr(s);
  const m = (key: string, pat: string) => mailaddrMatch(k(key), k(pat), '+');
  assert.equal(m('bob@example.org', 'bob'), true);
  assert.equal(m('bob@example.org', 'alice'), false);
  assert.equal(m('bob@example.org', '@example.org'), true);
  assert.equal(m('bob@example.com', '@example.org'), false);
  assert.equal(m('Bob@Example.org', 'bob@example.org'), true);
  assert.equal(m('bob@mx.example.org', 'bob@*.example.org'), true);
  assert.equal(m('bob@example.org', 'bob@*.example.org'), false);
  assert.equal(m('anyone@anywhere.net', '@'), true);
  // The key's +tag is ignored unless the entry has one.
  assert.equal(m('bob+lists@example.org', 'bob@example.org'), true);
  assert.equal(m('bob+lists@example.org', 'bob+lists@example.org'), true);
  assert.equal(m('bob@example.org', 'bob+lists@example.org'), false);
  assert.equal(m('bob+other@example.org', 'bob+lists@example.org'), false);
});

test('parseNetaddr: v4, v6, CIDR, brackets; rejects junk and bad prefixes', () => {
  assert.deepEqual(parseNetaddr('10.0.0.0/8'), { address: '10.0.0.0', family: 'ipv4', prefix: 8 });
  assert.deepEqual(parseNetaddr('192.0.2.1'), { address: '192.0.2.1', family: 'ipv4', prefix: 32 });
  assert.deepEqual(parseNetaddr('[::1]'), { address: '::1', family: 'ipv6', prefix: 128 });
  assert.deepEqual(parseNetaddr('[2001:db8::]/32'), { address: '2001:db8::', family: 'ipv6', prefix: 32 });
  assert.deepEqual(parseNetaddr('2001:DB8::/32'), { address: '2001:db8::', family: 'ipv6', prefix: 32 });
  assert.equal(parseNetaddr('10.0.0.0/33'), null);
  assert.equal(parseNetaddr('10.0.0.0/x'), null);
  assert.equal(parseNetaddr('local'), null);
  assert.equal(parseNetaddr('example.org'), null);
});

test('netaddrMatch: CIDR v4 and v6, mapped v4, names such as local', () => {
  const m = compileNetaddrs(['10.0.0.0/8', '192.0.2.7', '[2001:db8::]/32', 'local']);
  assert.equal(netaddrMatch(m, '10.200.1.1'), true);
  assert.equal(netaddrMatch(m, '11.0.0.1'), false);
  assert.equal(netaddrMatch(m, '192.0.2.7'), true);
  assert.equal(netaddrMatch(m, '192.0.2.8'), false);
  assert.equal(netaddrMatch(m, '::ffff:10.1.1.1'), true);
  assert.equal(netaddrMatch(m, '2001:db8:1::5'), true);
  assert.equal(netaddrMatch(m, '2001:db9::5'), false);
  assert.equal(netaddrMatch(m, '[IPv6:2001:db8::1]'), true);
  assert.equal(netaddrMatch(m, 'local'), true);
  assert.equal(netaddrMatch(m, 'garbage'), false);
  assert.equal(normalizeIp('fe80::1%eth0'), 'fe80::1');
});

test('compileRegex: (?i), POSIX classes, invalid patterns, upper-case warning', () => {
  const plain = compileRegex('^bob');
  assert.ok(plain.ok && plain.re.test('bob@x') && !plain.re.test('Bob@x'));
  const ci = compileRegex('(?i)^BOB');
  assert.ok(ci.ok && ci.re.test('bob@x') && ci.warning === undefined);
  const posix = compileRegex('^[[:digit:]]+$');
  assert.ok(posix.ok && posix.re.test('123') && !posix.re.test('12a'));
  const bad = compileRegex('(unclosed');
  assert.equal(bad.ok, false);
  const upper = compileRegex('^Bob');
  assert.ok(upper.ok && typeof upper.warning === 'string');
  const escapes = compileRegex('^\\S+@\\S+$');
  assert.ok(escapes.ok && escapes.warning === undefined);
});

test('regexMatch refuses subjects longer than the bound (catastrophic patterns stay cheap)', () => {
  const r = compileRegex('^(a+)+$');
  assert.ok(r.ok);
  assert.equal(regexMatch([r.re], 'a'.repeat(MAX_REGEX_SUBJECT + 1) + 'b'), 'error');
  assert.equal(regexMatch([r.re], 'aaaa'), true);
});
