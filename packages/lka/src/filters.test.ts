// Builtin filter conditions as lka evaluates them (OpenSMTPD's lka_filter.c semantics): `rdns`
// matches a client with a name, `fcrdns` a forward-confirmed one, tables and regex tables, `!`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigText } from '@tsmtpd/config';
import type { FilterFacts } from '@tsmtpd/proto';
import { Lka } from './lka.js';
import { TEST_IDENTITY } from './test-helpers.js';

const CONF = [
  'table bad { 192.0.2.0/24 }',
  'table dyn { "^pool-[0-9]+[.]" }',
  'table helos { "*.bad.example" }',
  'table users { alice }',
  'filter "src" phase connect match src <bad> disconnect "550 no"',
  'filter "nordns" phase connect match !rdns disconnect "550 no rdns"',
  'filter "rdns" phase connect match rdns reject "550 has rdns"',
  'filter "nofcrdns" phase connect match !fcrdns reject "550 no fcrdns"',
  'filter "dyn" phase connect match rdns regex <dyn> junk',
  'filter "helo" phase helo match helo <helos> reject "550 helo"',
  'filter "auth" phase mail-from match auth junk',
  'filter "authu" phase mail-from match auth <users> junk',
  'filter "from" phase mail-from match mail-from regex "^spam" reject "550 spam"',
  'filter "to" phase rcpt-to match !rcpt-to "ok@example.org" reject "550 not ok"',
  'listen on 127.0.0.1 filter "src"',
  'action "l" mbox',
  'match for local action "l"',
].join('\n');

const base: FilterFacts = { src: '198.51.100.7', rdns: 'pool-7.isp.example', fcrdns: 'pass', helo: 'mx.good.example', authUser: null, mailFrom: null, rcptTo: null };

async function lka(): Promise<Lka> {
  const r = await parseConfigText(CONF, '/etc/smtpd.conf');
  assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
  return new Lka(r.config, { identity: TEST_IDENTITY });
}

async function matched(l: Lka, name: string, facts: Partial<FilterFacts>): Promise<boolean> {
  const r = await l.filterMatch(name, { ...base, ...facts });
  assert.ok(r.ok, r.ok ? '' : r.message);
  return r.matched;
}

test('src, rdns, !rdns, !fcrdns and rdns regex tables', async () => {
  const l = await lka();
  assert.equal(await matched(l, 'src', { src: '192.0.2.9' }), true);
  assert.equal(await matched(l, 'src', {}), false);
  assert.equal(await matched(l, 'nordns', {}), false);
  assert.equal(await matched(l, 'nordns', { rdns: null }), true);
  assert.equal(await matched(l, 'rdns', {}), true);
  assert.equal(await matched(l, 'nofcrdns', {}), false);
  assert.equal(await matched(l, 'nofcrdns', { fcrdns: 'fail' }), true);
  assert.equal(await matched(l, 'nofcrdns', { fcrdns: 'error' }), true, 'an error is not a pass');
  assert.equal(await matched(l, 'dyn', {}), true);
  assert.equal(await matched(l, 'dyn', { rdns: null }), false);
});

test('helo, auth, auth <table>, mail-from regex, !rcpt-to', async () => {
  const l = await lka();
  assert.equal(await matched(l, 'helo', { helo: 'x.bad.example' }), true);
  assert.equal(await matched(l, 'helo', {}), false);
  assert.equal(await matched(l, 'auth', {}), false);
  assert.equal(await matched(l, 'auth', { authUser: 'bob' }), true);
  assert.equal(await matched(l, 'authu', { authUser: 'bob' }), false);
  assert.equal(await matched(l, 'authu', { authUser: 'alice' }), true);
  assert.equal(await matched(l, 'from', { mailFrom: 'spammer@x.example' }), true);
  assert.equal(await matched(l, 'from', { mailFrom: 'ham@x.example' }), false);
  assert.equal(await matched(l, 'to', { rcptTo: 'ok@example.org' }), false);
  assert.equal(await matched(l, 'to', { rcptTo: 'other@example.org' }), true);
});

test('bad requests and unknown filters are refused, never guessed', async () => {
  const l = await lka();
  assert.equal((await l.filterMatch('nope', base)).ok, false);
  assert.equal((await l.filterMatch('src', { ...base, src: 5 })).ok, false);
  const d = await l.clientDns('not an address');
  assert.deepEqual(d, { rdns: null, fcrdns: 'error' });
});
