import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MatchRule, TableDef } from '@tsmtpd/config';
import type { SessionInfo } from '@tsmtpd/proto';
import { localHosts, localNames } from './localnames.js';
import { Ruleset, type RuleEnvelope } from './ruleset.js';
import { TableSet } from './tables/registry.js';
import { c, config, forr, from, listTable, mapTable, rule, session, TEST_IDENTITY } from './test-helpers.js';
import { SystemUsers } from './users.js';

function ruleset(rules: MatchRule[], tables: TableDef[] = []): Ruleset {
  const cfg = config({ tables, matches: rules });
  const set = new TableSet(cfg, { users: new SystemUsers(), localNames: localNames(cfg.serverName, TEST_IDENTITY), localHosts: localHosts(TEST_IDENTITY) });
  return new Ruleset(cfg.matches, set);
}

function env(o: { s?: Partial<SessionInfo>; sender?: string; dest?: string; internal?: boolean } = {}): RuleEnvelope {
  const [local = '', domain = ''] = (o.dest ?? 'bob@example.org').split('@');
  return { session: session(o.s), internal: o.internal ?? false, sender: o.sender ?? 'alice@example.net', dest: { local, domain } };
}

/** Index of the matching rule, -1 for none, 'error' for a lookup failure. */
function which(rs: Ruleset, e: RuleEnvelope): number | 'error' {
  const d = rs.match(e);
  // In-memory tables answer at once: the ruleset stays synchronous for them.
  if (d instanceof Promise) throw new Error('in-memory tables made the ruleset asynchronous');
  return d.kind === 'match' ? d.index : d.kind === 'none' ? -1 : 'error';
}

test('first match wins, in file order', () => {
  const rs = ruleset([
    rule({ from: from('any'), for: forr('domain', 'example.org'), action: 'a' }),
    rule({ from: from('any'), for: forr('any'), action: 'b' }),
  ]);
  assert.equal(which(rs, env()), 0);
  assert.equal(which(rs, env({ dest: 'x@other.net' })), 1);
});

test('defaults from local for local; for local = <localnames>', () => {
  const rs = ruleset([rule({ action: 'a' })]);
  assert.equal(which(rs, env({ s: { socket: true, remoteAddress: 'local' }, dest: 'bob@localhost' })), 0);
  assert.equal(which(rs, env({ s: { remoteAddress: '127.0.0.1' }, dest: 'bob@mx.example.org' })), 0);
  // As OpenSMTPD: loopback addresses other than those of an interface are not "local".
  assert.equal(which(rs, env({ s: { remoteAddress: '127.0.0.5' }, dest: 'bob@mx.example.org' })), -1, '127.0.0.5 is not local');
  assert.equal(which(rs, env({ s: { remoteAddress: '10.1.2.3' }, dest: 'bob@testhost' })), 0, 'interface address, host name');
  assert.equal(which(rs, env({ s: { remoteAddress: '::1' }, dest: 'bob@[10.1.2.3]' })), 0);
  assert.equal(which(rs, env({ s: { remoteAddress: '::1' }, dest: 'bob@[ipv6:2001:db8::5]' })), 0);
  assert.equal(which(rs, env({ s: { remoteAddress: '203.0.113.9' }, dest: 'bob@localhost' })), -1, 'remote client is not local');
  assert.equal(which(rs, env({ s: { socket: true }, dest: 'bob@example.org' })), -1, 'example.org is not a local name');
});

test('from any / from socket / from src with CIDR table and negation', () => {
  const t = listTable('nets', ['198.51.100.0/24', '[2001:db8::]/32']);
  assert.equal(which(ruleset([rule({ from: from('any'), for: forr('any'), action: 'a' })]), env()), 0);
  assert.equal(which(ruleset([rule({ from: from('any', undefined, { negate: true }), for: forr('any'), action: 'a' })]), env()), -1);
  const sock = ruleset([rule({ from: from('socket'), for: forr('any'), action: 'a' })]);
  assert.equal(which(sock, env({ s: { socket: true, remoteAddress: 'local' } })), 0);
  assert.equal(which(sock, env({ s: { remoteAddress: '127.0.0.1' } })), -1);
  const notSock = ruleset([rule({ from: from('socket', undefined, { negate: true }), for: forr('any'), action: 'a' })]);
  assert.equal(which(notSock, env({ s: { remoteAddress: '127.0.0.1' } })), 0);
  const src = ruleset([rule({ from: from('src', { table: 'nets' }), for: forr('any'), action: 'a' })], [t]);
  assert.equal(which(src, env({ s: { remoteAddress: '198.51.100.77' } })), 0);
  assert.equal(which(src, env({ s: { remoteAddress: '2001:db8:ffff::1' } })), 0);
  assert.equal(which(src, env({ s: { remoteAddress: '::ffff:198.51.100.1' } })), 0);
  assert.equal(which(src, env({ s: { remoteAddress: '198.51.101.1' } })), -1);
  const notSrc = ruleset([rule({ from: from('src', { table: 'nets' }, { negate: true }), for: forr('any'), action: 'a' })], [t]);
  assert.equal(which(notSrc, env({ s: { remoteAddress: '198.51.101.1' } })), 0);
  const literal = ruleset([rule({ from: from('src', '192.0.2.0/28'), for: forr('any'), action: 'a' })]);
  assert.equal(which(literal, env({ s: { remoteAddress: '192.0.2.15' } })), 0);
  assert.equal(which(literal, env({ s: { remoteAddress: '192.0.2.16' } })), -1);
  const rx = ruleset([rule({ from: from('src', '^198\\.51\\.', { regex: true }), for: forr('any'), action: 'a' })]);
  assert.equal(which(rx, env({ s: { remoteAddress: '198.51.100.1' } })), 0);
});

test('from rdns: presence, table with wildcards, regex, negation', () => {
  const has = ruleset([rule({ from: from('rdns'), for: forr('any'), action: 'a' })]);
  assert.equal(which(has, env({ s: { rdns: 'mail.example.net' } })), 0);
  assert.equal(which(has, env({ s: { rdns: null } })), -1);
  const hasNot = ruleset([rule({ from: from('rdns', undefined, { negate: true }), for: forr('any'), action: 'a' })]);
  assert.equal(which(hasNot, env({ s: { rdns: null } })), 0);
  const tbl = ruleset([rule({ from: from('rdns', { table: 'h' }), for: forr('any'), action: 'a' })], [listTable('h', ['*.example.net'])]);
  assert.equal(which(tbl, env({ s: { rdns: 'MX1.example.net' } })), 0);
  assert.equal(which(tbl, env({ s: { rdns: 'example.com' } })), -1);
  assert.equal(which(tbl, env({ s: { rdns: null } })), -1);
  const rx = ruleset([rule({ from: from('rdns', 'dyn|dsl', { regex: true, negate: true }), for: forr('any'), action: 'a' })]);
  assert.equal(which(rx, env({ s: { rdns: 'host-1.dsl.isp.net' } })), -1);
  assert.equal(which(rx, env({ s: { rdns: 'mail.isp.net' } })), 0);
  assert.equal(which(rx, env({ s: { rdns: null } })), -1, 'no rdns never matches a table/regex, even negated');
});

test('from auth / auth: authenticated, by user table (string or mailaddr), regex, negation', () => {
  const any = ruleset([rule({ from: from('auth'), for: forr('any'), action: 'a' })]);
  assert.equal(which(any, env({ s: { authUser: 'bob' } })), 0);
  assert.equal(which(any, env()), -1);
  const not = ruleset([rule({ from: from('auth', undefined, { negate: true }), for: forr('any'), action: 'a' })]);
  assert.equal(which(not, env()), 0);
  assert.equal(which(not, env({ s: { authUser: 'bob' } })), -1);
  const users = ruleset([rule({ from: from('any'), for: forr('any'), auth: c({ table: 'u' }), action: 'a' })], [listTable('u', ['bob', '@example.org'])]);
  assert.equal(which(users, env({ s: { authUser: 'Bob' } })), 0);
  assert.equal(which(users, env({ s: { authUser: 'carol@example.org' } })), 0, 'user names with @ are mail addresses');
  assert.equal(which(users, env({ s: { authUser: 'carol' } })), -1);
  const notUsers = ruleset([rule({ from: from('any'), for: forr('any'), auth: c({ table: 'u' }, { negate: true }), action: 'a' })], [listTable('u', ['bob'])]);
  assert.equal(which(notUsers, env()), 0, 'unauthenticated is "not authenticated as bob"');
  const rx = ruleset([rule({ from: from('auth', '^adm-', { regex: true }), for: forr('any'), action: 'a' })]);
  assert.equal(which(rx, env({ s: { authUser: 'adm-joe' } })), 0);
  assert.equal(which(rx, env({ s: { authUser: 'joe' } })), -1);
});

test('mail-from and from mail-from: mailaddr forms, null sender, regex, negation', () => {
  const t = listTable('senders', ['@example.net', 'boss@corp.com']);
  const rs = ruleset([rule({ from: from('mail-from', { table: 'senders' }), for: forr('any'), action: 'a' })], [t]);
  assert.equal(which(rs, env({ sender: 'alice@example.net' })), 0);
  assert.equal(which(rs, env({ sender: 'boss+x@corp.com' })), 0);
  assert.equal(which(rs, env({ sender: 'other@corp.com' })), -1);
  assert.equal(which(rs, env({ sender: '' })), -1);
  const notRs = ruleset([rule({ from: from('any'), for: forr('any'), mailFrom: c({ table: 'senders' }, { negate: true }), action: 'a' })], [t]);
  assert.equal(which(notRs, env({ sender: 'other@corp.com' })), 0);
  assert.equal(which(notRs, env({ sender: 'alice@example.net' })), -1);
  const nullSender = ruleset([rule({ from: from('any'), for: forr('any'), mailFrom: c('^$', { regex: true }), action: 'a' })]);
  assert.equal(which(nullSender, env({ sender: '' })), 0);
  assert.equal(which(nullSender, env({ sender: 'a@b.c' })), -1);
});

test('for domain (literal, table with wildcards, regex), for rcpt-to, rcpt-to, negation', () => {
  const lit = ruleset([rule({ from: from('any'), for: forr('domain', 'example.org'), action: 'a' })]);
  assert.equal(which(lit, env({ dest: 'x@EXAMPLE.org' })), 0);
  assert.equal(which(lit, env({ dest: 'x@sub.example.org' })), -1);
  const tbl = ruleset([rule({ from: from('any'), for: forr('domain', { table: 'd' }), action: 'a' })], [mapTable('d', { '*.example.org': 'x' })]);
  assert.equal(which(tbl, env({ dest: 'x@sub.example.org' })), 0);
  const rx = ruleset([rule({ from: from('any'), for: forr('domain', '\\.test$', { regex: true }), action: 'a' })]);
  assert.equal(which(rx, env({ dest: 'x@foo.test' })), 0);
  assert.equal(which(rx, env({ dest: 'x@foo.testing' })), -1);
  const notDom = ruleset([rule({ from: from('any'), for: forr('domain', 'example.org', { negate: true }), action: 'a' })]);
  assert.equal(which(notDom, env({ dest: 'x@example.org' })), -1);
  assert.equal(which(notDom, env({ dest: 'x@example.com' })), 0);
  const rcpt = ruleset([rule({ from: from('any'), for: forr('rcpt-to', { table: 'r' }), action: 'a' })], [listTable('r', ['postmaster', 'bob@*.example.org'])]);
  assert.equal(which(rcpt, env({ dest: 'postmaster@anything.net' })), 0);
  assert.equal(which(rcpt, env({ dest: 'bob@mx.example.org' })), 0);
  assert.equal(which(rcpt, env({ dest: 'bob@example.org' })), -1);
  const notRcpt = ruleset([rule({ from: from('any'), for: forr('any'), rcptTo: c('postmaster', { negate: true }), action: 'a' })]);
  assert.equal(which(notRcpt, env({ dest: 'postmaster@x.org' })), -1);
  assert.equal(which(notRcpt, env({ dest: 'bob@x.org' })), 0);
  assert.equal(which(ruleset([rule({ from: from('any'), for: forr('any', undefined, { negate: true }), action: 'a' })]), env()), -1);
});

test('helo, tag and tls criteria', () => {
  const helo = ruleset([rule({ from: from('any'), for: forr('any'), helo: c({ table: 'h' }), action: 'a' })], [listTable('h', ['*.example.net'])]);
  assert.equal(which(helo, env({ s: { helo: 'mail.example.net' } })), 0);
  assert.equal(which(helo, env({ s: { helo: 'unknown' } })), -1);
  const heloRx = ruleset([rule({ from: from('any'), for: forr('any'), helo: c('^\\[', { regex: true, negate: true }), action: 'a' })]);
  assert.equal(which(heloRx, env({ s: { helo: '[192.0.2.1]' } })), -1);
  const tag = ruleset([rule({ from: from('any'), for: forr('any'), tag: c('SUBMIT'), action: 'a' })]);
  assert.equal(which(tag, env({ s: { tag: 'submit' } })), 0);
  assert.equal(which(tag, env({ s: { tag: null } })), -1);
  const notTag = ruleset([rule({ from: from('any'), for: forr('any'), tag: c('submit', { negate: true }), action: 'a' })]);
  assert.equal(which(notTag, env({ s: { tag: null } })), 0);
  const tls = ruleset([rule({ from: from('any'), for: forr('any'), tls: c(), action: 'a' })]);
  assert.equal(which(tls, env({ s: { tls: true } })), 0);
  assert.equal(which(tls, env({ s: { tls: false } })), -1);
  const noTls = ruleset([rule({ from: from('any'), for: forr('any'), tls: c(undefined, { negate: true }), action: 'a' })]);
  assert.equal(which(noTls, env({ s: { tls: false } })), 0);
});

test('every criterion of a rule must hold', () => {
  const rs = ruleset([rule({ from: from('src', '192.0.2.0/24'), for: forr('domain', 'example.org'), auth: c(), tls: c(), action: 'a' })]);
  const s = { remoteAddress: '192.0.2.1', authUser: 'bob', tls: true };
  assert.equal(which(rs, env({ s })), 0);
  assert.equal(which(rs, env({ s: { ...s, tls: false } })), -1);
  assert.equal(which(rs, env({ s: { ...s, authUser: null } })), -1);
  assert.equal(which(rs, env({ s: { ...s, remoteAddress: '192.0.3.1' } })), -1);
  assert.equal(which(rs, env({ s, dest: 'x@example.com' })), -1);
});

test('expanded addresses match with a local origin (OpenSMTPD internal envelopes)', () => {
  const rs = ruleset([
    rule({ from: from('socket'), for: forr('any'), action: 'sock' }),
    rule({ from: from('rdns'), for: forr('any'), action: 'rdns' }),
    rule({ from: from('local'), for: forr('any'), action: 'relay' }),
  ]);
  const remote = { remoteAddress: '203.0.113.9', rdns: 'client.example.net' };
  assert.equal(which(rs, env({ s: remote, dest: 'x@remote.net' })), 1);
  assert.equal(which(rs, env({ s: remote, dest: 'x@remote.net', internal: true })), 2, 'socket and rdns rules are skipped');
  const src = ruleset([rule({ from: from('src', '203.0.113.0/24'), for: forr('any'), action: 'a' })]);
  assert.equal(which(src, env({ s: remote, internal: true })), -1, 'the client address no longer counts');
});

test('a table that cannot answer makes the decision an error, not a miss', () => {
  const db: TableDef = { file: 't', line: 1, name: 'db', type: 'db', path: '/etc/mail/x.db' };
  const rs = ruleset([
    rule({ from: from('any'), for: forr('domain', { table: 'db' }), action: 'a' }),
    rule({ from: from('any'), for: forr('any'), action: 'b' }),
  ], [db]);
  assert.equal(which(rs, env()), 'error');
  const long = ruleset([rule({ from: from('any'), for: forr('any'), helo: c('x', { regex: true }), action: 'a' })]);
  assert.equal(which(long, env({ s: { helo: 'x'.repeat(1000) } })), 'error');
});

test('a rule naming an undeclared table is refused at compile time', () => {
  assert.throws(() => ruleset([rule({ from: from('src', { table: 'nope' }), action: 'a' })]), /nope/);
});
