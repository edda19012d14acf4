// End-to-end: durability. 200 messages over 10 parallel sessions; the daemon's process group gets
// SIGKILL right after the last 250; a new daemon on the same spool must deliver every message that
// was acknowledged (counted in the maildir, then checked tag by tag with Python's mailbox module).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, type Daemon } from './lib/daemon.js';
import { deliverableUser, localMaildirConfig, userMaildir } from './lib/conf.js';
import { header, readMailbox, smtpLoad } from './lib/python.js';
import { countMaildir, waitMaildirs } from './lib/maildir.js';
import { sleep } from './lib/proc.js';
import { makeSharedDir, makeTestDir, removeTestDir } from './lib/tmp.js';

const user = await deliverableUser('tsmtpd-e4');
const dir = makeTestDir('crash');
makeSharedDir(`${dir}/mail`);
const daemons: Daemon[] = [];

after(async () => {
  for (const d of daemons) await d.stop();
  removeTestDir(dir);
});

test('every acknowledged message is delivered after SIGKILL and a restart on the same spool', { timeout: 150_000 }, async (t) => {
  const box = userMaildir(dir, user);
  const config = (ctx: { port: number; dir: string }) => localMaildirConfig(ctx);
  const first = await startDaemon({ dir, config });
  daemons.push(first);

  const load = await smtpLoad(first.port, { sessions: 10, perSession: 20, rcpt: `${user}@localhost`, killPgid: first.pid, timeoutMs: 120_000 });
  const gone = await Promise.race([first.exited.then(() => true), sleep(5000).then(() => false)]);
  assert.ok(gone, 'the daemon survived SIGKILL');
  t.diagnostic(`acked=${load.acked.length} failed=${load.failed.length} killed_at=${load.killed_at}s delivered_before_restart=${countMaildir(box)}`);
  assert.equal(load.failed.length, 0, `refused or failed before the kill: ${JSON.stringify(load.failed.slice(0, 5))}\n${first.describe()}`);
  assert.equal(load.acked.length, 200);

  const second = await startDaemon({ dir, config });
  daemons.push(second);
  const [count] = await waitMaildirs([box], load.acked.length, 60_000);
  assert.ok((count ?? 0) >= load.acked.length, `only ${count} of ${load.acked.length} acknowledged messages delivered\n${second.describe()}`);

  const stored = await readMailbox('maildir', box);
  const seen = new Map<string, number>();
  for (const m of stored) {
    const tag = header(m, 'X-Tsmtpd-Tag');
    if (tag !== undefined) seen.set(tag, (seen.get(tag) ?? 0) + 1);
  }
  const missing = load.acked.filter((tag) => !seen.has(tag));
  assert.deepEqual(missing, [], `acknowledged but not delivered: ${missing.length}`);
  const dups = [...seen.values()].filter((n) => n > 1).length;
  t.diagnostic(`stored=${stored.length} duplicated=${dups}`);
});
