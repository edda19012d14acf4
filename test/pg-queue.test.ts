// The shared queue on PostgreSQL, end to end: a throwaway PostgreSQL server (initdb/pg_ctl as the
// `postgres` user) and two tsmtpd daemons with separate spools sharing one queue database.
// 1. Node A accepts mail for a slow mda (a Python script storing into a maildir after a pause) and
//    mail that tempfails while a flag file exists; A is killed with SIGKILL while deliveries run.
//    Node B takes A's envelopes once their lease ran out and delivers them: every acknowledged
//    message once, except deliveries in flight at the kill (at least once; their count reported).
// 2. The server stopped while a client sends: 4xx and never a 250; restarted, new mail flows.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PgCluster } from '@tsmtpd/queue/pg-cluster.js';
import { startDaemon, type Daemon } from './lib/daemon.js';
import { buildMessage, deliverableUser, uniqueTag } from './lib/conf.js';
import { header, readMailbox, smtpSession, transaction, type SmtpReply } from './lib/python.js';
import { pyDir, python3, repoRoot } from './lib/paths.js';
import { run, sleep, waitFor } from './lib/proc.js';
import { makeSharedDir, makeTestDir, removeTestDir } from './lib/tmp.js';

const LEASE = 3;
const SLOW_SECONDS = 4;
const dir = makeTestDir('pg-queue');
const slowBox = path.join(makeSharedDir(path.join(dir, 'slow')), 'Maildir');
const started = makeSharedDir(path.join(dir, 'started'));
const flag = path.join(dir, 'tempfail.flag');
makeSharedDir(path.join(dir, 'mail'));
const user = await deliverableUser('tsmtpd-pg1');
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

function config(node: string) {
  return (ctx: { port: number }): string => [
    `queue backend postgres "${uri}" lease ${LEASE}s`,
    `listen on 127.0.0.1 port ${ctx.port}`,
    `action "slow" mda "${python3} ${path.join(pyDir, 'pg_slow_mda.py')} ${slowBox} ${started} ${flag} ${SLOW_SECONDS}"`,
    `action "local" maildir "${dir}/mail/%{user.username}/Maildir"`,
    `match from any for rcpt-to "${user}@localhost" action "slow"`,
    `match from any for local action "local"`,
    `# node ${node}`,
  ].join('\n') + '\n';
}

async function node(name: string): Promise<Daemon> {
  const nodeDir = makeTestDir(`pg-node-${name}`);
  nodeDirs.push(nodeDir);
  const d = await startDaemon({ dir: nodeDir, config: config(name), env: { SMTPD_RETRY_BASE: 'mda=1,bounce=1,mta=1' } });
  daemons.push(d);
  return d;
}

async function send(port: number, tag: string, rcpt = `${user}@localhost`): Promise<SmtpReply[]> {
  const msg = buildMessage([`Subject: ${tag}`, `X-Tsmtpd-Tag: ${tag}`, 'From: a@example.net', `To: ${rcpt}`], [`body of ${tag}`]);
  const r = await smtpSession(port, [{ op: 'ehlo', name: 'client.test' }, ...transaction('a@example.net', [rcpt], msg)]);
  return r.replies;
}

const dataReply = (replies: SmtpReply[]) => replies.find((r) => r.op === 'data');
const startedTags = () => readdirSync(started).map((f) => f.replace(/\.\d+$/, ''));

test('a node killed with SIGKILL: the other node delivers its acknowledged mail after the lease', { timeout: 120_000 }, async (t) => {
  const a = await node('a');
  const b = await node('b');
  // Waiting mail: tempfails while the flag exists (A holds it, waiting for a retry at the kill).
  writeFileSync(flag, '');
  const waiting = Array.from({ length: 3 }, () => uniqueTag('wait'));
  for (const tag of waiting) assert.equal(dataReply(await send(a.port, tag))?.code, 250, `${tag} not accepted by A\n${a.describe()}`);
  const attempted = await waitFor(() => (waiting.every((tag) => startedTags().includes(tag)) ? true : undefined), 15_000);
  assert.ok(attempted, `A never tried the waiting mail\n${a.describe()}`);
  // In-flight mail: A's slow deliveries are running at the kill.
  const inflight = Array.from({ length: 3 }, () => uniqueTag('fly'));
  for (const tag of inflight) assert.equal(dataReply(await send(a.port, tag))?.code, 250, `${tag} not accepted by A\n${a.describe()}`);
  const running = await waitFor(() => (inflight.every((tag) => startedTags().includes(tag)) ? true : undefined), 15_000);
  assert.ok(running, `A's deliveries did not start\n${a.describe()}`);
  // smtpctl on any node (here with no daemon at all) shows the cluster's queue with each lease's holder.
  const show = await run(process.execPath, [path.join(repoRoot, 'packages/smtpctl/bin/smtpctl.js'), 'show', 'cluster', uri], { timeoutMs: 20_000 });
  assert.equal(show.code, 0, show.stderr);
  const lines = show.stdout.trim().split('\n');
  assert.equal(lines.length, 6, show.stdout);
  const holders = new Set(lines.map((l) => l.split('|').slice(-2)[0]));
  assert.equal(holders.size, 1, `one node (A) holds every lease: ${show.stdout}`);
  assert.ok(lines.every((l) => l.split('|')[11] === 'leased'), show.stdout);
  await a.crash();
  assert.ok(!a.isRunning());
  const killedAt = Date.now();
  // A waiting message's attempt running at the kill (its command outlives the daemon) must meet
  // the flag still there: that one is in flight, not waiting. Then B may deliver them, once.
  await sleep(1500);
  rmSync(flag);

  const all = [...waiting, ...inflight];
  const delivered = await waitFor(async () => {
    const tags = (await readMailbox('maildir', slowBox)).map((m) => header(m, 'X-Tsmtpd-Tag') ?? '');
    return all.every((tag) => tags.includes(tag)) ? tags : undefined;
  }, 60_000, 500);
  assert.ok(delivered, `B did not deliver A's mail\n${b.describe()}`);
  t.diagnostic(`all delivered ${Math.round((Date.now() - killedAt) / 1000)} s after the kill (lease ${LEASE}s, delivery ${SLOW_SECONDS}s)`);
  await sleep(SLOW_SECONDS * 1000 + 2000); // a second delivery, if any, would land by now
  const tags = (await readMailbox('maildir', slowBox)).map((m) => header(m, 'X-Tsmtpd-Tag') ?? '');
  const count = (tag: string) => tags.filter((x) => x === tag).length;
  for (const tag of waiting) assert.equal(count(tag), 1, `waiting mail ${tag} delivered ${count(tag)} times`);
  const doubled = inflight.filter((tag) => count(tag) > 1);
  t.diagnostic(`in flight at the kill: ${inflight.length}, delivered twice: ${doubled.length} (at least once by design)`);
  for (const tag of inflight) assert.ok(count(tag) >= 1);
  assert.match(b.output(), /envelopes taken/, 'B logged the take-over');
  assert.equal(pg.psql('mailq', 'SELECT count(*) FROM tsmtpd_envelope'), '0\n', 'the shared queue is empty');
  const after = await run(process.execPath, [path.join(repoRoot, 'packages/smtpctl/bin/smtpctl.js'), 'show', 'cluster', uri], { timeoutMs: 20_000 });
  assert.equal(after.stdout, '', after.stderr);
  assert.doesNotMatch(b.output(), /:\/\/[^@\s]*:[^@\s]*@/, 'no URI password in the log');
});

test('the queue database stopped while a client sends: 4xx, never 250; back again, mail flows', { timeout: 120_000 }, async () => {
  const b = daemons.find((d) => d.isRunning()) ?? (await node('b2'));
  // A delivery running when the server goes: its outcome waits for the server, no second delivery.
  const midTag = uniqueTag('mid');
  assert.equal(dataReply(await send(b.port, midTag))?.code, 250, b.describe());
  assert.ok(await waitFor(() => (startedTags().includes(midTag) ? true : undefined), 15_000), `${midTag} not attempted\n${b.describe()}`);
  await pg.serverStop();
  const downTag = uniqueTag('down');
  const replies = await send(b.port, downTag);
  assert.ok(!replies.some((r) => r.code === 250 && (r.op === 'data')), `250 while the database was down: ${JSON.stringify(replies)}`);
  const fail = replies.find((r) => r.code !== undefined && r.code >= 400);
  assert.ok(fail && fail.code !== undefined && fail.code >= 400 && fail.code < 500, `no 4xx: ${JSON.stringify(replies)}\n${b.describe()}`);
  assert.match(b.output(), /queue database unavailable/);
  // The delivery finishes while the server is still down: its outcome cannot be stored yet.
  const midDone = await waitFor(async () => ((await readMailbox('maildir', slowBox)).some((m) => header(m, 'X-Tsmtpd-Tag') === midTag) ? true : undefined), 20_000, 250);
  assert.ok(midDone, `${midTag} not delivered during the outage\n${b.describe()}`);
  await sleep(1000);
  pg.serverStart();
  const upTag = uniqueTag('up');
  const ok = await waitFor(async () => (dataReply(await send(b.port, upTag, `${user}@localhost`))?.code === 250 ? true : undefined), 30_000, 1000);
  assert.ok(ok, `no 250 after the database came back\n${b.describe()}`);
  const got = await waitFor(async () => {
    const tags = (await readMailbox('maildir', slowBox)).map((m) => header(m, 'X-Tsmtpd-Tag') ?? '');
    return tags.includes(upTag) ? true : undefined;
  }, 30_000, 500);
  assert.ok(got, `mail accepted after the restart was not delivered\n${b.describe()}`);
  assert.match(b.output(), /queue database reachable again/);
  await sleep(SLOW_SECONDS * 1000 + 3000); // a second delivery of the message cut by the outage would land by now
  const tags = (await readMailbox('maildir', slowBox)).map((m) => header(m, 'X-Tsmtpd-Tag') ?? '');
  assert.equal(tags.filter((x) => x === midTag).length, 1, `the delivery running at the outage was done ${tags.filter((x) => x === midTag).length} times\n${b.describe()}`);
  assert.match(b.output(), /outcomes stored after the outage/);
  assert.equal(pg.psql('mailq', 'SELECT count(*) FROM tsmtpd_envelope'), '0\n', 'the shared queue is empty');
});
