// End-to-end relaying: the daemon resolves MX records through dnsmasq on loopback and relays to
// independent receivers on port 25 of 127.0.0.21-25 (aiosmtpd, a second tsmtpd): MX preference with
// the best MX down, the implicit MX, NXDOMAIN and the null MX (permanent), a refused DNS query
// (temporary), one transaction for three recipients with one refused, `relay backup`, SRS for
// forwarded mail and the bounce back through the SRS address.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startDaemon, type Daemon } from './lib/daemon.js';
import { buildMessage, uniqueTag, deliverableUser } from './lib/conf.js';
import { startDnsmasq, type Dnsmasq } from './lib/dnsmasq.js';
import { header, showReply, smtpSession, transaction, waitForMessage } from './lib/python.js';
import { waitFor } from './lib/proc.js';
import { startReceiver, type PyReceiver } from './lib/smtp-sink.js';
import { field, readBounces } from './lib/bounces.js';
import { makeSharedDir, makeTestDir, removeTestDir } from './lib/tmp.js';

const dir = makeTestDir('relay');
// Deliveries run as the recipient and never as root (privilege separation): a test user when root.
const me = await deliverableUser('tsmtpd-e4');
makeSharedDir(path.join(dir, 'local'));
makeSharedDir(path.join(dir, 'inbound'));

let dns: Dnsmasq;
let sender: Daemon;
let inbound: Daemon;
const rx: Record<string, PyReceiver> = {};

const ZONE = {
  mx: [
    ['a.test', 'mx1.a.test', 10], ['a.test', 'mx2.a.test', 20],
    ['nullmx.test', '.', 0],
    ['rcpt.test', 'mx.rcpt.test', 10],
    ['tsmtpd.test', 'mx.tsmtpd.test', 10],
    ['backup.test', 'primary.backup.test', 10], ['backup.test', 'backup.backup.test', 20], ['backup.test', 'worse.backup.test', 30],
    ['origin.test', 'mx.origin.test', 10], ['srs.test', 'mx.srs.test', 10],
  ] as [string, string, number][],
  hosts: [
    ['mx1.a.test', '127.0.0.21'], ['mx2.a.test', '127.0.0.22'], ['implicit.test', '127.0.0.22'], ['mx.rcpt.test', '127.0.0.22'],
    ['mx.origin.test', '127.0.0.22'], ['mx.srs.test', '127.0.0.22'], ['mx.tsmtpd.test', '127.0.0.23'],
    ['primary.backup.test', '127.0.0.24'], ['worse.backup.test', '127.0.0.25'],
  ] as [string, string][],
};

before(async () => {
  dns = await startDnsmasq(dir, ZONE);
  for (const ip of ['127.0.0.22', '127.0.0.24', '127.0.0.25']) {
    rx[ip] = await startReceiver(path.join(dir, 'rx'), { host: ip, port: 25, rcpt_replies: { 'bad@': '550 5.1.1 No such user here' } });
  }
  // A second tsmtpd: mail for tsmtpd.test goes to its maildir.
  mkdirSync(path.join(dir, 'inbound-home'));
  inbound = await startDaemon({
    dir: path.join(dir, 'inbound-home'),
    spool: path.join(dir, 'inbound-spool'),
    config: (ctx) => [
      `listen on 127.0.0.1 port ${ctx.port}`, 'listen on 127.0.0.23 port 25',
      `action "local" maildir "${dir}/inbound/%{user.username}/Maildir"`,
      'match from any for domain "tsmtpd.test" action "local"',
    ].join('\n') + '\n',
  });
  const aliases = path.join(dir, 'aliases');
  writeFileSync(aliases, 'alice: friend@srs.test\n');
  sender = await startDaemon({
    dir,
    env: { SMTPD_NAMESERVERS: dns.server },
    config: (ctx) => [
      'srs key "test-srs-secret"',
      // Several test domains share one receiver address: a second route to it need not wait 5 s.
      'mta limit conn-delay-route 1',
      `listen on 127.0.0.1 port ${ctx.port}`,
      `table aliases file:${aliases}`,
      `action "local" maildir "${dir}/local/%{user.username}/Maildir" alias <aliases>`,
      'action "out" relay',
      'action "fwd" relay srs',
      'action "backup" relay backup mx "backup.backup.test"',
      'match from any for domain "backup.test" action "backup"',
      'match from any for domain "fwd.test" action "local"',
      'match from local for any action "fwd"',
      'match from any for any action "out"',
    ].join('\n') + '\n',
  });
});

after(async () => {
  await sender?.stop();
  await inbound?.stop();
  for (const r of Object.values(rx)) await r.stop();
  await dns?.stop();
  removeTestDir(dir);
});

async function send(from: string, to: string[], subject: string, body = 'relayed'): Promise<void> {
  const s = await smtpSession(sender.port, [{ op: 'ehlo' }, ...transaction(from, to, buildMessage([`Subject: ${subject}`, `From: <${from || 'mailer-daemon@fwd.test'}>`], [body])), { op: 'quit' }]);
  const data = s.replies[s.replies.length - 2];
  assert.equal(data?.code, 250, s.replies.map(showReply).join('\n'));
}

/** The daemon's log lines matching `re`, once there are `n` of them. */
async function logLines(d: Daemon, re: RegExp, n = 1, ms = 20_000): Promise<string[]> {
  const found = await waitFor(() => {
    const lines = d.output().split('\n').filter((l) => re.test(l));
    return lines.length >= n ? lines : undefined;
  }, ms);
  assert.ok(found, `no ${n} log line(s) matching ${re}\n${d.describe()}`);
  return found;
}

function received(r: PyReceiver, subject: string) {
  return waitFor(() => r.messages().find((m) => Buffer.from(m.data, 'base64').toString('utf8').includes(`Subject: ${subject}`)), 20_000);
}

test('MX preference: the best MX is down, the mail goes to the next one', { timeout: 60_000 }, async () => {
  const tag = uniqueTag('mx');
  await send('bob@client.test', ['user@a.test'], tag);
  const m = await received(rx['127.0.0.22']!, tag);
  assert.ok(m, `not received by mx2\n${sender.describe()}`);
  assert.deepEqual(m.rcpts, ['user@a.test']);
  assert.equal(m.mail_from, 'bob@client.test');
  const [line] = await logLines(sender, /mta: delivery .*to=<user@a\.test>.*result=Ok/);
  const out = sender.output();
  const first = out.indexOf('mta: connecting address=smtp://127.0.0.21:25 host=mx1.a.test');
  const second = out.indexOf('mta: connecting address=smtp://127.0.0.22:25 host=mx2.a.test');
  assert.ok(first >= 0 && second > first, `mx1 first, then mx2\n${sender.describe()}`);
  assert.match(line!, /relay="mx2\.a\.test \[127\.0\.0\.22\]"/);
});

test('no MX: the domain itself is the implicit MX', { timeout: 60_000 }, async () => {
  const tag = uniqueTag('implicit');
  await send('bob@client.test', ['someone@implicit.test'], tag);
  assert.ok(await received(rx['127.0.0.22']!, tag), sender.describe());
});

test('NXDOMAIN and a null MX fail permanently and are reported to the sender; a refused query temporarily', { timeout: 60_000 }, async () => {
  const from = `${me}@fwd.test`;
  const nxTag = uniqueTag('nx');
  const nullTag = uniqueTag('nullmx');
  await send(from, ['u@nowhere.test'], nxTag);
  await send(from, ['u@nullmx.test'], nullTag);
  await send('bob@client.test', ['u@elsewhere.invalid'], uniqueTag('refused'));
  const [nx] = await logLines(sender, /mta: delivery .*to=<u@nowhere\.test>/);
  assert.match(nx!, /result=PermFail stat="5\.1\.2 Domain does not exist"/);
  const [nullmx] = await logLines(sender, /mta: delivery .*to=<u@nullmx\.test>/);
  assert.match(nullmx!, /result=PermFail stat="5\.1\.10 Domain does not accept mail"/);
  const [refused] = await logLines(sender, /mta: delivery .*to=<u@elsewhere\.invalid>/);
  assert.match(refused!, /result=TempFail stat="4\.4\.3 Temporary failure in MX lookup/);
  // The reports, read back by Python's email package from the sender's own maildir.
  const box = path.join(dir, 'local', me, 'Maildir');
  const reports = await waitFor(async () => {
    const got = await readBounces(box);
    const of = (t: string) => got.find((d) => d.returned_headers['Subject'] === t);
    return of(nxTag) && of(nullTag) ? { nx: of(nxTag)!, nullmx: of(nullTag)! } : undefined;
  }, 20_000, 250);
  assert.ok(reports, `no reports in ${box}\n${sender.describe()}`);
  for (const [d, status, rcpt] of [[reports.nx, '5.1.2', 'u@nowhere.test'], [reports.nullmx, '5.1.10', 'u@nullmx.test']] as const) {
    assert.equal(d.content_type, 'multipart/report');
    const r = d.status_recipients[0];
    assert.equal(field(r, 'Action'), 'failed');
    assert.equal(field(r, 'Status'), status);
    assert.match(field(r, 'Final-Recipient') ?? '', new RegExp(`rfc822;\\s*${rcpt.replace('.', '\\.')}`));
    assert.match(field(r, 'Diagnostic-Code') ?? '', /Domain does not/);
  }
});

test('three recipients, one refused: one transaction delivers two, the third fails permanently', { timeout: 60_000 }, async () => {
  const tag = uniqueTag('rcpt');
  await send('bob@client.test', ['one@rcpt.test', 'bad@rcpt.test', 'three@rcpt.test'], tag);
  const m = await received(rx['127.0.0.22']!, tag);
  assert.ok(m, sender.describe());
  assert.deepEqual(m.rcpts, ['one@rcpt.test', 'three@rcpt.test']);
  assert.equal(rx['127.0.0.22']!.messages().filter((x) => Buffer.from(x.data, 'base64').toString().includes(tag)).length, 1, 'one transaction');
  const [bad] = await logLines(sender, /mta: delivery .*to=<bad@rcpt\.test>/);
  assert.match(bad!, /result=PermFail stat="550 5\.1\.1 No such user here"/);
  assert.equal((await logLines(sender, /mta: delivery .*to=<(one|three)@rcpt\.test>.*result=Ok/, 2)).length, 2);
});

test('relay to a second tsmtpd, which delivers to its maildir', { timeout: 60_000 }, async () => {
  const tag = uniqueTag('tsmtpd');
  await send('bob@client.test', [`${me}@tsmtpd.test`], tag, 'through two tsmtpd');
  const box = `${dir}/inbound/${me}/Maildir`;
  // Python's mailbox fails on a maildir caught half made: wait for its three directories.
  await waitFor(() => (['new', 'cur', 'tmp'].every((d) => existsSync(`${box}/${d}`)) ? true : undefined), 30_000);
  const m = await waitForMessage('maildir', box, (x) => header(x, 'Subject') === tag, 30_000);
  assert.ok(m, `not delivered\n--- sender\n${sender.describe()}\n--- inbound\n${inbound.describe()}`);
  assert.equal(m.body.toString(), 'through two tsmtpd\n');
  assert.equal(header(m, 'Return-Path'), '<bob@client.test>');
});

test('relay backup: only the MX better than ours is used', { timeout: 60_000 }, async () => {
  const tag = uniqueTag('backup');
  await send('bob@client.test', ['u@backup.test'], tag);
  assert.ok(await received(rx['127.0.0.24']!, tag), sender.describe());
  assert.equal(rx['127.0.0.25']!.messages().length, 0, 'the worse MX got nothing');
});

test('SRS: forwarded mail carries an SRS0 sender; a bounce to it goes back to the original sender', { timeout: 60_000 }, async () => {
  const tag = uniqueTag('srs');
  await send('bob@origin.test', ['alice@fwd.test'], tag);
  const fwd = await received(rx['127.0.0.22']!, tag);
  assert.ok(fwd, sender.describe());
  assert.deepEqual(fwd.rcpts, ['friend@srs.test']);
  assert.match(fwd.mail_from, /^SRS0=[A-Za-z0-9+/]{4}=[A-Z2-7]{2}=origin\.test=bob@fwd\.test$/);
  const bounceTag = uniqueTag('srs-bounce');
  await send('', [fwd.mail_from], bounceTag);
  const back = await received(rx['127.0.0.22']!, bounceTag);
  assert.ok(back, sender.describe());
  assert.deepEqual(back.rcpts, ['bob@origin.test']);
  assert.equal(back.mail_from, '<>', 'aiosmtpd records the null sender as <>');
});
