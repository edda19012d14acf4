// The engine against an in-memory DNS and fake client sessions: MX order and failover, one
// transaction per message, connection reuse and sharing, limits, routing failures, back-pressure,
// sender rewriting. Real sockets are the end-to-end tests' job (test/relay*.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { srsDecode, type DeliveryResult } from '@tsmtpd/proto';
import { envelope, FakeDns, FakeNet, relayConfig, rig } from './test-fakes.js';

function byId(rs: DeliveryResult[]): Record<string, DeliveryResult> {
  return Object.fromEntries(rs.filter((r) => r.status !== 'hold').map((r) => [r.evpid, r]));
}

function mx(dns: FakeDns, domain: string, list: [number, string, string[]][]): void {
  dns.mxs.set(domain, { ok: true, mxs: list.map(([preference, host]) => ({ preference, host })), implicit: false });
  for (const [, host, ips] of list) dns.hosts.set(host, ips);
}

test('the best MX is down: the other MX of its level first, then the next level; the route stays penalised', async () => {
  const dns = new FakeDns();
  const net = new FakeNet();
  mx(dns, 'a.test', [[10, 'mx1.a.test', ['10.0.0.1']], [10, 'mx2.a.test', ['10.0.0.2']], [20, 'mx3.a.test', ['10.0.0.3']]]);
  net.servers.set('10.0.0.3', {});
  const r = rig(net, dns, relayConfig());
  r.engine.submit([envelope('aaaaaaaa00000001', 'u@a.test')]);
  const res = byId(await r.wait(1));
  assert.equal(res['aaaaaaaa00000001']?.status, 'ok', JSON.stringify(res));
  assert.deepEqual(net.connects.map((c) => c.ip).slice(0, 2).sort(), ['10.0.0.1', '10.0.0.2']);
  assert.equal(net.connects[2]?.ip, '10.0.0.3');
  assert.equal(res['aaaaaaaa00000001']?.remoteMta, 'mx3.a.test');
  assert.ok(r.lines.some((l) => l.startsWith('connecting') && l.includes('smtp://10.0.0.1:25') && l.includes('mx1.a.test')), r.lines.join('\n'));
  assert.ok(r.lines.some((l) => l.startsWith('delivery') && l.includes('"relay":"mx3.a.test [10.0.0.3]"') && l.includes('"result":"Ok"')));
  // A second message, later: the penalised routes are skipped (the idle session is reused).
  r.engine.submit([envelope('bbbbbbbb00000001', 'v@a.test')]);
  await r.wait(2);
  assert.equal(net.connects.length, 3, 'no new connection attempt to the disabled MXs');
  assert.deepEqual(net.sent.map((s) => s.conn), [2, 2]);
  r.engine.stop();
});

test('every MX down: a temporary failure with the connection error', async () => {
  const dns = new FakeDns();
  const net = new FakeNet();
  mx(dns, 'down.test', [[10, 'mx.down.test', ['10.0.1.1']]]);
  const r = rig(net, dns, relayConfig());
  r.engine.submit([envelope('aaaaaaaa00000002', 'u@down.test')]);
  const res = byId(await r.wait(1));
  assert.equal(res['aaaaaaaa00000002']?.status, 'tempfail');
  assert.match(res['aaaaaaaa00000002']!.errorline, /Connection refused/);
  r.engine.stop();
});

test('one transaction per message with all its recipients, results kept apart', async () => {
  const dns = new FakeDns();
  const net = new FakeNet();
  mx(dns, 'b.test', [[0, 'mx.b.test', ['10.0.2.1']]]);
  net.servers.set('10.0.2.1', { rcpt: (a) => (a.startsWith('bad') ? { status: 'permfail', reply: '550 5.1.1 no such user' } : { status: 'ok', reply: '250 2.1.5 Ok' }) });
  const r = rig(net, dns, relayConfig());
  r.engine.submit([envelope('cccccccc00000001', 'one@b.test'), envelope('cccccccc00000002', 'bad@b.test'), envelope('cccccccc00000003', 'three@b.test')]);
  const res = byId(await r.wait(3));
  assert.equal(net.sent.length, 1);
  assert.deepEqual(net.sent[0]!.rcpts, ['one@b.test', 'bad@b.test', 'three@b.test']);
  assert.equal(res['cccccccc00000001']?.status, 'ok');
  assert.equal(res['cccccccc00000002']?.status, 'permfail');
  assert.equal(res['cccccccc00000002']?.errorline, '550 5.1.1 no such user');
  assert.equal(res['cccccccc00000002']?.remote, true);
  assert.equal(res['cccccccc00000003']?.status, 'ok');
  r.engine.stop();
});

test('connections are reused up to session-mail-max, and shared by domains with the same MX', async () => {
  const dns = new FakeDns();
  const net = new FakeNet();
  mx(dns, 'c.test', [[10, 'mx.shared.test', ['10.0.3.1']]]);
  mx(dns, 'd.test', [[10, 'mx.shared.test', ['10.0.3.1']]]);
  net.servers.set('10.0.3.1', { delayMs: 1 });
  const r = rig(net, dns, relayConfig({}, { 'max-conn-per-host': 1, 'session-mail-max': 10 }));
  const envs = [];
  for (let i = 0; i < 30; i++) envs.push(envelope(`${(0xd0000000 + i).toString(16)}00000001`, i % 2 ? `u${i}@c.test` : `u${i}@d.test`));
  r.engine.submit(envs);
  const res = await r.wait(30);
  assert.equal(res.filter((x) => x.status === 'ok').length, 30, JSON.stringify(res.filter((x) => x.status !== 'ok')));
  assert.equal(net.connects.length, 3, '30 messages, 10 per connection, both domains on the same connections');
  assert.equal(new Set(net.sent.slice(0, 10).map((s) => s.conn)).size, 1);
  r.engine.stop();
});

test('routing failures: NXDOMAIN, null MX, localhost, an MX naming us, a temporary DNS failure', async () => {
  const dns = new FakeDns();
  const net = new FakeNet();
  dns.mxs.set('null.test', { ok: true, mxs: [{ preference: 0, host: '' }], implicit: false });
  dns.mxs.set('lo.test', { ok: true, mxs: [{ preference: 10, host: 'localhost' }], implicit: false });
  mx(dns, 'loop.test', [[10, 'mx.us.test', ['10.0.4.1']], [20, 'mx2.loop.test', ['10.0.4.2']]]);
  dns.mxs.set('temp.test', { ok: false, kind: 'temp', message: 'Temporary failure in MX lookup (ESERVFAIL)' });
  const r = rig(net, dns, relayConfig());
  r.engine.submit([
    envelope('eeeeeeee00000001', 'u@nx.test', { msgid: 'eeeeeee1' }),
    envelope('eeeeeeee00000002', 'u@null.test', { msgid: 'eeeeeee2' }),
    envelope('eeeeeeee00000003', 'u@lo.test', { msgid: 'eeeeeee3' }),
    envelope('eeeeeeee00000004', 'u@loop.test', { msgid: 'eeeeeee4' }),
    envelope('eeeeeeee00000005', 'u@temp.test', { msgid: 'eeeeeee5' }),
  ]);
  const res = byId(await r.wait(5));
  assert.deepEqual(
    Object.values(res).map((x) => `${x.evpid} ${x.status} ${x.errorline}`).sort(),
    [
      'eeeeeeee00000001 permfail 5.1.2 Domain does not exist',
      'eeeeeeee00000002 permfail 5.1.10 Domain does not accept mail',
      'eeeeeeee00000003 permfail 5.1.10 Domain does not accept mail',
      'eeeeeeee00000004 permfail 5.4.6 MX loops to us',
      'eeeeeeee00000005 tempfail 4.4.3 Temporary failure in MX lookup (ESERVFAIL)',
    ],
  );
  assert.equal(net.connects.length, 0);
  r.engine.stop();
});

test('relay backup: only MXs strictly better than ours', async () => {
  const dns = new FakeDns();
  const net = new FakeNet();
  mx(dns, 'bk.test', [[10, 'primary.bk.test', ['10.0.5.1']], [20, 'backup.bk.test', ['10.0.5.2']], [30, 'other.bk.test', ['10.0.5.3']]]);
  net.servers.set('10.0.5.3', {});
  const r = rig(net, dns, relayConfig({ backup: true, backupMx: 'backup.bk.test' }));
  r.engine.submit([envelope('ffffffff00000001', 'u@bk.test')]);
  const res = byId(await r.wait(1));
  assert.equal(res['ffffffff00000001']?.status, 'tempfail', 'the primary is down; the worse MX is not tried');
  assert.deepEqual(net.connects.map((c) => c.ip), ['10.0.5.1']);
  r.engine.stop();
});

test('back-pressure: hold above task-hiwat, release at task-lowat', async () => {
  const dns = new FakeDns();
  const net = new FakeNet();
  mx(dns, 'h.test', [[10, 'mx.h.test', ['10.0.6.1']]]);
  net.servers.set('10.0.6.1', { delayMs: 10 });
  const r = rig(net, dns, relayConfig({}, { 'task-hiwat': 3, 'task-lowat': 1, 'task-release': 2, 'max-conn-per-route': 1 }));
  const envs = [];
  for (let i = 0; i < 6; i++) envs.push(envelope(`${(0xa1000000 + i).toString(16)}00000001`, `u${i}@h.test`));
  r.engine.submit(envs);
  await r.wait(3);
  const holds = r.results.filter((x) => x.status === 'hold');
  assert.equal(holds.length, 3);
  assert.ok(holds.every((h) => h.holdq === 'out>mx:h.test'));
  assert.deepEqual(r.releases, [{ holdq: 'out>mx:h.test', n: 2 }, { holdq: 'out>mx:h.test', n: 1 }]);
  r.engine.stop();
});

test('mail-from rewrites the sender; srs rewrites forwarded mail only; SMTPUTF8 needed but not offered fails', async () => {
  const dns = new FakeDns();
  const net = new FakeNet();
  mx(dns, 'f.test', [[10, 'mx.f.test', ['10.0.7.1']]]);
  mx(dns, 'g.test', [[10, 'mx.g.test', ['10.0.7.2']]]);
  net.servers.set('10.0.7.1', {});
  net.servers.set('10.0.7.2', { extensions: ['8BITMIME'] });
  const c = relayConfig({ srs: true, mailFrom: '@rewritten.test' });
  c.srs.key = 'k';
  const r = rig(net, dns, c);
  r.engine.submit([
    envelope('a2000000000000a1', 'u@f.test'),
    envelope('a3000000000000a1', 'u@f.test', { rcpt: 'alias@us.test' }),
    envelope('a4000000000000a1', 'ü@g.test'),
  ]);
  const res = byId(await r.wait(3));
  const froms = net.sent.map((s) => s.mailFrom);
  assert.ok(froms.includes('bob@rewritten.test'), froms.join());
  const srs = froms.find((f) => f.startsWith('SRS0='));
  assert.ok(srs?.endsWith('@us.test'), froms.join());
  assert.equal(srsDecode(srs!, { key: 'k', ttl: 86400 * 4 }), 'bob@rewritten.test');
  assert.equal(res['a4000000000000a1']?.status, 'permfail');
  assert.match(res['a4000000000000a1']!.errorline, /5\.6\.7/);
  r.engine.stop();
});
