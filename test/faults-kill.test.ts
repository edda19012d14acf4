// End-to-end fault safety: SIGKILL at random moments under load. 8 sessions send uniquely tagged
// messages to two recipients, one delivered to a maildir, one to an `mda` command that appends
// the tag to a file (an mda that can receive a message twice); meanwhile the daemon's process
// group is killed 6 times at random moments (during DATA, between commit and reply, during
// deliveries) and restarted on the same spool and port. Once the queue has drained: every 250
// was delivered at least once to both; the maildir holds no duplicate (its file names come from
// the envelope); nothing refused or never sent was delivered. Duplicates of the mda command and
// deliveries of messages whose 250 was lost in a kill are counted and reported.
// TSMTPD_FAULT_SEED=N repeats a run's kill times. A kill during bounces: faults-bounce.test.ts.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startDaemon, type Daemon } from './lib/daemon.js';
import { deliverableUser, userMaildir } from './lib/conf.js';
import { countMaildir } from './lib/maildir.js';
import { sleep, waitFor } from './lib/proc.js';
import { isRoot } from './lib/paths.js';
import { faultSeed, fileLines, maildirTags, seededRandom, startFaultLoad, tally } from './lib/faults.js';
import { makeSharedDir, makeTestDir, removeTestDir } from './lib/tmp.js';

const KILLS = 6;
const dir = makeTestDir('faults-kill');
makeSharedDir(path.join(dir, 'mail'));
const countDir = makeSharedDir(path.join(dir, 'count'));
const tagsLog = path.join(countDir, 'tags.log');
writeFileSync(tagsLog, '');
chmodSync(tagsLog, 0o666); // appended to by the mda command, run as its recipient
mkdirSync(path.join(dir, 'ctl'));
const boxUser = await deliverableUser('tsmtpd-f1');
// Not root: one user for both, and the mda recipient is left out (the same address twice is one rcpt).
const cmdUser = isRoot() ? await deliverableUser('tsmtpd-f2') : null;
const daemons: Daemon[] = [];

after(async () => {
  for (const d of daemons) await d.stop();
  removeTestDir(dir);
});

function config(ctx: { port: number; dir: string }): string {
  return [
    `listen on 127.0.0.1 port ${ctx.port}`,
    `action "local" maildir "${ctx.dir}/mail/%{user.username}/Maildir"`,
    // One small write with O_APPEND per delivery: lines never interleave.
    `action "count" mda "grep '^X-Tsmtpd-Tag:' >> ${tagsLog}"`,
    ...(cmdUser ? [`match from any for rcpt-to "${cmdUser}@localhost" action "count"`] : []),
    'match from any for local action "local"',
  ].join('\n') + '\n';
}

const tagOf = (line: string) => line.replace(/^X-Tsmtpd-Tag:\s*/, '').trim();

test('random SIGKILLs under load lose no acknowledged message', { timeout: 120_000 }, async (t) => {
  const seed = faultSeed();
  const random = seededRandom(seed);
  t.diagnostic(`seed=${seed} (TSMTPD_FAULT_SEED=${seed} repeats the kill times)`);
  const box = userMaildir(dir, boxUser);
  let d = await startDaemon({ dir, config });
  daemons.push(d);
  const port = d.port;
  const rcpts = [`${boxUser}@localhost`, ...(cmdUser ? [`${cmdUser}@localhost`] : [])];
  const load = startFaultLoad(port, { sessions: 8, rcpts, pauseMs: 20, maxSeconds: 70, seed, dir: path.join(dir, 'ctl') });

  const kills: string[] = [];
  for (let k = 0; k < KILLS; k++) {
    // Mostly short runs (kills while sessions and deliveries are busy), sometimes longer ones.
    const wait = random() < 0.7 ? 700 + random() * 1800 : 2500 + random() * 2500;
    await sleep(wait);
    const before = { box: countMaildir(box), log: fileLines(tagsLog).length };
    await d.crash();
    assert.ok(!d.isRunning(), `kill ${k + 1}: the daemon survived SIGKILL`);
    kills.push(`kill ${k + 1} after ${Math.round(wait)} ms: maildir=${before.box} mda=${before.log}`);
    d = await startDaemon({ dir, config, port });
    daemons.push(d);
  }
  await sleep(1500); // the last daemon takes load too
  const r = await load.stop();
  for (const k of kills) t.diagnostic(k);
  t.diagnostic(`load: ${r.seconds}s acked=${r.acked.length} refused=${r.refused.length} unknown=${r.unknown.length} unsent=${r.unsent.length} connects=${r.connects} connect_failures=${r.connect_failures}`);
  assert.ok(r.acked.length >= 200, `too little load to judge: ${r.acked.length} acknowledged\n${d.describe()}`);
  // A refusal is a 4xx the daemon chose (e.g. a session cut by shutdown): listed, and never delivered.
  if (r.refused.length > 0) t.diagnostic(`refused: ${JSON.stringify(r.refused.slice(0, 5))}`);

  const acked = new Set(r.acked);
  const drained = await waitFor(() => {
    const logged = new Set(fileLines(tagsLog).map(tagOf));
    const inBox = countMaildir(box);
    return inBox >= acked.size && (!cmdUser || [...acked].every((tag) => logged.has(tag))) ? true : undefined;
  }, 40_000, 250);
  await sleep(1000); // stragglers: deliveries retried after the last restart
  assert.ok(drained, `the queue did not drain in 40 s: maildir=${countMaildir(box)} mda=${fileLines(tagsLog).length} acked=${acked.size}\n${d.describe()}`);

  const inBox = tally((await maildirTags(box)).map((tag) => tag || '(none)'));
  const inLog = tally(fileLines(tagsLog).map(tagOf));
  const unknown = new Set(r.unknown.map(([tag]) => tag));
  const report = (name: string, seen: Map<string, number>) => {
    const missing = [...acked].filter((tag) => !seen.has(tag));
    const dups = [...seen].filter(([, n]) => n > 1);
    const unacked = [...seen.keys()].filter((tag) => !acked.has(tag));
    const foreign = unacked.filter((tag) => !unknown.has(tag));
    t.diagnostic(`${name}: delivered=${seen.size} missing=${missing.length} duplicated=${dups.length} delivered-unacknowledged=${unacked.length} (of ${unknown.size} whose reply was lost)`);
    assert.deepEqual(missing, [], `${name}: acknowledged but not delivered\n${d.describe()}`);
    assert.deepEqual(foreign, [], `${name}: delivered although refused or never sent`);
    return dups;
  };
  const boxDups = report('maildir', inBox);
  assert.deepEqual(boxDups, [], 'maildir: a message delivered twice (the file name comes from the envelope)');
  if (cmdUser) report('mda command', inLog);

  const stop = await d.stop();
  assert.equal(stop.code, 0, `last daemon: ${JSON.stringify(stop)}\n${d.describe()}`);
});
