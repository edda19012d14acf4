// End-to-end: smtpctl as a postmaster uses it, against a running daemon holding mail with a
// tempfailing `mda` action: show queue parsed field by field (and `sh q`, mailq), pause/resume
// envelope, schedule, pause/resume mda observed by the attempts made or not, show stats counting
// what was sent, monitor through a pipe, hostile bytes on the control socket leaving the daemon
// serving, a non-root user refused, and show queue with the daemon stopped (runstate offline).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { readBanner, startDaemon, type Daemon } from './lib/daemon.js';
import { buildMessage } from './lib/conf.js';
import { showReply, smtpSession, transaction } from './lib/python.js';
import { run, sleep } from './lib/proc.js';
import { isRoot } from './lib/paths.js';
import { ensureUsers } from './lib/users.js';
import { makeTestDir, removeTestDir } from './lib/tmp.js';
import { mailqBin, parseQueue, parseStats, smtpctl, type QueueLine } from './lib/smtpctl.js';

const dir = makeTestDir('smtpctl');
writeFileSync(path.join(dir, 'extra'), 'postmaster root\n');
const conf = (ctx: { port: number }) => [
  `table extra file:${path.join(dir, 'extra')}`,
  `listen on 127.0.0.1 port ${ctx.port}`,
  // As `nobody`: started as root the daemon delivers as no one but a real non-root user.
  `action "hold" mda "/bin/sh -c 'cat >/dev/null; echo try later; exit 75'" user nobody`,
  'match from any for local action "hold"',
  '',
].join('\n');
let d: Daemon;
const spool = () => d.spool;

before(async () => {
  // Retries 600 s apart: an envelope is attempted again only when smtpctl asks for it.
  d = await startDaemon({ dir, config: conf, env: { SMTPD_RETRY_BASE: 'mda=600' } });
});
after(async () => {
  await d?.stop();
  removeTestDir(dir);
});

async function send(subject: string): Promise<void> {
  const s = await smtpSession(d.port, [{ op: 'ehlo' }, ...transaction('postmaster@client.test', ['root@localhost'], buildMessage([`Subject: ${subject}`], ['held'])), { op: 'quit' }]);
  assert.equal(s.replies[3]?.code, 250, s.replies.map(showReply).join('\n'));
}

async function queue(): Promise<QueueLine[]> {
  const r = await smtpctl(spool(), ['show', 'queue']);
  assert.equal(r.code, 0, r.stderr);
  return parseQueue(r.stdout);
}

/** Poll `show queue` until `pred` holds (bounded). */
async function queueUntil(pred: (q: QueueLine[]) => boolean, what: string, ms = 15_000): Promise<QueueLine[]> {
  const end = Date.now() + ms;
  let q: QueueLine[] = [];
  while (Date.now() < end) {
    q = await queue();
    if (pred(q)) return q;
    await sleep(200);
  }
  assert.fail(`${what}: queue is ${JSON.stringify(q)}\n${d.describe()}`);
}

test('show queue lists a held message field by field; sh q and mailq agree', { timeout: 60_000 }, async () => {
  const t0 = Math.floor(Date.now() / 1000);
  await send('one');
  await send('two');
  // The queue stores the attempt before the scheduler hears of it: wait for both.
  const q = await queueUntil((x) => x.length === 2 && x.every((e) => e.retry === 1 && e.runstate === 'pending'), 'two envelopes tried once');
  for (const e of q) {
    assert.match(e.evpid, /^[0-9a-f]{16}$/);
    assert.equal(e.family, 'inet4');
    assert.equal(e.type, 'mda');
    assert.deepEqual(e.flags, []);
    assert.equal(e.sender, 'postmaster@client.test');
    assert.equal(e.rcpt, 'root@localhost');
    assert.equal(e.dest, 'root@localhost');
    assert.ok(e.ctime >= t0 - 1 && e.ctime <= t0 + 30, `ctime ${e.ctime}`);
    assert.equal(e.expiry, e.ctime + 4 * 86400);
    assert.ok(e.lasttry >= e.ctime, `lasttry ${e.lasttry}`);
    assert.equal(e.runstate, 'pending');
    assert.ok(Number(e.delay) > 500 && Number(e.delay) <= 600 * 4, `delay ${e.delay}`);
    assert.equal(e.errorline, 'try later');
  }
  const abbreviated = await smtpctl(spool(), ['sh', 'q']);
  assert.deepEqual(parseQueue(abbreviated.stdout).map((e) => e.evpid), q.map((e) => e.evpid));
  const mailq = await run(process.execPath, [mailqBin, '--spool', spool()]);
  assert.equal(mailq.code, 0, mailq.stderr);
  assert.deepEqual(parseQueue(mailq.stdout).map((e) => e.evpid), q.map((e) => e.evpid));
  const one = await smtpctl(spool(), ['show', 'queue', q[0]!.evpid.slice(0, 8)]);
  assert.deepEqual(parseQueue(one.stdout).map((e) => e.evpid), [q[0]!.evpid]);
});

test('ambiguous and incomplete commands print the possibilities', async () => {
  const r = await smtpctl(spool(), ['sh', 'stat']);
  assert.equal(r.code, 1);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines[0], 'possibilities are:');
  for (const c of ['show envelope', 'show message', 'show queue', 'show hosts', 'show relays', 'show routes', 'show stats', 'show status']) assert.ok(lines.includes(c), `${c} missing: ${r.stderr}`);
  assert.ok(lines.slice(1).every((l) => /^show [a-z]+$/.test(l)), r.stderr);
  const p = await smtpctl(spool(), ['pause']);
  assert.match(p.stderr, /^possibilities are:\npause envelope\npause mda\npause mta\npause smtp\n$/);
  const bad = await smtpctl(spool(), ['trace', 'nonsense']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /invalid trace keyword: nonsense/);
});

test('pause/resume envelope, schedule, and pause/resume mda take effect', { timeout: 60_000 }, async () => {
  const [a, b] = await queue();
  assert.ok(a && b);
  const paused = await smtpctl(spool(), ['pause', 'envelope', a.evpid]);
  assert.equal(paused.stdout, '1 envelope paused\n');
  assert.deepEqual((await queue()).find((e) => e.evpid === a.evpid)?.flags, ['suspend']);
  // A suspended envelope is not scheduled by `schedule all`; the other one is, and is tried again.
  const all = await smtpctl(spool(), ['schedule', 'all']);
  assert.equal(all.stdout, '1 envelope scheduled\n');
  await queueUntil((q) => q.find((e) => e.evpid === b.evpid)?.retry === 2, 'b tried a second time');
  assert.equal((await queue()).find((e) => e.evpid === a.evpid)?.retry, 1);
  assert.equal((await smtpctl(spool(), ['resume', 'envelope', a.evpid])).stdout, '1 envelope resumed\n');
  assert.deepEqual((await queue()).find((e) => e.evpid === a.evpid)?.flags, []);

  // pause mda: scheduled envelopes are not handed to the mda until it is resumed.
  const pm = await smtpctl(spool(), ['pause', 'mda']);
  assert.equal(pm.stdout, 'command succeeded\n');
  assert.equal((await smtpctl(spool(), ['show', 'status'])).stdout, 'MDA paused\nMTA running\nSMTP running\n');
  assert.equal((await smtpctl(spool(), ['schedule', a.evpid])).stdout, '1 envelope scheduled\n');
  await sleep(2000);
  assert.equal((await queue()).find((e) => e.evpid === a.evpid)?.retry, 1, 'attempted while mda paused');
  assert.equal((await smtpctl(spool(), ['resume', 'mda'])).stdout, 'command succeeded\n');
  await queueUntil((q) => q.find((e) => e.evpid === a.evpid)?.retry === 2, 'a tried after resume mda');
  assert.equal((await smtpctl(spool(), ['show', 'status'])).stdout, 'MDA running\nMTA running\nSMTP running\n');
});

test('show stats counts what was sent (key=value lines, uptime first)', { timeout: 30_000 }, async () => {
  await sleep(1500); // counters reach control once a second
  const r = await smtpctl(spool(), ['show', 'stats']);
  assert.equal(r.code, 0, r.stderr);
  const { keys, values } = parseStats(r.stdout);
  assert.deepEqual(keys.slice(0, 2), ['uptime', 'uptime.human']);
  assert.match(values.get('uptime.human')!, /^(\d+d)?(\d+h)?(\d+m)?(\d+s)?$/);
  assert.equal(values.get('smtp.message'), '2');
  assert.equal(values.get('smtp.session.inet4'), values.get('smtp.session'));
  assert.equal(values.get('scheduler.envelope'), '2');
  assert.equal(values.get('scheduler.delivery.tempfail'), '4');
  assert.equal(values.get('mda.delivery.tempfail'), '4');
  assert.equal(values.get('mda.delivery.ok'), '0');
});

test('monitor prints lines through a pipe', { timeout: 30_000 }, async () => {
  const cmd = `'${process.execPath}' '${smtpctlPath()}' --spool '${spool()}' monitor | head -n 3`;
  const r = await run('/bin/sh', ['-c', cmd], { timeoutMs: 15_000 });
  assert.equal(r.timedOut, false);
  const lines = r.stdout.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 3, r.stdout + r.stderr);
  assert.match(lines[0]!, /^--- client ---/);
  assert.deepEqual(lines[1]!.trim().split(/\s+/), ['curr', 'conn', 'disc', 'curr', 'enq', 'deq', 'ok', 'tmpfail', 'prmfail', 'loop', 'expire', 'remove', 'bounce']);
  const cols = lines[2]!.trim().split(/\s+/).map(Number);
  assert.equal(cols.length, 13);
  assert.equal(cols[3], 2, 'envelopes in the queue');
});

function smtpctlPath(): string {
  return path.join(path.dirname(mailqBin), 'smtpctl.js');
}

/** Send bytes on a fresh control connection; resolves with what came back before it closed. */
function hostile(bytes: Buffer, ms = 3000): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(path.join(spool(), 'smtpd.sock'));
    let got = '';
    const t = setTimeout(() => s.destroy(), ms);
    s.on('data', (b) => (got += b.toString('utf8')));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(t);
      resolve(got);
    });
    s.on('connect', () => s.write(bytes, () => undefined));
  });
}

test('garbage on the control socket leaves the daemon serving', { timeout: 60_000 }, async () => {
  const replies: string[] = [];
  replies.push(await hostile(randomBytes(100_000)));
  replies.push(await hostile(Buffer.from('{"v":1,"cmd":"show.stats"' + 'x'.repeat(10_000) + '\n')));
  replies.push(await hostile(Buffer.from('not json\n')));
  replies.push(await hostile(Buffer.from('{"v":99,"cmd":"show.stats"}\n')));
  replies.push(await hostile(Buffer.from('{"v":1,"cmd":"envelopes","op":"remove","target":"../../etc"}\n')));
  replies.push(await hostile(Buffer.from('{"v":1,"cmd":"show.stats","__proto__":{"admin":true}}\n')));
  for (let i = 0; i < 20; i++) replies.push(await hostile(Buffer.concat([randomBytes(2000), Buffer.from('\n')]), 1000));
  // Many idle clients at once: the cap turns the extra ones away, nothing stalls.
  const idle = Array.from({ length: 50 }, () => net.connect(path.join(spool(), 'smtpd.sock')).on('error', () => undefined));
  await sleep(500);
  for (const r of replies.slice(1, 6)) assert.match(r, /"ok":false/, `no error reply: ${r}`);
  assert.match(replies[3]!, /"code":"version"/);
  for (const s of idle) s.destroy();
  await sleep(300);
  const st = await smtpctl(spool(), ['show', 'status']);
  assert.equal(st.stdout, 'MDA running\nMTA running\nSMTP running\n', st.stderr + d.describe());
  assert.match((await readBanner(d.port)) ?? '', /^220 /);
  assert.equal((await queue()).length, 2, 'nothing was removed by the hostile requests');
  assert.ok(d.isRunning());
});

test('a request trickled a byte at a time is cut off; the daemon goes on serving', { timeout: 60_000 }, async () => {
  const started = Date.now();
  const got = await new Promise<string>((resolve) => {
    const s = net.connect(path.join(spool(), 'smtpd.sock'));
    let text = '';
    const drip = setInterval(() => s.write(' '), 500);
    const guard = setTimeout(() => s.destroy(), 30_000);
    s.on('data', (b) => (text += b.toString('utf8')));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearInterval(drip);
      clearTimeout(guard);
      resolve(text);
    });
    s.on('connect', () => s.write('{"v":1,'));
  });
  const took = Date.now() - started;
  assert.match(got, /"code":"timeout"/);
  assert.ok(took >= 9000 && took < 20_000, `cut off after ${took} ms`);
  assert.equal((await smtpctl(spool(), ['show', 'status'])).stdout, 'MDA running\nMTA running\nSMTP running\n');
});

test('a non-root user is refused administrative commands', { timeout: 30_000 }, async (t) => {
  if (!isRoot()) return t.skip('not root: cannot run smtpctl as another user');
  const u = await ensureUsers(['tsmtpd-c1']);
  if (!u.ok) return t.skip(u.reason);
  const user = u.users[0]!;
  const asUser = (args: string[]) => run('setpriv', ['--reuid', String(user.uid), '--regid', String(user.gid), '--clear-groups', process.execPath, smtpctlPath(), '--spool', spool(), ...args]);
  for (const args of [['show', 'queue'], ['remove', 'all'], ['pause', 'smtp'], ['show', 'stats']]) {
    const r = await asUser(args);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /permission denied/);
  }
  assert.equal((await queue()).length, 2);
  assert.equal((await smtpctl(spool(), ['show', 'status'])).stdout, 'MDA running\nMTA running\nSMTP running\n');
});

test('log verbose|brief and trace/untrace change the running log level; pause smtp refuses sessions; update table', { timeout: 60_000 }, async () => {
  const replyLines = () => d.output().split('\n').filter((l) => /^smtp: reply session=/.test(l)).length;
  const banner = async () => (await readBanner(d.port)) ?? '';
  assert.equal(replyLines(), 0, 'no debug lines before');
  assert.equal((await smtpctl(spool(), ['log', 'verbose'])).stdout, 'command succeeded\n');
  assert.match(await banner(), /^220 /);
  await waitFor(() => replyLines() > 0, 'smtp debug lines after log verbose');
  assert.equal((await smtpctl(spool(), ['log', 'brief'])).stdout, 'command succeeded\n');
  await sleep(300);
  let n = replyLines();
  await banner();
  await sleep(500);
  assert.equal(replyLines(), n, 'no debug lines after log brief');
  assert.equal((await smtpctl(spool(), ['trace', 'smtp'])).stdout, 'command succeeded\n');
  await banner();
  await waitFor(() => replyLines() > n, 'smtp debug lines after trace smtp');
  assert.equal((await smtpctl(spool(), ['untrace', 'smtp'])).stdout, 'command succeeded\n');
  await sleep(300);
  n = replyLines();
  await banner();
  await sleep(500);
  assert.equal(replyLines(), n, 'no debug lines after untrace smtp');

  assert.equal((await smtpctl(spool(), ['pause', 'smtp'])).stdout, 'command succeeded\n');
  assert.match(await banner(), /^421 /);
  assert.equal((await smtpctl(spool(), ['resume', 'smtp'])).stdout, 'command succeeded\n');
  assert.match(await banner(), /^220 /);
  assert.equal((await smtpctl(spool(), ['update', 'table', 'extra'])).stdout, 'command succeeded\n');
  const bad = await smtpctl(spool(), ['update', 'table', 'nosuch']);
  assert.equal(bad.stdout, 'command failed: cannot update table nosuch\n');
  assert.equal(bad.code, 1);
});

async function waitFor(pred: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (pred()) return;
    await sleep(100);
  }
  assert.fail(`${what}\n${d.describe()}`);
}

test('remove, then show queue with the daemon stopped reads the spool (runstate offline)', { timeout: 60_000 }, async () => {
  const [a, b] = await queue();
  assert.ok(a && b);
  assert.equal((await smtpctl(spool(), ['remove', a.evpid.slice(0, 8)])).stdout, '1 envelope removed\n');
  assert.deepEqual((await queue()).map((e) => e.evpid), [b.evpid]);
  const stop = await d.stop();
  assert.equal(stop.code, 0, d.describe());
  const down = await smtpctl(spool(), ['show', 'status']);
  assert.equal(down.code, 1);
  assert.match(down.stderr, /smtpd doesn't seem to be running/);
  const off = await smtpctl(spool(), ['show', 'queue']);
  assert.equal(off.code, 0, off.stderr);
  const rows = parseQueue(off.stdout);
  assert.equal(rows.length, 1);
  assert.equal(rows[0]!.evpid, b.evpid);
  assert.equal(rows[0]!.runstate, 'offline');
  assert.equal(rows[0]!.delay, '');
  assert.equal(rows[0]!.retry, b.retry);
  assert.equal(rows[0]!.sender, 'postmaster@client.test');
  assert.equal(rows[0]!.errorline, 'try later');
});
