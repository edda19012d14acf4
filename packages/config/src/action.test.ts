// `action` statements: every method and option, and the dispatcher checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Action } from './model.js';
import { parseErr, parseOk } from './test-util.js';

const TABLES = `table amap { root = alice }
table alist { a, b }
table users { alice = "1000:1000:/home/alice" }
table creds { isp = "user:pass" }
table addrs { 192.0.2.2 = mx.example.org }
table relays { example.org = "smtp://mx.example.net" }
table srcs { 192.0.2.2, 192.0.2.3 }
mda wrapper wrap "/usr/bin/env %{mda}"
srs key "s3cret"
filter rep phase connect match rdns bypass
`;
const N = TABLES.split('\n').length;

async function action(def: string): Promise<Action> {
  const c = await parseOk(`${TABLES}action "x" ${def}\n`);
  const a = c.actions['x'];
  assert.ok(a);
  assert.equal(a.line, N);
  return a;
}
const err = async (def: string): Promise<string[]> => parseErr(`${TABLES}action "x" ${def}\n`);
const E = (m: string) => [`/virtual/smtpd.conf:${N}: ${m}`];

test('action: mbox, forward-only, expand-only', async () => {
  assert.deepEqual((await action('mbox')).method, { kind: 'mbox' });
  assert.deepEqual((await action('forward-only')).method, { kind: 'forward-only' });
  assert.deepEqual((await action('expand-only')).method, { kind: 'expand-only' });
});

test('action: maildir [path] [junk]', async () => {
  assert.deepEqual((await action('maildir')).method, { kind: 'maildir', junk: false });
  assert.deepEqual((await action('maildir junk')).method, { kind: 'maildir', junk: true });
  assert.deepEqual((await action('maildir "~/Mail"')).method, { kind: 'maildir', path: '~/Mail', junk: false });
  assert.deepEqual((await action('maildir "/var/vmail/%{rcpt.user}" junk')).method, { kind: 'maildir', path: '/var/vmail/%{rcpt.user}', junk: true });
});

test('action: lmtp DEST [rcpt-to]', async () => {
  assert.deepEqual((await action('lmtp "127.0.0.1:24"')).method, { kind: 'lmtp', destination: '127.0.0.1:24', rcptTo: false });
  assert.deepEqual((await action('lmtp "/run/lmtp" rcpt-to')).method, { kind: 'lmtp', destination: '/run/lmtp', rcptTo: true });
});

test('action: mda "cmd"', async () => {
  assert.deepEqual((await action('mda "/usr/bin/procmail -f %{sender}"')).method, { kind: 'mda', command: '/usr/bin/procmail -f %{sender}' });
});

test('action: local options alias, virtual, userbase, user, wrapper, ttl', async () => {
  const a = await action('maildir alias <amap> userbase <users> user vmail wrapper wrap ttl 2d');
  assert.deepEqual([a.alias, a.userbase, a.user, a.wrapper, a.ttl], ['amap', 'users', 'vmail', 'wrap', 172_800]);
  assert.equal((await action('mbox virtual <amap>')).virtual, 'amap');
  const inline = await action('mbox alias { postmaster = root }');
  assert.match(inline.alias ?? '', /^<dynamic:\d+>$/);
});

test('action: relay with no option', async () => {
  assert.deepEqual((await action('relay')).method, { kind: 'relay', backup: false, srs: false });
});

test('action: relay host URL forms', async () => {
  const host = async (u: string) => { const m = (await action(`relay host ${u}`)).method; return m.kind === 'relay' ? m.host : undefined; };
  assert.deepEqual(await host('mx.example.net'), { url: 'mx.example.net', proto: 'smtp', hostname: 'mx.example.net' });
  assert.deepEqual(await host('smtps://mx.example.net'), { url: 'smtps://mx.example.net', proto: 'smtps', hostname: 'mx.example.net' });
  assert.deepEqual(await host('smtp+notls://192.0.2.9:2525'), { url: 'smtp+notls://192.0.2.9:2525', proto: 'smtp+notls', hostname: '192.0.2.9', port: 2525 });
  assert.deepEqual(await host('"lmtp://[::1]:24"'), { url: 'lmtp://[::1]:24', proto: 'lmtp', hostname: '::1', port: 24 });
  assert.deepEqual(await host('smtp+tls://isp@smtp.example.net:587'), { url: 'smtp+tls://isp@smtp.example.net:587', proto: 'smtp+tls', label: 'isp', hostname: 'smtp.example.net', port: 587 });
});

test('action: relay host <t>, domain <t>, auth <t>', async () => {
  const a = (await action('relay host <alist>')).method;
  assert.equal(a.kind === 'relay' && a.hostTable, 'alist');
  const b = (await action('relay domain <relays>')).method;
  assert.equal(b.kind === 'relay' && b.domain, 'relays');
  const c = (await action('relay host smtp://isp@h.example auth <creds>')).method;
  assert.equal(c.kind === 'relay' && c.auth, 'creds');
});

test('action: relay backup, backup mx, helo, helo-src, src, mail-from', async () => {
  const m = (await action('relay backup mx mx2.example.org helo mx.example.org helo-src <addrs> src <srcs> mail-from "@example.org"')).method;
  assert.ok(m.kind === 'relay');
  assert.deepEqual([m.backup, m.backupMx, m.helo, m.heloSrc, m.src, m.mailFrom],
    [true, 'mx2.example.org', 'mx.example.org', 'addrs', { table: 'srcs' }, '@example.org']);
  const b = (await action('relay backup src 192.0.2.2')).method;
  assert.ok(b.kind === 'relay');
  assert.deepEqual([b.backup, b.backupMx, b.src], [true, undefined, '192.0.2.2']);
});

test('action: relay pki, ca (names not checked, as 6.8), tls, tls no-verify, srs, filter, ttl', async () => {
  const m = (await action('relay pki MX.example.org ca myca tls srs filter rep ttl 1h')).method;
  assert.ok(m.kind === 'relay');
  assert.deepEqual([m.pki, m.ca, m.tls, m.srs, m.filter], ['mx.example.org', 'myca', 'required', true, 'rep']);
  assert.equal((await action('relay ttl 1h')).ttl, 3600);
  const n = (await action('relay tls no-verify')).method;
  assert.equal(n.kind === 'relay' && n.tls, 'no-verify');
});

test('action: local option errors', async () => {
  assert.deepEqual(await err('mbox user vmail'), E('user may not be specified for this dispatcher'));
  assert.deepEqual(await err('forward-only user vmail'), E('user may not be specified for forward-only'));
  assert.deepEqual(await err('expand-only user vmail'), E('user may not be specified for expand-only'));
  assert.deepEqual(await err('maildir user a user b'), E('user already specified for this dispatcher'));
  assert.equal((await action('lmtp "/run/lmtp" user vmail')).user, 'vmail');
  assert.deepEqual(await err('mbox alias <amap> virtual <amap>'), E('alias mapping already specified for this dispatcher'));
  assert.deepEqual(await err('mbox alias <alist>'), E('table "alist" may not be used for alias lookups'));
  assert.deepEqual(await err('mbox virtual <alist>'), E('table "alist" may not be used for virtual lookups'));
  assert.deepEqual(await err('mbox alias "root"'), E('table "<dynamic:0>" may not be used for alias lookups'));
  assert.deepEqual(await err('mbox userbase <alist>'), E('table "alist" may not be used for userbase lookups'));
  assert.deepEqual(await err('mbox alias <nope>'), E('no such table: nope'));
  assert.deepEqual(await err('mbox wrapper nope'), E('no mda wrapper with that name: nope'));
  assert.deepEqual(await err('mbox ttl 0d'), E('ttl delay "0d" is invalid'));
  assert.deepEqual(await err('mbox ttl 1d ttl 2d'), E('ttl already specified for this dispatcher'));
  assert.deepEqual(await err('mbox helo x'), E('syntax error'));
  assert.deepEqual(await err('mbox ttl 1d alias <amap>'), E('syntax error'), 'ttl comes last');
  assert.deepEqual(await err('deliver'), E('syntax error'));
});

test('action: relay option errors', async () => {
  assert.deepEqual(await err('relay auth <creds>'), E('auth may not be specified without host on a dispatcher'));
  assert.deepEqual(await err('relay host h.example auth <alist>'), E('table "alist" may not be used for auth lookups'));
  assert.deepEqual(await err('relay host h.example backup'), E('backup and host are mutually exclusive'));
  assert.deepEqual(await err('relay backup host h.example'), E('backup and host are mutually exclusive'));
  assert.deepEqual(await err('relay host a.example host b.example'), E('host mapping already specified for this dispatcher'));
  assert.deepEqual(await err('relay domain <alist>'), E('table "alist" may not be used for host lookups'));
  assert.deepEqual(await err('relay helo-src <alist>'), E('table "alist" may not be used for helo-source lookups'));
  assert.deepEqual(await err('relay src <amap>'), E('table "amap" may not be used for source lookups'));
  assert.deepEqual(await err('relay ciphers "HIGH"'), E('syntax error'), '6.8 has no relay ciphers');
  assert.deepEqual(await err('relay protocols "tlsv1.2"'), E('syntax error'), '6.8 has no relay protocols');
  assert.deepEqual(await err('relay ttl 1h helo x'), E('syntax error'), 'ttl comes last');
  assert.deepEqual(await err('relay domain <relays> backup'), E('backup and host are mutually exclusive'));
  assert.deepEqual(await err('relay tls tls'), E('tls already specified for this dispatcher'));
  assert.deepEqual(await err('relay helo a helo b'), E('helo already specified for this dispatcher'));
  assert.deepEqual(await err('relay filter nope'), E('no filter exist with that name: nope'));
  assert.deepEqual(await err('relay alias <amap>'), E('syntax error'));
  assert.deepEqual(await parseErr('action "x" relay srs\n'), ['/virtual/smtpd.conf:1: an srs key is required for srs to be specified in an action']);
});

test('action: what 6.8 leaves to delivery time is accepted (host URLs, source addresses)', async () => {
  for (const u of ['lmtp://h.example', 'foo://h.example', 'h.example:99999', 'secure://h.example']) {
    const c = await parseOk(`action "x" relay host "${u}"\n`);
    const m = c.actions['x']?.method;
    assert.ok(m?.kind === 'relay' && m.host === undefined && m.hostTable !== undefined, u);
    assert.deepEqual(c.tables[m.hostTable]?.list, [u.toLowerCase()]);
  }
  const s = (await parseOk('action "x" relay src "not-an-ip"\n')).actions['x']?.method;
  assert.equal(s?.kind === 'relay' && s.src, 'not-an-ip');
});

test('action: duplicate name', async () => {
  assert.deepEqual(await parseErr('action "x" mbox\naction "x" relay\n'), ['/virtual/smtpd.conf:2: dispatcher already declared with that name: x']);
});
