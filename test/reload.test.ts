// Reload end to end (SIGHUP and `smtpctl reload`), on a daemon started as a user would (as root: the
// privileged process gets the SIGHUP and binds the new listener). Under load from Postfix's
// smtp-source the file changes (an alias table, a new rule, a listener added on 127.0.9.3 and one
// removed on 127.0.9.2); two sessions opened before the reload (Python smtplib, MAIL and RCPT
// before, DATA after) complete under their old rules; every message smtp-source had a 250 for is
// in the maildir. Then an invalid file changes nothing (file:line: errors in the log and from
// smtpctl, which exits 1), and an action removed with an envelope queued for it makes a bounce
// that names the action, read back with Python's email package; certificates rewritten in place are
// presented after a reload by the kept listener (openssl s_client); a builtin filter added applies
// to new sessions only; the one-process daemon reloads
// the same way. Addresses: 127.0.9.2-3.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { startDaemon, type Daemon, type ConfigContext } from './lib/daemon.js';
import { buildMessage, deliverableUser, userMaildir } from './lib/conf.js';
import { countMaildir, waitMaildirs } from './lib/maildir.js';
import { header, readMailbox, type SmtpReply } from './lib/python.js';
import { HeldSession } from './lib/held.js';
import { readBounces } from './lib/bounces.js';
import { describeRun, run, sleep, waitFor } from './lib/proc.js';
import { smtpSourceBin, pyDir, python3 } from './lib/paths.js';
import { smtpctl } from './lib/smtpctl.js';
import { makeTestPki } from './lib/pki.js';
import { chainSubjects, sClient } from './lib/tls-clients.js';
import { makeSharedDir, makeTestDir, removeTestDir } from './lib/tmp.js';

const skip = existsSync(smtpSourceBin) ? false : `${smtpSourceBin} missing: run scripts/peers-install.sh (as .ci/run does)`;
const REMOVED = '127.0.9.2';
const ADDED = '127.0.9.3';
const LOAD = 1000;
const dir = makeTestDir('reload');
makeSharedDir(`${dir}/mail`);
const loadUser = await deliverableUser('tsmtpd-e3');
const user = await deliverableUser('tsmtpd-e4');
const loadBox = userMaildir(dir, loadUser);
const box = userMaildir(dir, user);
const aliases = path.join(dir, 'aliases');
let d: Daemon | undefined;
let port = 0;

interface Version {
  listeners: string[];
  aliases: Record<string, string>;
  rules: string[];
  doomed: boolean;
  broken?: boolean;
  /** STARTTLS on the harness's listener with pki `srv` (DIR/srv.pem, DIR/srv.key). */
  tls?: boolean;
  /** The builtin filter "spam" (MAIL FROM matching "spam" refused) on the harness's listener. */
  filter?: boolean;
}

function configText(ctx: ConfigContext, v: Version): string {
  writeFileSync(aliases, Object.entries(v.aliases).map(([k, t]) => `${k}: ${t}\n`).join(''));
  return [
    ...(v.tls ? [`pki srv cert "${ctx.dir}/srv.pem"`, `pki srv key "${ctx.dir}/srv.key"`] : []),
    ...(v.filter ? ['table spamfrom { "spam" }', 'filter "spam" phase mail-from match mail-from regex <spamfrom> reject "550 5.7.1 Sender refused"'] : []),
    ...v.listeners.map((a) => `listen on ${a} port ${ctx.port}${v.tls && a === '127.0.0.1' ? ' tls pki srv' : ''}${v.filter && a === '127.0.0.1' ? ' filter "spam"' : ''}`),
    `table aliases file:${aliases}`,
    `action "local" maildir "${ctx.dir}/mail/%{user.username}/Maildir" alias <aliases>`,
    ...(v.doomed ? [`action "doomed" maildir "${ctx.dir}/mail/%{user.username}/Doomed"`, 'match from any for domain "doomed.test" action "doomed"'] : []),
    ...v.rules,
    ...(v.broken ? ['match from any for nowhere at all'] : []),
    'match from any for local action "local"',
  ].join('\n') + '\n';
}

const v1: Version = { listeners: ['127.0.0.1', REMOVED], aliases: { old: user, old2: user }, rules: [], doomed: true };
const v2: Version = { listeners: ['127.0.0.1', ADDED], aliases: { fresh: user }, rules: ['match from any for domain "new.test" action "local"'], doomed: true };

/** Rewrite the configuration in place (the daemon's -f file). */
function rewrite(v: Version): void {
  assert.ok(d);
  writeFileSync(d.confPath, configText({ port, dir }, v));
}

async function session(host: string, steps: unknown[]): Promise<SmtpReply[]> {
  const r = await run(python3, [path.join(pyDir, 'smtp_session.py'), host, String(port), '15'], { input: JSON.stringify(steps), timeoutMs: 30_000 });
  assert.equal(r.code, 0, describeRun('smtp_session.py', r));
  return (JSON.parse(r.stdout) as { replies: SmtpReply[] }).replies;
}

function message(subject: string): string {
  return buildMessage([`Subject: ${subject}`, 'From: x@client.test'], ['reload test']).toString('base64');
}

const send = (host: string, rcpt: string, subject: string, from = 'x@client.test') =>
  session(host, [{ op: 'ehlo' }, { op: 'mail', addr: from }, { op: 'rcpt', addr: rcpt }, { op: 'data', b64: message(subject) }, { op: 'quit' }]);

function refused(host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, host);
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

/** Waits for the n-th `reloaded` line (or a refusal) in the daemon's log. */
async function reloadLine(n: number, what = 'smtpd: reloaded'): Promise<string> {
  const found = await waitFor(() => {
    const lines = (d?.output() ?? '').split('\n').filter((l) => l.includes(what));
    return lines.length >= n ? lines[n - 1] : undefined;
  }, 20_000);
  assert.ok(found !== undefined, `no ${what} line #${n}\n${d?.describe()}`);
  return found;
}

before(async () => {
  if (skip !== false) return;
  d = await startDaemon({ dir, config: (ctx) => configText(ctx, v1) });
  port = d.port;
});
after(async () => {
  await d?.stop();
  removeTestDir(dir);
});

test('reload under load: alias, rule and listeners change; held sessions finish; nothing acknowledged is lost', { skip, timeout: 180_000 }, async () => {
  assert.ok(d);
  const before = await session('127.0.0.1', [{ op: 'ehlo' }, { op: 'mail', addr: 'x@client.test' }, { op: 'rcpt', addr: `${user}@new.test` }, { op: 'quit' }]);
  assert.equal(before[2]?.code, 550, 'new.test has no rule yet');
  const transaction = [{ op: 'ehlo' as const }, { op: 'mail' as const, addr: 'x@client.test' }, { op: 'rcpt' as const, addr: 'old@localhost' }];
  const kept = await HeldSession.open('127.0.0.1', port);
  const gone = await HeldSession.open(REMOVED, port);
  try {
    assert.equal(kept.banner.code, 220);
    assert.equal(gone.banner.code, 220);
    assert.deepEqual((await kept.session.run(transaction)).map((r) => r.code), [250, 250, 250]);
    assert.deepEqual((await gone.session.run(transaction)).map((r) => r.code), [250, 250, 250]);
    const load = run(smtpSourceBin, ['-s', '4', '-m', String(LOAD), '-l', '1024', '-M', 'client.test', '-f', 'load@client.test', '-t', `${loadUser}@localhost`, `127.0.0.1:${port}`], { timeoutMs: 150_000 });
    let loadOver = false;
    void load.then(() => { loadOver = true; });
    await waitMaildirs([loadBox], 20, 60_000);
    rewrite(v2);
    process.kill(d.pid, 'SIGHUP');
    const line = await reloadLine(1);
    assert.match(line, new RegExp(`listeners-added=${ADDED}:${port} listeners-removed=${REMOVED}:${port} rules=3 tables-reloaded=aliases`));
    assert.ok(!loadOver && countMaildir(loadBox) < LOAD, 'the load was over before the reload: nothing was tested under load');
    // The sessions opened before: a second RCPT under the old aliases (old2 is gone now), then DATA.
    const k = await kept.session.run([{ op: 'rcpt', addr: 'old2@localhost' }, { op: 'data', b64: message('held-kept') }]);
    assert.deepEqual(k.map((r) => r.code), [250, 250], JSON.stringify(k));
    const g = await gone.session.run([{ op: 'data', b64: message('held-removed') }]);
    assert.deepEqual(g.map((r) => r.code), [250], JSON.stringify(g));
    // New sessions: the old alias is gone, the new one and the new rule work, on the new listener.
    const old2 = await session('127.0.0.1', [{ op: 'ehlo' }, { op: 'mail', addr: 'x@client.test' }, { op: 'rcpt', addr: 'old2@localhost' }, { op: 'quit' }]);
    assert.ok((old2[2]?.code ?? 0) >= 500, `old2 still accepted after the reload: ${JSON.stringify(old2)}`);
    assert.equal((await send(ADDED, 'fresh@localhost', 'fresh-alias'))[3]?.code, 250);
    assert.equal((await send('127.0.0.1', `${user}@new.test`, 'new-rule'))[3]?.code, 250);
    assert.ok(await refused(REMOVED), 'the removed listener still accepts connections');
    const r = await load;
    assert.equal(r.code, 0, describeRun('smtp-source', r) + '\n' + d.describe());
    assert.doesNotMatch(r.stdout + r.stderr, /error|fatal|warning/i, describeRun('smtp-source', r));
  } finally {
    await kept.session.close();
    await gone.session.close();
  }
  const [n] = await waitMaildirs([loadBox], LOAD, 90_000);
  await sleep(300);
  assert.equal(countMaildir(loadBox), LOAD, `load maildir holds ${n}, expected ${LOAD}\n${d.describe()}`);
  assert.equal((await readMailbox('maildir', loadBox)).length, LOAD);
  const want = ['held-kept', 'held-removed', 'fresh-alias', 'new-rule'];
  await waitFor(async () => {
    const subjects = new Set((await readMailbox('maildir', box)).map((m) => header(m, 'Subject')));
    return want.every((s) => subjects.has(s)) ? true : undefined;
  }, 30_000, 300);
  const subjects = (await readMailbox('maildir', box)).map((m) => header(m, 'Subject'));
  for (const s of want) assert.ok(subjects.includes(s), `${s} not delivered; got ${subjects.join(',')}\n${d.describe()}`);
});

test('an invalid file changes nothing: file:line: in the log and from smtpctl reload (exit 1)', { skip, timeout: 60_000 }, async () => {
  assert.ok(d);
  rewrite({ ...v2, broken: true });
  const conf = readFileSync(d.confPath, 'utf8').split('\n');
  const badLine = conf.findIndex((l) => l.includes('nowhere at all')) + 1;
  const r = await smtpctl(d.spool, ['reload']);
  assert.equal(r.code, 1, describeRun('smtpctl reload', r));
  assert.ok(r.stderr.includes(`${d.confPath}:${badLine}: `), describeRun('smtpctl reload', r));
  assert.ok((await reloadLine(1, 'reload refused error=')).includes(`${d.confPath}:${badLine}: `));
  process.kill(d.pid, 'SIGHUP');
  await reloadLine(2, 'reload refused error=');
  assert.ok(d.isRunning());
  // Still the running configuration: the listener it added answers, its alias delivers.
  assert.equal((await send(ADDED, 'fresh@localhost', 'after-invalid'))[3]?.code, 250);
  assert.ok(await refused(REMOVED));
  assert.ok(await waitFor(async () => ((await readMailbox('maildir', box)).some((m) => header(m, 'Subject') === 'after-invalid') ? true : undefined), 20_000, 300));
  rewrite(v2); // valid again for the next test
});

test('an action removed by a reload with an envelope queued for it: a bounce naming the action', { skip, timeout: 90_000 }, async () => {
  assert.ok(d);
  const p = await smtpctl(d.spool, ['pause', 'mda']);
  assert.equal(p.code, 0, describeRun('smtpctl pause mda', p));
  assert.equal((await send('127.0.0.1', `${user}@doomed.test`, 'doomed-msg', `${user}@localhost`))[3]?.code, 250);
  rewrite({ ...v2, doomed: false });
  const r = await smtpctl(d.spool, ['reload']);
  assert.equal(r.code, 0, describeRun('smtpctl reload', r));
  assert.match(r.stdout, /actions-removed=doomed/);
  assert.equal((await smtpctl(d.spool, ['resume', 'mda'])).code, 0);
  await smtpctl(d.spool, ['schedule', 'all']);
  const found = await waitFor(async () => {
    const bounces = await readBounces(box);
    return bounces.find((b) => b.text.includes('action "doomed"') || JSON.stringify(b.status_recipients).includes('action \\"doomed\\"'));
  }, 40_000, 500);
  assert.ok(found, `no bounce naming the action\n${d.describe()}`);
  assert.equal(found.report_type, 'delivery-status');
  assert.match(JSON.stringify(found.status_recipients), /5\.3\.0/);
  assert.ok(!existsSync(path.join(dir, 'mail', user, 'Doomed')), 'the removed action delivered');
});

test('certificates are read again: a kept listener presents the new one, without a rebind', { skip, timeout: 90_000 }, async () => {
  assert.ok(d);
  const pkiDir = path.join(dir, 'pki');
  mkdirSync(pkiDir);
  const pki = makeTestPki(pkiDir, ['a.reload.test', 'b.reload.test'], 'self.reload.test');
  const install = (name: string): void => {
    copyFileSync(pki.servers[name]!.certFile, path.join(dir, 'srv.pem'));
    copyFileSync(pki.servers[name]!.keyFile, path.join(dir, 'srv.key'));
    chmodSync(path.join(dir, 'srv.key'), 0o600);
  };
  const subject = async (): Promise<string[]> => {
    const r = await sClient('127.0.0.1', port, ['-CAfile', pki.caFile, '-servername', 'a.reload.test']);
    return chainSubjects(r.stdout);
  };
  install('a.reload.test');
  rewrite({ ...v2, doomed: false, tls: true });
  const a = await smtpctl(d.spool, ['reload']);
  assert.equal(a.code, 0, describeRun('smtpctl reload', a));
  assert.match((await subject())[0] ?? '', /CN ?= ?a\.reload\.test/);
  install('b.reload.test');
  const b = await smtpctl(d.spool, ['reload']);
  assert.equal(b.code, 0, describeRun('smtpctl reload', b));
  assert.match(b.stdout, /listeners-added=none listeners-removed=none/);
  assert.match((await subject())[0] ?? '', /CN ?= ?b\.reload\.test/, d.describe());
});

test('filters change for new sessions; a session connected before keeps its (none)', { skip, timeout: 60_000 }, async () => {
  assert.ok(d);
  const mailSpam = [{ op: 'ehlo' }, { op: 'mail', addr: 'spam@client.test' }, { op: 'quit' }];
  assert.equal((await session('127.0.0.1', mailSpam))[1]?.code, 250, 'no filter yet');
  const held = await HeldSession.open('127.0.0.1', port);
  try {
    assert.equal((await held.session.run([{ op: 'ehlo' }]))[0]?.code, 250);
    rewrite({ ...v2, doomed: false, filter: true });
    const r = await smtpctl(d.spool, ['reload']);
    assert.equal(r.code, 0, describeRun('smtpctl reload', r));
    assert.match(r.stdout, /filters restarted/);
    const refusedNow = await session('127.0.0.1', mailSpam);
    assert.equal(refusedNow[1]?.code, 550, JSON.stringify(refusedNow));
    assert.match(refusedNow[1]?.text ?? '', /Sender refused/);
    const h = await held.session.run([{ op: 'mail', addr: 'spam@client.test' }, { op: 'rcpt', addr: 'fresh@localhost' }, { op: 'data', b64: message('held-filter') }]);
    assert.deepEqual(h.map((x) => x.code), [250, 250, 250], JSON.stringify(h));
  } finally {
    await held.session.close();
  }
  rewrite({ ...v2, doomed: false });
  assert.equal((await smtpctl(d.spool, ['reload'])).code, 0);
  assert.equal((await session('127.0.0.1', mailSpam))[1]?.code, 250, 'the filter stays after its removal');
});

test('one process (--user root, or an ordinary user): SIGHUP opens and closes listeners the same way', { skip, timeout: 60_000 }, async () => {
  const one = makeTestDir('reload-one');
  makeSharedDir(`${one}/mail`);
  const base = (ctx: ConfigContext, extra: string) => [`listen on 127.0.0.1 port ${ctx.port}`, extra, `action "local" maildir "${ctx.dir}/mail/%{user.username}/Maildir"`, 'match from any for local action "local"'].join('\n') + '\n';
  const args = process.getuid?.() === 0 ? ['--user', 'root'] : [];
  const solo = await startDaemon({ dir: one, config: (ctx) => base(ctx, `listen on ${REMOVED} port ${ctx.port}`), extraArgs: args });
  try {
    writeFileSync(solo.confPath, base({ port: solo.port, dir: one }, `listen on ${ADDED} port ${solo.port}`));
    process.kill(solo.pid, 'SIGHUP');
    await waitFor(() => (solo.output().includes('smtpd: reloaded') ? true : undefined), 20_000);
    assert.match(solo.output(), new RegExp(`listeners-added=${ADDED}:${solo.port} listeners-removed=${REMOVED}:${solo.port}`), solo.describe());
    const banner = await new Promise<string>((resolve) => {
      const s = net.connect(solo.port, ADDED);
      s.once('data', (b) => {
        resolve(b.toString());
        s.destroy();
      });
      s.once('error', (e) => resolve(String(e)));
    });
    assert.match(banner, /^220 /);
    const gone = await new Promise<boolean>((resolve) => {
      const s = net.connect(solo.port, REMOVED);
      s.once('connect', () => (s.destroy(), resolve(false)));
      s.once('error', () => resolve(true));
    });
    assert.ok(gone, 'the removed listener still accepts');
    const stopped = await solo.stop();
    assert.deepEqual([stopped.code, stopped.forced], [0, false], solo.describe());
  } finally {
    await solo.stop();
    removeTestDir(one);
  }
});

test('after its reloads the daemon still stops cleanly on SIGTERM (exit 0, no SIGKILL needed)', { skip, timeout: 30_000 }, async () => {
  assert.ok(d);
  const stopped = await d.stop(10_000);
  assert.deepEqual([stopped.code, stopped.forced], [0, false], d.describe());
});
