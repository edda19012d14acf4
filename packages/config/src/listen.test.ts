// `listen on` statements: targets and every option, with the resulting Listener values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Listener } from './model.js';
import { parseErr, parseOk, pkiFiles, tempDir } from './test-util.js';

const { cert: crt, key } = pkiFiles(tempDir());
const PKI = `pki mx.example.org cert "${crt}"\npki mx.example.org key "${key}"\nca myca cert "${crt}"\n`;

async function listener(opts: string, target = 'lo'): Promise<Listener> {
  const c = await parseOk(`${PKI}table creds { alice = "$2b$x" }\ntable addrs { 192.0.2.2 = mx.example.org }\ntable snd { alice = "alice@example.org" }\nfilter f phase connect match rdns bypass\nlisten on ${target} ${opts}\n`);
  const l = c.listeners[1];
  assert.ok(l);
  return l;
}

test('listen: socket listener is always present, first, and configurable', async () => {
  const c = await parseOk('');
  assert.equal(c.listeners.length, 1);
  assert.equal(c.listeners[0]?.kind, 'socket');
  const d = await parseOk('filter f phase connect match rdns bypass\nlisten on socket filter f mask-src\n');
  assert.equal(d.listeners.length, 1);
  assert.deepEqual([d.listeners[0]?.filter, d.listeners[0]?.maskSrc], ['f', true]);
  // 6.8's socket takes only filter and mask-src
  for (const o of ['tag LOCAL', 'no-dsn', 'auth', 'port 25']) {
    assert.deepEqual(await parseErr(`listen on socket ${o}\n`), ['/virtual/smtpd.conf:1: syntax error'], o);
  }
});

test('listen: interface name, IPv4, IPv6, host name; no interface groups', async () => {
  assert.deepEqual((await listener('')).addresses, [{ address: '127.0.0.1', family: 4 }, { address: '::1', family: 6 }]);
  assert.deepEqual((await listener('', '192.0.2.7')).addresses, [{ address: '192.0.2.7', family: 4 }]);
  assert.deepEqual((await listener('', '::1')).addresses, [{ address: '::1', family: 6 }]);
  assert.deepEqual((await listener('', 'mx.example.org')).addresses, [{ address: '192.0.2.2', family: 4 }]);
  assert.deepEqual((await listener('', 'eth0')).addresses.map((a) => a.address), ['192.0.2.2', 'fd00::2', 'fe80::1%eth0']);
  assert.deepEqual(await parseErr('listen on egress\n'), ['/virtual/smtpd.conf:1: invalid virtual ip or interface: egress']);
  assert.deepEqual(await parseErr('listen on all\n'), ['/virtual/smtpd.conf:1: invalid virtual ip or interface: all']);
  assert.equal((await listener('')).target, 'lo');
});

test('listen: inet4 / inet6 restrict the family', async () => {
  const v4 = await listener('inet4');
  assert.equal(v4.family, 'inet4');
  assert.deepEqual(v4.addresses, [{ address: '127.0.0.1', family: 4 }]);
  assert.deepEqual((await listener('inet6', 'eth0')).addresses.map((a) => a.address), ['fd00::2', 'fe80::1%eth0']);
  // an address of the other family: nothing to listen on, no error (6.8 only warns)
  assert.deepEqual((await listener('inet4', '::1')).addresses, []);
  assert.deepEqual((await listener('inet6', '127.0.0.1')).addresses, []);
});

test('listen: port N, port smtp, port smtps, port submission; defaults 25 / 465', async () => {
  assert.equal((await listener('')).port, 25);
  assert.equal((await listener('port 2525')).port, 2525);
  assert.equal((await listener('port smtp')).port, 25);
  assert.equal((await listener('port smtps')).port, 465);
  assert.equal((await listener('port submission')).port, 587);
  assert.equal((await listener('smtps pki mx.example.org')).port, 465);
  assert.equal((await listener('smtps pki mx.example.org port 4650')).port, 4650);
});

test('listen: tls, tls-require, tls-require verify, smtps, smtps verify', async () => {
  const pick = (l: Listener) => [l.tls, l.tlsRequire, l.tlsVerify, l.smtps];
  assert.deepEqual(pick(await listener('tls pki mx.example.org')), [true, false, false, false]);
  assert.deepEqual(pick(await listener('tls-require pki mx.example.org')), [true, true, false, false]);
  assert.deepEqual(pick(await listener('tls-require verify pki mx.example.org ca myca')), [true, true, true, false]);
  assert.deepEqual(pick(await listener('smtps pki mx.example.org')), [false, false, false, true]);
  assert.deepEqual(pick(await listener('smtps verify pki mx.example.org')), [false, false, true, true]);
});

test('listen: pki (repeatable), ca; protocols and ciphers (OpenSMTPD 6.9+)', async () => {
  const l = await listener('tls pki mx.example.org pki MX.example.org ca myca');
  assert.deepEqual(l.pki, ['mx.example.org', 'mx.example.org']);
  assert.equal(l.ca, 'myca');
  const t = await listener('tls pki mx.example.org ciphers "HIGH:!aNULL" protocols "tlsv1.2,tlsv1.3"');
  assert.deepEqual([t.ciphers, t.protocols], ['HIGH:!aNULL', 'tlsv1.2,tlsv1.3']);
  assert.deepEqual(await parseErr('listen on lo tls protocols "tlsv9"\n'), ['/virtual/smtpd.conf:1: failed to parse protocols "tlsv9"']);
  assert.deepEqual(await parseErr('listen on lo tls ciphers "A" ciphers "B"\n'), ['/virtual/smtpd.conf:1: ciphers already specified']);
});

test('listen: tls and smtps need no pki in 6.8', async () => {
  assert.deepEqual([(await listener('tls')).tls, (await listener('smtps')).smtps, (await listener('tls-require verify auth')).auth], [true, true, true]);
});

test('listen: auth, auth <t>, auth-optional, auth-optional <t>', async () => {
  const a = await listener('tls pki mx.example.org auth');
  assert.deepEqual([a.auth, a.authOptional, a.authTable], [true, false, undefined]);
  const b = await listener('tls pki mx.example.org auth <creds>');
  assert.deepEqual([b.auth, b.authOptional, b.authTable], [true, false, 'creds']);
  const c = await listener('tls pki mx.example.org auth-optional');
  assert.deepEqual([c.auth, c.authOptional], [false, true]);
  const d = await listener('tls pki mx.example.org auth-optional <creds>');
  assert.deepEqual([d.authOptional, d.authTable], [true, 'creds']);
});

test('listen: senders <t> [masquerade]', async () => {
  const a = await listener('tls pki mx.example.org auth senders <snd>');
  assert.deepEqual([a.senders, a.masquerade], ['snd', false]);
  const b = await listener('tls pki mx.example.org auth senders <snd> masquerade');
  assert.deepEqual([b.senders, b.masquerade], ['snd', true]);
});

test('listen: tag, hostname, hostnames, mask-src, received-auth, no-dsn, proxy-v2, filter', async () => {
  const l = await listener('tag MX hostname mx.example.org hostnames <addrs> mask-src received-auth no-dsn proxy-v2 filter f');
  assert.equal(l.tag, 'MX');
  assert.equal(l.hostname, 'mx.example.org');
  assert.equal(l.hostnamesTable, 'addrs');
  assert.deepEqual([l.maskSrc, l.receivedAuth, l.noDsn, l.proxyV2], [true, true, true, true]);
  assert.equal(l.filter, 'f');
});

test('listen: inline filter chain becomes an anonymous chain', async () => {
  const c = await parseOk('filter a phase connect match rdns bypass\nfilter b phase helo match helo "x" junk\nlisten on lo filter { a, b }\n');
  const name = c.listeners[1]?.filter ?? '';
  assert.match(name, /^<dynchain:0+1>$/);
  assert.deepEqual(c.filters[name], { kind: 'chain', name, filters: ['a', 'b'], file: '/virtual/smtpd.conf', line: 3 });
});

test('listen: option errors', async () => {
  const E = (n: number, m: string) => `/virtual/smtpd.conf:${n}: ${m}`;
  const at = 4;
  assert.deepEqual(await parseErr(`${PKI}listen on lo auth\n`), [E(at, 'invalid listen option: auth requires tls/smtps')]);
  assert.deepEqual(await parseErr(`${PKI}listen on lo pki mx.example.org\n`), [E(at, 'invalid listen option: pki requires tls/smtps')]);
  assert.deepEqual(await parseErr(`${PKI}listen on lo tls smtps pki mx.example.org\n`), [E(at, 'TLS mode already specified')]);
  assert.deepEqual(await parseErr(`${PKI}listen on lo tls pki nope\n`), [E(at, 'pki name not found: nope')]);
  assert.deepEqual(await parseErr(`${PKI}listen on lo tls pki mx.example.org ca nope\n`), [E(at, 'ca name not found: nope')]);
  assert.deepEqual(await parseErr(`${PKI}listen on lo port 0\n`), [E(at, 'invalid port: 0')]);
  assert.deepEqual(await parseErr(`${PKI}listen on lo port nosuchservice\n`), [E(at, 'invalid port: nosuchservice')]);
  assert.deepEqual(await parseErr(`${PKI}listen on lo port 25 port 26\n`), [E(at, 'port already specified')]);
  assert.deepEqual(await parseErr(`${PKI}listen on lo inet4 inet6\n`), [E(at, 'address family already specified')]);
  assert.deepEqual(await parseErr(`${PKI}listen on lo tag ${'x'.repeat(33)}\n`), [E(at, 'tag name too long')]);
  assert.deepEqual(await parseErr(`${PKI}listen on lo filter nope\n`), [E(at, 'no filter exist with that name: nope')]);
  assert.deepEqual(await parseErr(`${PKI}listen on socket port 25\n`), [E(at, 'syntax error')]);
  assert.deepEqual(await parseErr(`${PKI}listen on socket\nlisten on socket\n`), [E(5, 'socket listener already configured')]);
  assert.deepEqual(await parseErr(`${PKI}listen on lo0\n`), [E(at, 'invalid virtual ip or interface: lo0')]);
  assert.deepEqual(await parseErr(`${PKI}listen on 0.0.0.0/0\n`), [E(at, 'invalid virtual ip or interface: 0.0.0.0/0')]);
});

test('listen: tables that cannot serve the option', async () => {
  const E = (m: string) => [`/virtual/smtpd.conf:5: ${m}`];
  const base = `${PKI}table lst { a, b }\n`;
  // (6.8 does not check the auth table)
  assert.equal((await listener('tls pki mx.example.org auth { a, b }')).authTable, '<dynamic:0>');
  assert.deepEqual(await parseErr(`${base}listen on lo tls pki mx.example.org auth senders <lst>\n`), E('invalid use of table "lst" as SENDERS parameter'));
  assert.deepEqual(await parseErr(`${base}listen on lo hostnames <lst>\n`), E('invalid use of table "lst" as HOSTNAMES parameter'));
  assert.deepEqual(await parseErr(`${base}listen on lo hostnames <nope>\n`), E('no such table: nope'));
});

test('listen: pki and ca names are looked up only for a listener with addresses (as 6.8)', async () => {
  // ::1 with inet4: no address, so no lookup and no error
  assert.deepEqual((await listener('inet4 tls pki nope ca nope', '::1')).addresses, []);
  assert.deepEqual(await parseErr('listen on lo tls pki nope\n'), ['/virtual/smtpd.conf:1: pki name not found: nope']);
});
