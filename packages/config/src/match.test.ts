// `match` rules: every criterion, `!`, `regex`, tables and literals, action / reject, defaults.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MatchRule } from './model.js';
import { parseErr, parseOk } from './test-util.js';

const HEAD = `table nets { 10.0.0.0/8, "[::1]" }
table doms { example.org, "*.example.net" }
table addrs { "@example.org", alice }
table users { alice, bob }
table amap { a = b }
table rx { "^list-" }
action "a" mbox
`;
const N = HEAD.split('\n').length;

async function rule(opts: string): Promise<MatchRule> {
  const c = await parseOk(`${HEAD}match ${opts}\n`);
  const r = c.matches[0];
  assert.ok(r);
  assert.equal(r.line, N);
  return r;
}
const F = (negate = false, regex = false) => ({ negate, regex });

test('match: defaults are from local, for local', async () => {
  const r = await rule('action "a"');
  assert.deepEqual(r.from, { kind: 'local', ...F() });
  assert.deepEqual(r.for, { kind: 'local', ...F() });
  assert.equal(r.action, 'a');
  assert.equal(r.reject, false);
});

test('match: reject', async () => {
  const r = await rule('from any for any reject');
  assert.equal(r.reject, true);
  assert.equal(r.action, undefined);
});

test('match: from any / local / socket', async () => {
  assert.deepEqual((await rule('from any action "a"')).from, { kind: 'any', ...F() });
  assert.deepEqual((await rule('from local action "a"')).from, { kind: 'local', ...F() });
  assert.deepEqual((await rule('from socket action "a"')).from, { kind: 'socket', ...F() });
  assert.deepEqual((await rule('! from socket action "a"')).from, { kind: 'socket', ...F(true) });
});

test('match: from src literal, table, inline, regex', async () => {
  assert.deepEqual((await rule('from src 192.0.2.0/24 action "a"')).from, { kind: 'src', ...F(), value: '192.0.2.0/24' });
  assert.deepEqual((await rule('from src <nets> action "a"')).from, { kind: 'src', ...F(), value: { table: 'nets' } });
  const inline = await rule('from src { 192.0.2.1, 2001:db8::/32 } action "a"');
  assert.match(JSON.stringify(inline.from.value), /<dynamic:\d+>/);
  assert.deepEqual((await rule('!from src regex "^10\\." action "a"')).from, { kind: 'src', ...F(true, true), value: '^10\\.' });
});

test('match: from rdns [table], from auth [table], from mail-from', async () => {
  assert.deepEqual((await rule('from rdns action "a"')).from, { kind: 'rdns', ...F() });
  assert.deepEqual((await rule('from rdns <doms> action "a"')).from, { kind: 'rdns', ...F(), value: { table: 'doms' } });
  assert.deepEqual((await rule('from rdns regex "\\.example\\.org$" action "a"')).from, { kind: 'rdns', ...F(false, true), value: '\\.example\\.org$' });
  assert.deepEqual((await rule('from auth action "a"')).from, { kind: 'auth', ...F() });
  assert.deepEqual((await rule('from auth <users> action "a"')).from, { kind: 'auth', ...F(), value: { table: 'users' } });
  assert.deepEqual((await rule('!from auth regex "^adm" action "a"')).from, { kind: 'auth', ...F(true, true), value: '^adm' });
  assert.deepEqual((await rule('from mail-from "@example.org" action "a"')).from, { kind: 'mail-from', ...F(), value: '@example.org' });
});

test('match: for any / local / domain / rcpt-to', async () => {
  assert.deepEqual((await rule('for any action "a"')).for, { kind: 'any', ...F() });
  assert.deepEqual((await rule('!for local action "a"')).for, { kind: 'local', ...F(true) });
  assert.deepEqual((await rule('for domain example.org action "a"')).for, { kind: 'domain', ...F(), value: 'example.org' });
  assert.deepEqual((await rule('for domain <doms> action "a"')).for, { kind: 'domain', ...F(), value: { table: 'doms' } });
  assert.deepEqual((await rule('for domain regex <rx> action "a"')).for, { kind: 'domain', ...F(false, true), value: { table: 'rx' } });
  assert.deepEqual((await rule('for rcpt-to <addrs> action "a"')).for, { kind: 'rcpt-to', ...F(), value: { table: 'addrs' } });
});

test('match: auth, helo, mail-from, rcpt-to, tag, tls with ! and regex', async () => {
  const r = await rule('from any auth <users> helo "mx.example.org" !mail-from regex "^bounce" rcpt-to <addrs> tag MX !tls for any action "a"');
  assert.deepEqual(r.auth, { ...F(), value: { table: 'users' } });
  assert.deepEqual(r.helo, { ...F(), value: 'mx.example.org' });
  assert.deepEqual(r.mailFrom, { ...F(true, true), value: '^bounce' });
  assert.deepEqual(r.rcptTo, { ...F(), value: { table: 'addrs' } });
  assert.deepEqual(r.tag, { ...F(), value: 'MX' });
  assert.deepEqual(r.tls, F(true));
  assert.deepEqual((await rule('!auth tag regex "^SUB" helo regex <rx> action "a"')).auth, F(true));
  assert.deepEqual((await rule('tag regex "^SUB" action "a"')).tag, { ...F(false, true), value: '^SUB' });
});

test('match: rules keep file order', async () => {
  const c = await parseOk(`${HEAD}match from any for domain example.org action "a"\nmatch from any reject\n`);
  assert.deepEqual(c.matches.map((m) => [m.line, m.reject]), [[N, false], [N + 1, true]]);
});

test('match: errors', async () => {
  const err = async (o: string) => parseErr(`${HEAD}match ${o}\nmatch from any reject\n`);
  const E = (m: string) => [`/virtual/smtpd.conf:${N}: ${m}`];
  assert.deepEqual(await err('from any action "nope"'), E('no such dispatcher: nope'));
  assert.deepEqual(await err('from any from local action "a"'), E('from already specified for this rule'));
  assert.deepEqual(await err('for any for local action "a"'), E('for already specified for this rule'));
  assert.deepEqual(await err('tls tls action "a"'), E('tls already specified for this rule'));
  assert.deepEqual(await err('from auth auth action "a"'), E('auth already specified for this rule'));
  assert.deepEqual(await err('from mail-from "x" mail-from "y" action "a"'), E('mail-from already specified for this rule'));
  assert.deepEqual(await err('for rcpt-to "x" rcpt-to "y" action "a"'), E('rcpt-to already specified for this rule'));
  assert.deepEqual(await err('for domain <amap> action "a"'), E('table "amap" may not be used for \'for\' lookups'));
  assert.deepEqual(await err('from src <amap> action "a"'), E('table "amap" may not be used for from lookups'));
  assert.deepEqual(await err('mail-from <amap> action "a"'), E('table "amap" may not be used for mail-from lookups'));
  assert.deepEqual(await err('for domain <nope> action "a"'), E('no such table: nope'));
  assert.deepEqual(await err('from any for any'), E('syntax error'));
  assert.deepEqual(await err('from everywhere action "a"'), E('syntax error'));
  assert.deepEqual(await err('for domain action "a"'), E('syntax error'));
  assert.deepEqual(await err('from any action local'), E('syntax error'));
});

test('match: what 6.8 accepts: the other order of auth / mail-from / rcpt-to pairs, unchecked entries', async () => {
  const a = await rule('auth { bob } from auth action "a"');
  assert.deepEqual([a.auth, a.from.kind], [undefined, 'auth']);
  const m = await rule('mail-from "x" from mail-from "y" action "a"');
  assert.deepEqual([m.mailFrom, m.from.value], [undefined, 'y']);
  const r = await rule('rcpt-to "x" for rcpt-to "y" action "a"');
  assert.deepEqual([r.rcptTo, r.for.value], [undefined, 'y']);
  // networks and patterns are only looked at when matching
  assert.equal((await rule('from src 10.0.0.1/33 action "a"')).from.value, '10.0.0.1/33');
  assert.deepEqual((await rule('from src <doms> action "a"')).from.value, { table: 'doms' });
  assert.equal((await rule('rcpt-to regex "(" action "a"')).rcptTo?.value, '(');
});

test('match: forward reference to an action is an error', async () => {
  assert.deepEqual(await parseErr('match from any for any action "later"\naction "later" mbox\nmatch from any reject\n'),
    ['/virtual/smtpd.conf:1: no such dispatcher: later']);
});
