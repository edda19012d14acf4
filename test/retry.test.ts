// End-to-end: a delivery that fails temporarily stays queued, survives a restart of the daemon
// (the queue is the source of truth, the scheduler is rebuilt from it) and is retried and
// delivered once the cause is gone. The failure: the user's maildir parent is a plain file.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startDaemon, type Daemon } from './lib/daemon.js';
import { buildMessage, deliverableUser, localMaildirConfig, uniqueTag, userMaildir } from './lib/conf.js';
import { header, readMailbox, showReply, smtpSession, transaction, waitForMessage } from './lib/python.js';
import { countMaildir } from './lib/maildir.js';
import { sleep } from './lib/proc.js';
import { makeSharedDir, makeTestDir, removeTestDir } from './lib/tmp.js';

const dir = makeTestDir('retry');
makeSharedDir(`${dir}/mail`);
const user = await deliverableUser('tsmtpd-e5');
const daemons: Daemon[] = [];
after(async () => {
  for (const d of daemons) await d.stop();
  removeTestDir(dir);
});

test('a temporarily failing delivery is kept across a restart and delivered when the cause is gone', { timeout: 90_000 }, async () => {
  const blocker = path.join(dir, 'mail', user);
  writeFileSync(blocker, 'not a directory: the maildir cannot be created\n');
  const config = (ctx: { port: number; dir: string }) => localMaildirConfig(ctx);
  const first = await startDaemon({ dir, config });
  daemons.push(first);
  const tag = uniqueTag('retry');
  const s = await smtpSession(first.port, [{ op: 'ehlo' }, ...transaction('sender@client.test', [`${user}@localhost`], buildMessage([`Subject: ${tag}`], ['deferred'])), { op: 'quit' }]);
  assert.equal(s.replies[3]?.code, 250, s.replies.map(showReply).join('\n'));
  await sleep(1500); // the first attempt has failed by now
  const stop = await first.stop();
  assert.equal(stop.code, 0, `first daemon: ${JSON.stringify(stop)}\n${first.describe()}`);

  rmSync(blocker);
  const second = await startDaemon({ dir, config });
  daemons.push(second);
  const box = userMaildir(dir, user);
  const m = await waitForMessage('maildir', box, (x) => header(x, 'Subject') === tag, 45_000);
  assert.ok(m, `${tag} not delivered after the restart\n--- first\n${first.describe()}\n--- second\n${second.describe()}`);
  assert.equal(m.body.toString('utf8'), 'deferred\n');
  await sleep(300);
  assert.equal(countMaildir(box), 1, 'delivered more than once');
  assert.equal((await readMailbox('maildir', box)).length, 1);
});
