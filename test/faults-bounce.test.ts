// End-to-end fault safety: SIGKILL while bounces are being generated. Under load, every message
// goes to an `mda` command that fails permanently (exit 67), from its own sender address
// (sender+TAG, a local maildir), so each accepted message owes its sender one report (RFC 3464).
// The daemon's process group is killed as soon as the first reports land and then 3 more times
// at random moments (failures being grouped, reports being built, committed and delivered), and
// restarted on the same spool and port. After the restarts every acknowledged message has its
// report (read back with Python's email package); duplicate reports are counted and reported;
// no report is about a message that was refused or never sent. Root only (two system users).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { startDaemon, type Daemon } from './lib/daemon.js';
import { deliverableUser, userMaildir } from './lib/conf.js';
import { field, readBounces } from './lib/bounces.js';
import { countMaildir } from './lib/maildir.js';
import { sleep, waitFor } from './lib/proc.js';
import { isRoot } from './lib/paths.js';
import { faultSeed, seededRandom, startFaultLoad, tally } from './lib/faults.js';
import { makeSharedDir, makeTestDir, removeTestDir } from './lib/tmp.js';

const dir = makeTestDir('faults-bounce');
makeSharedDir(path.join(dir, 'mail'));
mkdirSync(path.join(dir, 'ctl'));
const daemons: Daemon[] = [];

after(async () => {
  for (const d of daemons) await d.stop();
  removeTestDir(dir);
});

test('a kill while bounces are generated: every acknowledged message gets its report', { skip: isRoot() ? false : 'not root: needs two system users', timeout: 120_000 }, async (t) => {
  const sender = await deliverableUser('tsmtpd-f4');
  const target = await deliverableUser('tsmtpd-f5');
  const seed = faultSeed();
  const random = seededRandom(seed);
  t.diagnostic(`seed=${seed}`);
  const config = (ctx: { port: number; dir: string }) => [
    `listen on 127.0.0.1 port ${ctx.port}`,
    `action "local" maildir "${ctx.dir}/mail/%{user.username}/Maildir"`,
    `action "refuse" mda "cat >/dev/null; echo mailbox closed for good; exit 67"`,
    `match from any for rcpt-to "${target}@localhost" action "refuse"`,
    'match from any for local action "local"',
    '',
  ].join('\n');
  let d = await startDaemon({ dir, config });
  daemons.push(d);
  const port = d.port;
  const box = userMaildir(dir, sender);
  const load = startFaultLoad(port, {
    sessions: 6, rcpts: [`${target}@localhost`], pauseMs: 20, maxSeconds: 40, seed, dir: path.join(dir, 'ctl'), sender: `${sender}+%s@localhost`,
  });

  const kills: string[] = [];
  const first = await waitFor(() => (countMaildir(box) > 0 ? true : undefined), 15_000, 20);
  assert.ok(first, `no report within 15 s\n${d.describe()}`);
  for (let k = 0; k < 4; k++) {
    if (k > 0) await sleep(500 + random() * 1500);
    kills.push(`kill ${k + 1}: reports=${countMaildir(box)}`);
    await d.crash();
    assert.ok(!d.isRunning(), 'the daemon survived SIGKILL');
    d = await startDaemon({ dir, config, port });
    daemons.push(d);
  }
  await sleep(1000);
  const r = await load.stop();
  for (const k of kills) t.diagnostic(k);
  t.diagnostic(`load: ${r.seconds}s acked=${r.acked.length} refused=${r.refused.length} unknown=${r.unknown.length} unsent=${r.unsent.length}`);
  assert.ok(r.acked.length >= 50, `too little load: ${r.acked.length}\n${d.describe()}`);

  const acked = new Set(r.acked);
  const tagOf = (h: Record<string, string>) => field(h, 'X-Tsmtpd-Tag') ?? '(none)';
  const reports = await waitFor(async () => {
    if (countMaildir(box) < acked.size) return undefined;
    const got = await readBounces(box);
    const seen = new Set(got.map((b) => tagOf(b.returned_headers)));
    return [...acked].every((tag) => seen.has(tag)) ? got : undefined;
  }, 45_000, 500);
  const final = reports ? (await sleep(2000), await readBounces(box)) : await readBounces(box);
  const per = tally(final.map((b) => tagOf(b.returned_headers)));
  const missing = [...acked].filter((tag) => !per.has(tag));
  const unknown = new Set(r.unknown.map(([tag]) => tag));
  const foreign = [...per.keys()].filter((tag) => !acked.has(tag) && !unknown.has(tag));
  const dups = [...per].filter(([, n]) => n > 1);
  t.diagnostic(`reports=${final.length} for ${per.size} messages: missing=${missing.length} duplicated=${dups.length} for-lost-replies=${[...per.keys()].filter((x) => unknown.has(x)).length}`);
  assert.deepEqual(missing, [], `acknowledged messages without a report\n${d.describe()}`);
  assert.deepEqual(foreign, [], 'reports about messages that were refused or never sent');
  for (const b of final) {
    assert.equal(b.report_type, 'delivery-status');
    assert.equal(field(b.status_recipients[0], 'Action'), 'failed');
    assert.match(field(b.status_recipients[0], 'Final-Recipient') ?? '', new RegExp(`${target}@localhost`, 'i'));
  }
  const stop = await d.stop();
  assert.equal(stop.code, 0, `last daemon: ${JSON.stringify(stop)}\n${d.describe()}`);
});
