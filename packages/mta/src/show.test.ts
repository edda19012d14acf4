// smtpctl show hosts|relays|routes and the mta.* level keys, from the connection pool's state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnPool } from './pool.js';
import { showLines } from './show.js';

test('routes and levels follow sessions opened, closed and penalised', () => {
  const pool = new ConnPool();
  const now = 1_000_000;
  const slot = { ip: '192.0.2.1', src: null, relayKey: 'out|example.org', domain: 'example.org' };
  pool.opened(slot, now);
  pool.opened({ ...slot, ip: '192.0.2.2' }, now);
  assert.deepEqual(pool.levels(), { 'mta.host': 2, 'mta.route': 2, 'mta.source': 1, 'mta.connector': 1, 'mta.domain': 1 });
  pool.closed({ ...slot, ip: '192.0.2.2' }, now);
  pool.routeFailed(null, '192.0.2.2', now);
  assert.deepEqual(showLines('routes', [], pool, now), [
    '1. *>192.0.2.1 -- nconn=1 penalty=0 timeout=0s',
    '2. *>192.0.2.2 D- nconn=0 penalty=1 timeout=15s',
  ]);
  assert.deepEqual(pool.levels(), { 'mta.host': 1, 'mta.route': 1, 'mta.source': 1, 'mta.connector': 1, 'mta.domain': 1 });
  assert.deepEqual(showLines('hosts', [], pool, now), []);
});
