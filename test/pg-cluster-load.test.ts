// Three tsmtpd nodes sharing one PostgreSQL queue under load: each gets its own crash-tolerant
// load client (py/fault_load.py, a recipient per node), their deliveries go to an `mda` command
// appending "recipient tag" to one file (a delivery done twice shows twice). One node is killed
// with SIGKILL and never restarted: every message any node acknowledged is delivered; the
// survivors' own mail exactly once; the dead node's at least once (its duplicates, deliveries in
// flight at the kill, are counted and reported).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PgCluster } from '@tsmtpd/queue/pg-cluster.js';
import { startDaemon, type Daemon } from './lib/daemon.js';
import { deliverableUser } from './lib/conf.js';
import { sleep, waitFor } from './lib/proc.js';
import { fileLines, startFaultLoad, tally, type FaultLoad, type FaultLoadResult } from './lib/faults.js';
import { makeSharedDir, makeTestDir, removeTestDir } from './lib/tmp.js';

const NODES = 3;
const LEASE = 3;
const dir = makeTestDir('pg-cluster-load');
const countDir = makeSharedDir(path.join(dir, 'count'));
const log = path.join(countDir, 'deliveries.log');
writeFileSync(log, '');
chmodSync(log, 0o666); // appended to by the mda command, run as the recipient
mkdirSync(path.join(dir, 'ctl'));
const user = await deliverableUser('tsmtpd-pg2');
const daemons: Daemon[] = [];
const nodeDirs: string[] = [];
let pg: PgCluster;
let uri = '';

before(async () => {
  pg = await PgCluster.start();
  uri = pg.uri(pg.createDb('mailq'));
});

after(async () => {
  for (const d of daemons) await d.stop();
  await pg?.destroy();
  for (const d of nodeDirs) removeTestDir(d);
  removeTestDir(dir);
});

const rcptOf = (i: number) => `${user}+n${i}@localhost`;

function config(ctx: { port: number }): string {
  return [
    `queue backend postgres "${uri}" lease ${LEASE}s`,
    `listen on 127.0.0.1 port ${ctx.port}`,
    // One line per delivery, printed at the end in one small O_APPEND write: lines never interleave.
    `action "count" mda "awk '/^To:/ { r = $2 } /^X-Tsmtpd-Tag:/ { t = $2 } END { print r, (t ? t : 0) }' >> ${log}"`,
    // The victim's mail takes a second per delivery: it has a backlog (queued and in flight) at the kill.
    `action "slow" mda "sleep 1; awk '/^To:/ { r = $2 } /^X-Tsmtpd-Tag:/ { t = $2 } END { print r, (t ? t : 0) }' >> ${log}"`,
    `match from any for rcpt-to "${rcptOf(0)}" action "slow"`,
    'match from any for local action "count"',
  ].join('\n') + '\n';
}

test('three nodes on one PostgreSQL, one killed under load: every acknowledged message delivered', { timeout: 180_000 }, async (t) => {
  for (let i = 0; i < NODES; i++) {
    const nodeDir = makeTestDir(`pg-load-node${i}`);
    nodeDirs.push(nodeDir);
    daemons.push(await startDaemon({ dir: nodeDir, config, env: { SMTPD_RETRY_BASE: 'mda=1,bounce=1,mta=1' } }));
  }
  const loads: FaultLoad[] = daemons.map((d, i) =>
    startFaultLoad(d.port, { sessions: 3, rcpts: [rcptOf(i)], pauseMs: 20, maxSeconds: 60, seed: 1000 + i, dir: path.join(dir, 'ctl') }));
  await sleep(8000);
  const victim = daemons[0] as Daemon;
  await victim.crash();
  assert.ok(!victim.isRunning(), 'node 0 survived SIGKILL');
  await sleep(3000);
  const results: FaultLoadResult[] = [];
  for (const l of loads) results.push(await l.stop());

  const key = (i: number, tag: string) => `${rcptOf(i)} ${tag}`;
  const acked = new Set(results.flatMap((r, i) => r.acked.map((tag) => key(i, tag))));
  const unknown = new Set(results.flatMap((r, i) => r.unknown.map(([tag]) => key(i, tag))));
  results.forEach((r, i) => t.diagnostic(`node ${i}: acked=${r.acked.length} refused=${r.refused.length} unknown=${r.unknown.length} unsent=${r.unsent.length}`));
  assert.ok((results[0]?.acked.length ?? 0) >= 10, 'too little load on the killed node to judge');

  const drained = await waitFor(() => {
    const seen = new Set(fileLines(log));
    return [...acked].every((k) => seen.has(k)) ? true : undefined;
  }, 90_000, 500);
  await sleep(2000); // a second delivery, if any, lands by now
  const seen = tally(fileLines(log));
  const missing = [...acked].filter((k) => !seen.has(k));
  assert.ok(drained, `not delivered in 90 s: ${missing.length} of ${acked.size}, e.g. ${missing.slice(0, 3).join('; ')}\n${daemons[1]?.describe()}`);
  const dups = [...seen].filter(([, n]) => n > 1).map(([k]) => k);
  const victimDups = dups.filter((k) => k.startsWith(`${rcptOf(0)} `));
  // A delivery cut by the kill (the agent died while writing the body to the command) can end
  // before the tag header (the command prints tag 0 then): reported, not an error of the queue.
  const truncated = [...seen.keys()].filter((k) => k.endsWith(' 0'));
  const foreign = [...seen.keys()].filter((k) => !acked.has(k) && !unknown.has(k) && !truncated.includes(k));
  if (truncated.length > 0) t.diagnostic(`deliveries cut before their tag by the kill: ${truncated.map((k) => seen.get(k)).join(', ')}`);
  t.diagnostic(`acknowledged=${acked.size} delivered=${seen.size} duplicated=${dups.length} (killed node's, in flight at the kill: ${victimDups.length}) delivered-without-reply=${[...seen.keys()].filter((k) => unknown.has(k)).length}`);
  assert.deepEqual(dups.filter((k) => !victimDups.includes(k)), [], 'a surviving node delivered its own mail twice');
  assert.deepEqual(foreign, [], 'delivered although refused or never sent');
  assert.match(daemons[1]?.output() + (daemons[2]?.output() ?? ''), /envelopes taken/, 'a survivor took over the dead node\'s leases');
  assert.equal(pg.psql('mailq', 'SELECT count(*) FROM tsmtpd_envelope'), '0\n', 'the shared queue drained');
});
