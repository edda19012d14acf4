// Listen target resolution: interfaces, literals, names, timeouts (no interface groups, as
// OpenSMTPD 6.8 on Linux); and the real machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { resolveListenTarget, type NetEnv } from './resolve.js';
import { fakeNet } from './test-util.js';

test('resolve: interface name, then literal, then DNS', async () => {
  assert.deepEqual(await resolveListenTarget('eth0', 'inet4', fakeNet), [{ address: '192.0.2.2', family: 4 }]);
  assert.deepEqual(await resolveListenTarget('198.51.100.1', 'any', fakeNet), [{ address: '198.51.100.1', family: 4 }]);
  assert.deepEqual(await resolveListenTarget('2001:db8::1', 'inet6', fakeNet), [{ address: '2001:db8::1', family: 6 }]);
  // Another family than asked: nothing to listen on, but no error (6.8 only warns).
  assert.deepEqual(await resolveListenTarget('2001:db8::1', 'inet4', fakeNet), []);
  assert.deepEqual(await resolveListenTarget('127.0.0.1', 'inet6', fakeNet), []);
  assert.deepEqual(await resolveListenTarget('localhost', 'inet6', fakeNet), [{ address: '::1', family: 6 }]);
  assert.equal(await resolveListenTarget('nowhere.invalid', 'any', fakeNet), undefined);
});

test('resolve: groups are not interfaces; a lookup that fails or hangs', async () => {
  const env: NetEnv = { ...fakeNet, lookup: () => Promise.reject(new Error('ENOTFOUND')) };
  assert.equal(await resolveListenTarget('egress', 'any', env), undefined);
  assert.equal(await resolveListenTarget('all', 'any', env), undefined);
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

test('resolve: egress and all are no names on this machine (no interface groups)', async () => {
  const ifs = networkInterfaces();
  if (!Object.hasOwn(ifs, 'egress')) assert.equal(await resolveListenTarget('egress', 'any'), undefined);
  if (!Object.hasOwn(ifs, 'all')) assert.equal(await resolveListenTarget('all', 'any'), undefined);
});
