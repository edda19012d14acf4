// Listen target resolution: interfaces, groups, literals, names, timeouts; and the real machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { defaultRouteInterfaces, resolveListenTarget, type NetEnv } from './resolve.js';
import { fakeNet } from './test-util.js';

test('resolve: interface name, then literal, then DNS', async () => {
  assert.deepEqual(await resolveListenTarget('eth0', 'inet4', fakeNet), [{ address: '192.0.2.2', family: 4 }]);
  assert.deepEqual(await resolveListenTarget('198.51.100.1', 'any', fakeNet), [{ address: '198.51.100.1', family: 4 }]);
  assert.deepEqual(await resolveListenTarget('2001:db8::1', 'inet6', fakeNet), [{ address: '2001:db8::1', family: 6 }]);
  assert.equal(await resolveListenTarget('2001:db8::1', 'inet4', fakeNet), undefined);
  assert.deepEqual(await resolveListenTarget('localhost', 'inet6', fakeNet), [{ address: '::1', family: 6 }]);
  assert.equal(await resolveListenTarget('nowhere.invalid', 'any', fakeNet), undefined);
});

test('resolve: egress without a default route, and a lookup that fails or hangs', async () => {
  const env: NetEnv = { ...fakeNet, egress: () => [], lookup: () => Promise.reject(new Error('ENOTFOUND')) };
  assert.equal(await resolveListenTarget('egress', 'any', env), undefined);
  assert.equal(await resolveListenTarget('somehost', 'any', env), undefined);
  const hang: NetEnv = { ...fakeNet, lookup: () => new Promise(() => {}) };
  const t0 = Date.now();
  assert.equal(await resolveListenTarget('slow.example', 'any', hang, 50), undefined);
  assert.ok(Date.now() - t0 < 1000);
});

test('resolve: this machine: lo exists, lo0 does not, localhost resolves', async () => {
  const lo = await resolveListenTarget('lo', 'inet4');
  assert.deepEqual(lo?.[0], { address: '127.0.0.1', family: 4 });
  if (!Object.hasOwn(networkInterfaces(), 'lo0')) assert.equal(await resolveListenTarget('lo0', 'any'), undefined);
  assert.ok((await resolveListenTarget('localhost', 'any'))?.some((a) => a.address === '127.0.0.1' || a.address === '::1'));
});

test('resolve: egress on this machine follows /proc/net/route', async () => {
  const names = defaultRouteInterfaces();
  const r = await resolveListenTarget('egress', 'any');
  if (names.length === 0) assert.equal(r, undefined);
  else assert.ok(r && r.length > 0);
});
