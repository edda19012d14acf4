import { test } from 'node:test';
import assert from 'node:assert/strict';
import { domainLiterals, interfaceAddresses, localHosts, localNames } from './localnames.js';

test('localnames: localhost, server name, host names, interface literals', () => {
  const names = localNames('MX.Example.org.', { hostnames: ['box'], addresses: ['192.0.2.1', 'fe80::1'] });
  for (const n of ['localhost', 'mx.example.org', 'box', '[127.0.0.1]', '[ipv6:::1]', '[192.0.2.1]', '[ipv6:fe80::1]']) {
    assert.ok(names.includes(n), n);
  }
  assert.ok(!names.includes('example.org'));
});

test('localhost entries: socket, loopback, interface addresses', () => {
  assert.deepEqual(localHosts({ hostnames: [], addresses: ['192.0.2.1'] }), ['local', '127.0.0.1', '::1', '192.0.2.1']);
});

test('interfaceAddresses flattens and drops zone ids', () => {
  const mk = (address: string) => ({ address, netmask: '', family: address.includes(':') ? 'IPv6' : 'IPv4', mac: '', internal: false, cidr: null } as never);
  assert.deepEqual(interfaceAddresses({ lo: [mk('127.0.0.1')], eth0: [mk('192.0.2.1'), mk('fe80::1%eth0')] }), ['127.0.0.1', '192.0.2.1', 'fe80::1']);
  assert.deepEqual(domainLiterals('2001:DB8::1'), ['[ipv6:2001:db8::1]']);
});
