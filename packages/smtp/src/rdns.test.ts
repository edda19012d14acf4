// Reverse DNS never stalls a session: loopback needs no query, a silent DNS server costs at
// most the timeout, and only well-formed names are kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { ReverseLookup, validHostname } from './rdns.js';

test('loopback clients are localhost without a query', async () => {
  const r = new ReverseLookup(['127.0.0.1:9'], 500);
  assert.equal(await r.lookup('127.0.0.1'), 'localhost');
  assert.equal(await r.lookup('::1'), 'localhost');
  assert.equal(await r.lookup('::ffff:127.0.0.2'), 'localhost');
});

test('a DNS server that never answers costs at most the timeout', async () => {
  const sink = createSocket('udp4');
  let queries = 0;
  sink.on('message', () => queries++);
  await new Promise<void>((r) => sink.bind(0, '127.0.0.1', r));
  const port = sink.address().port;
  try {
    const r = new ReverseLookup([`127.0.0.1:${port}`], 300);
    const t0 = Date.now();
    assert.equal(await r.lookup('192.0.2.7'), null);
    const ms = Date.now() - t0;
    assert.ok(ms < 1500, `took ${ms} ms`);
    assert.ok(queries >= 1, 'the injected server was asked');
    r.cancel();
  } finally {
    sink.close();
  }
});

test('only well-formed host names are kept', () => {
  assert.equal(validHostname('mail.example.org.'), true);
  assert.equal(validHostname('bad name.example'), false);
  assert.equal(validHostname('x'.repeat(64) + '.example'), false);
  assert.equal(validHostname('evil\r\nX-Injected: 1'), false);
});
