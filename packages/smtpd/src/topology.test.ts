// Holds the topology table and the actors' code together: every peer an actor's source
// calls must be an edge of TOPOLOGY, and the start/stop orders name every actor once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ROLES, type Role } from '@tsmtpd/proto';
import { TOPOLOGY, START_ORDER, STOP_ORDER, hasEdge } from './topology.js';

const packagesDir = new URL('../../', import.meta.url).pathname;

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

function peersCalledBy(role: Role): Set<string> {
  const called = new Set<string>();
  for (const file of sources(join(packagesDir, role, 'src'))) {
    for (const m of readFileSync(file, 'utf8').matchAll(/\bpeer(?:<[^>]*>)?\(\s*['"]([a-z]+)['"]\s*\)/g)) called.add(m[1]!);
  }
  return called;
}

test('every peer an actor calls is an edge of the topology', () => {
  let seen = 0;
  for (const role of ROLES) {
    for (const peer of peersCalledBy(role)) {
      seen++;
      assert.ok((ROLES as readonly string[]).includes(peer), `${role} calls unknown actor ${peer}`);
      assert.ok(hasEdge(role, peer as Role), `${role} calls ${peer}, but TOPOLOGY has no such edge`);
    }
  }
  assert.ok(seen >= 5, `found only ${seen} peer calls: the scan is broken`);
});

test('the scan would catch an unlisted edge', () => {
  assert.equal(hasEdge('smtp', 'mda'), false);
  assert.equal(hasEdge('smtp', 'scheduler'), false);
  assert.equal(hasEdge('mda', 'queue'), true);
});

test('edges name real actors, once each', () => {
  const keys = TOPOLOGY.map(([a, b]) => [a, b].sort().join('-'));
  assert.equal(new Set(keys).size, keys.length, 'duplicate edge');
  for (const [a, b] of TOPOLOGY) {
    assert.notEqual(a, b);
    assert.ok(ROLES.includes(a) && ROLES.includes(b));
  }
});

test('start and stop orders name every actor exactly once; smtp starts last and stops first, queue stops last', () => {
  assert.deepEqual([...START_ORDER].sort(), [...ROLES].sort());
  assert.deepEqual([...STOP_ORDER].sort(), [...ROLES].sort());
  assert.equal(START_ORDER.at(-1), 'smtp');
  assert.equal(STOP_ORDER[0], 'smtp');
  assert.equal(STOP_ORDER.at(-1), 'queue');
});
