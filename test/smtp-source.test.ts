// End-to-end: Postfix's smtp-source (the bench's load generator, unpacked by scripts/peers-install.sh)
// as an independent client: parallel sessions, a connection per message and reused connections;
// every message counted in the maildir and parsed back with Python's mailbox module.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { startDaemon, type Daemon } from './lib/daemon.js';
import { deliverableUser, localMaildirConfig, userMaildir } from './lib/conf.js';
import { countMaildir, waitMaildirs } from './lib/maildir.js';
import { readMailbox } from './lib/python.js';
import { describeRun, run, sleep } from './lib/proc.js';
import { smtpSourceBin } from './lib/paths.js';
import { makeSharedDir, makeTestDir, removeTestDir } from './lib/tmp.js';

const skip = existsSync(smtpSourceBin) ? false : `${smtpSourceBin} missing: run scripts/peers-install.sh (as .ci/run does)`;
const dir = makeTestDir('source');
makeSharedDir(`${dir}/mail`);
const user = await deliverableUser('tsmtpd-e5');
const box = userMaildir(dir, user);
let d: Daemon | undefined;

before(async () => {
  if (skip === false) d = await startDaemon({ dir, config: (ctx) => localMaildirConfig(ctx) });
});
after(async () => {
  await d?.stop();
  removeTestDir(dir);
});

async function source(args: string[]): Promise<void> {
  assert.ok(d);
  const r = await run(smtpSourceBin, [...args, '-M', 'client.test', '-f', 'load@client.test', '-t', `${user}@localhost`, `127.0.0.1:${d.port}`], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, describeRun('smtp-source', r) + '\n' + d.describe());
}

test('smtp-source: 100 messages over 5 sessions, a connection each, then 40 over 2 reused connections', { skip }, async () => {
  await source(['-s', '5', '-m', '100', '-l', '2048']);
  await source(['-s', '2', '-m', '40', '-l', '512', '-d']);
  const [count] = await waitMaildirs([box], 140, 30_000);
  await sleep(300); // anything extra (a duplicate) would show by now
  assert.equal(countMaildir(box), 140, `maildir holds ${count}, expected 140\n${d?.describe()}`);
  const msgs = await readMailbox('maildir', box);
  assert.equal(msgs.length, 140);
  const sizes = msgs.map((m) => m.body.length);
  // -l counts CRLF line ends; stored bodies have LF, so a 2048-byte payload is a little shorter.
  assert.equal(sizes.filter((n) => n > 1900 && n <= 2048).length, 100, `body sizes: ${[...new Set(sizes)].join(',')}`);
  assert.equal(sizes.filter((n) => n > 450 && n <= 512).length, 40, `body sizes: ${[...new Set(sizes)].join(',')}`);
});
