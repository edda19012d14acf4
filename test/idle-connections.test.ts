// End-to-end: 1,000 idle connections held open on one daemon, then a legitimate smtplib session
// (EHLO, MAIL, RCPT, DATA, QUIT, read back with Python's mailbox) still completes; its latency is
// measured with and without the idle crowd and printed. The descriptor limit of this process is
// raised with prlimit(1) first (the daemon inherits it).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, type Daemon } from './lib/daemon.js';
import { buildMessage, deliverableUser, localMaildirConfig, uniqueTag, userMaildir } from './lib/conf.js';
import { header, showReply, smtpSession, transaction, waitForMessage } from './lib/python.js';
import { run, sleep } from './lib/proc.js';
import { RawClient } from './lib/raw.js';
import { makeSharedDir, makeTestDir, removeTestDir } from './lib/tmp.js';

const IDLE = 1000;
const dir = makeTestDir('idle');
makeSharedDir(`${dir}/mail`);
const user = await deliverableUser('tsmtpd-e2');
let d: Daemon;
const idle: RawClient[] = [];

before(async () => {
  // 1,000 client sockets here and 1,000 in the daemon: the usual 1024 is not enough.
  const r = await run('prlimit', [`--pid=${process.pid}`, '--nofile=8192:8192'], { timeoutMs: 10_000 });
  if (r.code !== 0) await run('prlimit', [`--pid=${process.pid}`, '--nofile=8192'], { timeoutMs: 10_000 });
  const lim = await run('prlimit', [`--pid=${process.pid}`, '--nofile', '--output=SOFT,HARD', '--noheadings'], { timeoutMs: 10_000 });
  process.stdout.write(`# open files limit: ${lim.stdout.trim()}\n`);
  d = await startDaemon({ dir, config: (ctx) => localMaildirConfig(ctx) });
});
after(async () => {
  for (const c of idle) c.destroy();
  await d?.stop();
  removeTestDir(dir);
});

async function legitimate(tag: string): Promise<number> {
  const t0 = performance.now();
  const msg = buildMessage([`Subject: ${tag}`, 'From: a@client.test'], ['hello']);
  const s = await smtpSession(d.port, [{ op: 'ehlo' }, ...transaction('a@client.test', [`${user}@localhost`], msg), { op: 'quit' }], 60);
  const ms = performance.now() - t0;
  const dataReply = s.replies[3];
  assert.equal(dataReply?.code, 250, `${showReply(dataReply)}\n${d.describe()}`);
  const got = await waitForMessage('maildir', userMaildir(dir, user), (m) => header(m, 'subject') === tag, 30_000);
  assert.ok(got, `the message ${tag} was not delivered\n${d.describe()}`);
  return ms;
}

test(`${IDLE} idle connections: each is greeted and held, and a legitimate session still completes`, async () => {
  const alone = await legitimate(uniqueTag('alone'));
  for (let i = 0; i < IDLE; i++) idle.push(await RawClient.connect(d.port));
  const t0 = Date.now();
  while (idle.some((c) => c.replies().length === 0 && !c.closed) && Date.now() - t0 < 60_000) await sleep(100);
  const greeted = idle.filter((c) => (c.replies()[0] ?? '').startsWith('220 ')).length;
  assert.equal(greeted, IDLE, `only ${greeted} of ${IDLE} idle connections were greeted\n${d.describe()}`);
  const crowded = await legitimate(uniqueTag('crowded'));
  const stillOpen = idle.filter((c) => !c.closed).length;
  process.stdout.write(`# legitimate session: ${alone.toFixed(0)} ms alone, ${crowded.toFixed(0)} ms beside ${stillOpen} idle connections (greeted in ${Date.now() - t0} ms)\n`);
  assert.equal(stillOpen, IDLE, 'the daemon dropped idle connections before their timeout');
  // Generous: smtplib startup included; a starved event loop would take tens of seconds.
  assert.ok(crowded < 15_000, `the session took ${crowded.toFixed(0)} ms`);
  assert.ok(d.isRunning(), d.describe());
});
