// End-to-end fault safety: the spool's disk fills up. The spool lives on an 8 MiB tmpfs the test
// mounts (root only; skipped otherwise); the maildir is elsewhere but blocked (its parent is a
// plain file), so that the messages accepted before the disk filled are still queued while it is
// full. Then: a message bigger than the room left is refused at the end of DATA (452 4.3.1 or
// 451 4.3.0, never 250) and the session goes on; a full disk refuses MAIL with 452 4.3.1; the
// daemon lives on (PID and log checked). Once the filler is removed, new mail is accepted without
// a restart, and every message that got a 250 (before or during) is delivered exactly once.
// The queue database is checked with Python's sqlite3 (integrity_check) after the daemon stopped.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startDaemon, type Daemon } from './lib/daemon.js';
import { buildMessage, deliverableUser, localMaildirConfig, uniqueTag, userMaildir } from './lib/conf.js';
import { header, readMailbox, showReply, smtpSession, transaction, type SmtpReply } from './lib/python.js';
import { countMaildir, waitMaildirs } from './lib/maildir.js';
import { killQuietly, run, sleep, waitFor } from './lib/proc.js';
import { python3 } from './lib/paths.js';
import { mountSkipReason, mountTmpfs, type SmallFs } from './lib/tmpfs.js';
import { makeSharedDir, makeTestDir, removeTestDir } from './lib/tmp.js';

const skip = mountSkipReason();
const dir = makeTestDir('faults-disk');
makeSharedDir(path.join(dir, 'mail'));
const daemons: Daemon[] = [];
let small: SmallFs | null = null;

after(async () => {
  for (const d of daemons) await d.stop();
  if (small) await small.unmount();
  removeTestDir(dir);
});

const FULL = '452 4.3.1 Insufficient system storage';
const MIB = 1024 * 1024;

/** One message in one session; the replies to MAIL, RCPT and DATA. */
async function send(port: number, rcpt: string, tag: string, bodyBytes = 0): Promise<SmtpReply[]> {
  const line = 'y'.repeat(998);
  const body = [`message ${tag}`, ...Array<string>(Math.ceil(bodyBytes / 1000)).fill(line)];
  const data = buildMessage(['From: sender@client.test', `To: ${rcpt}`, `Subject: ${tag}`, `X-Tsmtpd-Tag: ${tag}`], body);
  const s = await smtpSession(port, [{ op: 'ehlo' }, ...transaction('sender@client.test', [rcpt], data), { op: 'quit' }], 60);
  return s.replies.slice(1, 4);
}

/** One value from the queue database, read by Python's sqlite3 (an independent reader). */
async function sqlite(db: string, sql: string): Promise<string> {
  const code = 'import sqlite3,sys; print(sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True, timeout=5).execute(sys.argv[2]).fetchone()[0])';
  const r = await run(python3, ['-c', code, db, sql], { timeoutMs: 15_000 });
  if (r.code !== 0) throw new Error(`sqlite3 ${sql}: ${r.stderr}`);
  return r.stdout.trim();
}

const queuedEnvelopes = async (db: string) => Number(await sqlite(db, 'select count(*) from envelope'));

const wire = (rs: SmtpReply[]) => rs.map(showReply).join(' | ');
const isAck = (rs: SmtpReply[]) => rs[2]?.op === 'data' && rs[2].code === 250;

test('a full spool disk: 452 4.3.1, nothing acknowledged is lost, mail flows again once space returns', { skip: skip ?? false, timeout: 120_000 }, async (t) => {
  const user = await deliverableUser('tsmtpd-f3');
  const fs = (small = await mountTmpfs(path.join(dir, 'fs'), 8));
  const blocker = path.join(dir, 'mail', user);
  writeFileSync(blocker, 'not a directory: deliveries wait until the test removes it\n');
  const d = await startDaemon({ dir, spool: path.join(fs.dir, 'spool'), config: (ctx) => localMaildirConfig(ctx) });
  daemons.push(d);
  const rcpt = `${user}@localhost`;
  const acked: string[] = [];
  const alive = () => d.isRunning() && killQuietly(d.pid, 0);

  // Before: accepted and queued (the delivery fails temporarily, the maildir is blocked).
  for (let i = 0; i < 5; i++) {
    const tag = uniqueTag(`before${i}`);
    const rs = await send(d.port, rcpt, tag, 20_000);
    assert.ok(isAck(rs), `before the fill: ${wire(rs)}\n${d.describe()}`);
    acked.push(tag);
  }
  await sleep(500);

  // Full (the WAL has no slack yet: small commits only): refused at MAIL, the session goes on.
  fs.fill(0);
  await sleep(600); // the smtp actor's shared statfs reading is 500 ms old at most
  const full = await smtpSession(d.port, [{ op: 'ehlo' }, { op: 'mail', addr: 'sender@client.test' }, { op: 'cmd', line: 'NOOP' }, { op: 'quit' }]);
  assert.equal(showReply(full.replies[1]), `mail: ${FULL}`);
  assert.equal(full.replies[2]?.code, 250, wire(full.replies));

  // Still full: the maildir is unblocked and the queued messages are delivered at their retry
  // (10 s after the first attempt); the queue cannot record that (SQLITE_FULL), so it tries
  // them again later, and the maildir knows them (one copy each, checked at the end).
  rmSync(blocker);
  const box = userMaildir(dir, user);
  const [whileFull] = await waitMaildirs([box], acked.length, 20_000);
  await sleep(500);
  t.diagnostic(`delivered while the spool was full: ${whileFull} of ${acked.length}; free=${fs.free()}`);
  assert.ok(alive(), `the daemon died while the disk was full\n${d.describe()}`);

  // Room for MAIL again (above the 5% floor) but not for a 3 MiB body: refused at the end of DATA.
  const { blocks, bsize } = fs.size();
  fs.unfill();
  fs.fill(Math.ceil(blocks * 0.05) * bsize + MIB);
  await sleep(600);
  const big = uniqueTag('big');
  const bigRs = await send(d.port, rcpt, big, 3 * MIB);
  t.diagnostic(`3 MiB with ${Math.round(fs.free() / 1024)} KiB left afterwards: ${wire(bigRs)}`);
  assert.equal(bigRs[0]?.code, 250, `MAIL above the floor: ${wire(bigRs)}`);
  assert.ok(!isAck(bigRs), `a 3 MiB message acknowledged on a file system with 1 MiB to spare: ${wire(bigRs)}`);
  assert.match(showReply(bigRs[2]), /^data: (452 4\.3\.1 Insufficient system storage|451 4\.3\.0 Temporary failure)$/);
  assert.ok(alive(), `the daemon died on SQLITE_FULL\n${d.describe()}`);
  assert.doesNotMatch(d.output(), /\b(fatal|uncaught|died|exiting)\b/i, `the daemon's log while full:\n${d.describe()}`);
  assert.match(d.output(), /spool full/, 'the smtp actor logs its refusals');

  // Space returns: no restart, new mail accepted within a few seconds.
  fs.unfill();
  const after = uniqueTag('after');
  const back = await waitFor(async () => {
    const rs = await send(d.port, rcpt, after);
    return isAck(rs) ? rs : (await sleep(250), undefined);
  }, 10_000, 0);
  assert.ok(back, `no 250 within 10 s of the filler's removal\n${d.describe()}`);
  acked.push(after);

  // The queue drains (an outcome lost to the full disk means one more attempt: <= 40 s), and
  // every acknowledged message is in the maildir once.
  const db = path.join(fs.dir, 'spool', 'queue.db');
  const empty = await waitFor(async () => ((await queuedEnvelopes(db)) === 0 ? true : undefined), 60_000, 500);
  assert.ok(empty, `the queue did not drain: ${await queuedEnvelopes(db)} envelopes left\n${d.describe()}`);
  const stored = await readMailbox('maildir', box);
  const tags = stored.map((m) => header(m, 'X-Tsmtpd-Tag') ?? '');
  const lost = (d.output().match(/outcome update failed/g) ?? []).length;
  t.diagnostic(`delivered=${tags.length} acked=${acked.length} outcome writes that failed on the full disk=${lost}`);
  for (const tag of acked) assert.equal(tags.filter((x) => x === tag).length, 1, `${tag} delivered ${tags.filter((x) => x === tag).length} times\n${d.describe()}`);
  assert.ok(!tags.includes(big), 'the refused message was delivered');
  assert.equal(countMaildir(box), acked.length);

  const stop = await d.stop();
  assert.equal(stop.code, 0, `exit after the full disk: ${JSON.stringify(stop)}\n${d.describe()}`);
  const check = await sqlite(db, 'pragma integrity_check');
  assert.equal(check, 'ok');
});
