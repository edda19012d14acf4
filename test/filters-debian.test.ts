// End-to-end: the filters Debian packages (opensmtpd-filter-dkimsign, -senderscore, -rspamd) run
// unchanged against tsmtpd. dkimsign signs with a key made here and the signature is verified by
// Python's dkimpy; senderscore is reached over ::1 (it skips its DNS query for IPv6 clients, so
// nothing leaves this machine) and passes the message through its data-line phase; rspamd with no
// rspamd daemon reachable answers 421, and no message is accepted (fail closed).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort, startDaemon, type Daemon } from './lib/daemon.js';
import { deliverableUser, uniqueTag, userMaildir } from './lib/conf.js';
import { header, readMailbox, waitForMessage } from './lib/python.js';
import { python3, swaksBin } from './lib/paths.js';
import { run } from './lib/proc.js';
import { makeSharedDir, makeTestDir, removeTestDir } from './lib/tmp.js';

const LIBEXEC = '/usr/libexec/opensmtpd';
const have = ['filter-dkimsign', 'filter-senderscore', 'filter-rspamd'].every((f) => existsSync(path.join(LIBEXEC, f)));
const dir = makeTestDir('fdebian');
makeSharedDir(`${dir}/mail`);
const user = await deliverableUser('tsmtpd-f3');
const rcpt = `${user}@localhost`;
const key = path.join(dir, 'dkim.key');
let d: Daemon;
const v6Port = await freePort();
const rspamdPort = await freePort();
const closedPort = await freePort(); // nothing listens there: rspamd is unreachable

before(async () => {
  if (!have) return;
  const g = await run('openssl', ['genrsa', '-out', key, '2048'], { timeoutMs: 30_000 });
  assert.equal(g.code, 0, g.stderr);
  await run('chmod', ['0644', key]); // the filter runs as an unprivileged user
  d = await startDaemon({
    dir,
    config: (ctx) => [
      `filter "dkim" proc-exec "filter-dkimsign -d example.test -s tsel -k ${key}"`,
      'filter "score" proc-exec "filter-senderscore -blockBelow 10 -junkBelow 70 -scoreHeader"',
      `filter "rspamd" proc-exec "filter-rspamd -url http://127.0.0.1:${closedPort}"`,
      `listen on 127.0.0.1 port ${ctx.port} filter "dkim"`,
      `listen on ::1 port ${v6Port} filter "score"`,
      `listen on 127.0.0.1 port ${rspamdPort} filter "rspamd"`,
      `action "local" maildir "${ctx.dir}/mail/%{user.username}/Maildir"`,
      'match from any for local action "local"',
    ].join('\n') + '\n',
  });
});
after(async () => {
  await d?.stop();
  removeTestDir(dir);
});

function swaks(port: number, subject: string): Promise<{ out: string }> {
  return run(swaksBin, [
    '--server', `127.0.0.1:${port}`, '--timeout', '15', '--helo', 'client.test', '--from', 'author@example.test', '--to', rcpt,
    '--header', 'From: <author@example.test>', '--header', `Subject: ${subject}`, '--body', 'signed by filter-dkimsign',
  ], { timeoutMs: 30_000 }).then((r) => ({ out: r.stdout + r.stderr }));
}

test('the three filters start and register', { skip: !have && 'opensmtpd-filter-* not installed' }, async () => {
  // The log is written asynchronously: wait (bounded) for the three lines.
  const ready = (f: string) => new RegExp(`filter ready filter=${f} `).test(d.output());
  for (let i = 0; i < 50 && !['dkim', 'score', 'rspamd'].every(ready); i++) await new Promise((r) => setTimeout(r, 100));
  for (const f of ['dkim', 'score', 'rspamd']) assert.ok(ready(f), `${f} not ready\n${d.describe()}`);
});

test('filter-dkimsign: the stored message carries a DKIM-Signature that dkimpy verifies', { skip: !have && 'not installed' }, async () => {
  const subject = uniqueTag('dkim');
  const r = await swaks(d.port, subject);
  assert.match(r.out, /<- {2}250 2\.0\.0 \w+ Message accepted/, `${r.out}\n${d.describe()}`);
  const m = await waitForMessage('maildir', userMaildir(dir, user), (x) => header(x, 'subject') === subject);
  assert.ok(m, d.describe());
  assert.match(header(m, 'dkim-signature') ?? '', /d=example\.test;/);
  const pub = await run('openssl', ['rsa', '-in', key, '-pubout'], { timeoutMs: 10_000 });
  const p = pub.stdout.split('\n').filter((l) => l && !l.startsWith('-----')).join('');
  const file = path.join(dir, 'signed.eml');
  writeFileSync(file, m.raw);
  const script = 'import dkim,sys\nraw=open(sys.argv[1],"rb").read()\nrec=("v=DKIM1; k=rsa; p="+sys.argv[2]).encode()\nprint("PASS" if dkim.verify(raw, dnsfunc=lambda n, timeout=5: rec) else "FAIL")\n';
  const v = await run(python3, ['-c', script, file, p], { timeoutMs: 30_000 });
  assert.equal(v.stdout.trim(), 'PASS', v.stderr + readFileSync(file, 'utf8'));
});

test('filter-senderscore: an IPv6 client (no score lookup) passes its phases and data-line', { skip: !have && 'not installed' }, async () => {
  const subject = uniqueTag('score');
  const script = 'import smtplib,sys\ns=smtplib.SMTP("::1",int(sys.argv[1]),timeout=20)\ns.ehlo("v6.client.test")\nprint(s.sendmail("author@example.test",[sys.argv[2]],("Subject: "+sys.argv[3]+"\\r\\n\\r\\nscore test\\r\\n").encode()))\ns.quit()\n';
  const r = await run(python3, ['-c', script, String(v6Port), rcpt, subject], { timeoutMs: 40_000 });
  assert.equal(r.code, 0, r.stderr + d.describe());
  const m = await waitForMessage('maildir', userMaildir(dir, user), (x) => header(x, 'subject') === subject);
  assert.ok(m, d.describe());
  assert.equal(m.body.toString(), 'score test\n');
});

test('filter-rspamd without a reachable rspamd: 421, nothing accepted, the daemon keeps serving', { skip: !have && 'not installed' }, async () => {
  const subject = uniqueTag('rspamd');
  const r = await swaks(rspamdPort, subject);
  assert.match(r.out, /<\*\* +421 /, r.out);
  assert.doesNotMatch(r.out, /Message accepted/);
  await new Promise((res) => setTimeout(res, 500));
  assert.ok(!(await readMailbox('maildir', userMaildir(dir, user))).some((x) => header(x, 'subject') === subject));
  const after = uniqueTag('dkim-after');
  assert.match((await swaks(d.port, after)).out, /Message accepted/);
});
