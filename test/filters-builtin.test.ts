// End-to-end: builtin filters (`filter NAME phase PHASE match CONDITION DECISION`) as real
// configurations write them — `src <table>` disconnect, `!rdns`, `!fcrdns`, regex tables, helo,
// mail-from, rcpt-to, bypass, junk, rewrite, report, data and commit phases — with rDNS/FCrDNS
// answered by dnsmasq on loopback (PTR records for addresses of this file's block 127.0.6.0/24).
// Clients are swaks bound to those source addresses; mail is read back by Python's mailbox.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startDaemon, type Daemon } from './lib/daemon.js';
import { deliverableUser, uniqueTag, userMaildir } from './lib/conf.js';
import { startDnsmasq, type Dnsmasq } from './lib/dnsmasq.js';
import { header, readMailbox, waitForMessage } from './lib/python.js';
import { pyDir, python3, swaksBin } from './lib/paths.js';
import { run } from './lib/proc.js';
import { makeSharedDir, makeTestDir, removeTestDir } from './lib/tmp.js';

const dir = makeTestDir('fbuiltin');
makeSharedDir(`${dir}/mail`);
const logs = makeSharedDir(`${dir}/logs`);
const user = await deliverableUser('tsmtpd-f2');
const rcpt = `${user}@localhost`;
const A = {
  good: '127.0.6.10', // good.client.test, forward-confirmed
  liar: '127.0.6.11', // PTR liar.client.test, no A record: FCrDNS fails
  none: '127.0.6.12', // no PTR at all
  dyn: '127.0.6.13', // pool-13.dyn.client.test, forward-confirmed: junk by regex
  trusted: '127.0.6.14', // no PTR, but bypassed by src
  blocked: '127.0.6.20', // blocked.client.test, forward-confirmed, refused by src table
};
let dns: Dnsmasq;
let d: Daemon;

before(async () => {
  dns = await startDnsmasq(dir, {
    hosts: [['good.client.test', A.good], ['pool-13.dyn.client.test', A.dyn], ['blocked.client.test', A.blocked]],
    ptrs: [[A.liar, 'liar.client.test']],
  });
  d = await startDaemon({
    dir,
    env: { SMTPD_NAMESERVERS: dns.server },
    config: (ctx) => [
      `table badsrc { ${A.blocked} }`,
      `table trusted { 127.0.0.1, ${A.trusted}/32 }`, // 127.0.0.1: the harness waits for the banner
      'table dyn { "^pool-[0-9]+[.]dyn[.]" }',
      'table badhelo { "bad.helo.test" }',
      'table spamfrom { "^[^@]*spam[^@]*@" }',
      'table rewritefrom { "old@example.test" }',
      'table datablock { "data-block@example.test" }',
      'table commitblock { "commit-block@example.test" }',
      `table noone { "nobody-here@localhost" }`,
      'filter "trusted" phase connect match src <trusted> bypass',
      'filter "badsrc" phase connect match src <badsrc> disconnect "550 5.7.1 Blocked source"',
      'filter "check_rdns" phase connect match !rdns disconnect "550 5.7.1 No rDNS"',
      'filter "check_fcrdns" phase connect match !fcrdns disconnect "550 5.7.1 FCrDNS failed"',
      'filter "dyn" phase connect match rdns regex <dyn> junk',
      'filter "helo" phase helo match helo <badhelo> reject "550 5.7.1 Bad HELO"',
      'filter "ehlo" phase ehlo match helo <badhelo> reject "550 5.7.1 Bad EHLO"',
      'filter "spam" phase mail-from match mail-from regex <spamfrom> reject "550 5.7.1 Sender refused"',
      'filter "rewrite" phase mail-from match mail-from <rewritefrom> rewrite "<new@example.test>"',
      'filter "noted" phase rcpt-to match rcpt-to <noone> reject "550 5.1.1 Nobody here (filter)"',
      'filter "note" phase mail-from match fcrdns report "client is forward-confirmed"',
      'filter "datab" phase data match mail-from <datablock> reject "554 5.7.1 Refused at DATA"',
      'filter "commitb" phase commit match mail-from <commitblock> reject "554 5.7.1 Refused at commit"',
      `filter "logger" proc-exec "${python3} ${path.join(pyDir, 'demo_filter.py')} --log ${logs}/logger.log"`,
      'filter "inbound" chain { "trusted", "badsrc", "check_rdns", "check_fcrdns", "dyn", "helo", "ehlo", "spam", "rewrite", "noted", "note", "datab", "commitb", "logger" }',
      `listen on 127.0.0.1 port ${ctx.port} filter "inbound"`,
      `action "local" maildir "${ctx.dir}/mail/%{user.username}/Maildir"`,
      'match from any for local action "local"',
    ].join('\n') + '\n',
  });
});
after(async () => {
  await d?.stop();
  await dns?.stop();
  removeTestDir(dir);
});

interface Swaks {
  code: number | null;
  out: string;
}

async function swaks(src: string, o: { from?: string; to?: string; helo?: string; subject: string; body?: string }): Promise<Swaks> {
  const r = await run(swaksBin, [
    '--server', `127.0.0.1:${d.port}`, '--local-interface', src, '--timeout', '15',
    '--helo', o.helo ?? 'client.test', '--from', o.from ?? 'someone@example.test', '--to', o.to ?? rcpt,
    '--header', `Subject: ${o.subject}`, '--body', o.body ?? 'builtin filter test',
  ], { timeoutMs: 30_000 });
  return { code: r.code, out: r.stdout + r.stderr };
}

function accepted(r: Swaks): void {
  assert.match(r.out, /<- {2}250 2\.0\.0 \w+ Message accepted/, `${r.out}\n${d.describe()}`);
}

async function storedSubjects(): Promise<string[]> {
  return (await readMailbox('maildir', userMaildir(dir, user))).map((m) => header(m, 'subject') ?? '');
}

test('a forward-confirmed client passes every connect rule', async () => {
  const subject = uniqueTag('good');
  accepted(await swaks(A.good, { subject }));
  const m = await waitForMessage('maildir', userMaildir(dir, user), (x) => header(x, 'subject') === subject);
  assert.ok(m);
  assert.match(header(m, 'received') ?? '', /good\.client\.test/, 'the rDNS lka found is the session\'s');
  assert.equal(header(m, 'x-spam'), undefined);
});

test('src <table> disconnect; !rdns and !fcrdns disconnect, each with its own reply', async () => {
  const cases: [string, RegExp][] = [
    [A.blocked, /<\*\* +550 5\.7\.1 Blocked source/],
    [A.none, /<\*\* +550 5\.7\.1 No rDNS/],
    [A.liar, /<\*\* +550 5\.7\.1 FCrDNS failed/],
  ];
  for (const [src, want] of cases) {
    const subject = uniqueTag('refused');
    const r = await swaks(src, { subject });
    assert.match(r.out, want, `${src}: ${r.out}`);
    assert.ok(!(await storedSubjects()).includes(subject));
  }
});

test('bypass: a trusted source without rDNS skips the rest of the connect rules', async () => {
  const subject = uniqueTag('trusted');
  accepted(await swaks(A.trusted, { subject }));
});

test('rdns regex <table> junk marks the message X-Spam: Yes', async () => {
  const subject = uniqueTag('dyn');
  accepted(await swaks(A.dyn, { subject }));
  const m = await waitForMessage('maildir', userMaildir(dir, user), (x) => header(x, 'subject') === subject);
  assert.equal(m && header(m, 'x-spam'), 'Yes');
});

test('helo, mail-from regex and rcpt-to rules refuse their command; DATA and commit rules refuse the message', async () => {
  const helo = await swaks(A.good, { subject: uniqueTag('h'), helo: 'bad.helo.test' });
  assert.match(helo.out, /<\*\* +550 5\.7\.1 Bad EHLO/, helo.out);
  const spam = await swaks(A.good, { subject: uniqueTag('s'), from: 'big-spam-king@example.test' });
  assert.match(spam.out, /<\*\* +550 5\.7\.1 Sender refused/, spam.out);
  const rc = await swaks(A.good, { subject: uniqueTag('r'), to: 'nobody-here@localhost' });
  assert.match(rc.out, /<\*\* +550 5\.1\.1 Nobody here \(filter\)/, rc.out);
  const data = await swaks(A.good, { subject: uniqueTag('d'), from: 'data-block@example.test' });
  assert.match(data.out, /<\*\* +554 5\.7\.1 Refused at DATA/, data.out);
  const subject = uniqueTag('c');
  const commit = await swaks(A.good, { subject, from: 'commit-block@example.test' });
  assert.match(commit.out, /<\*\* +554 5\.7\.1 Refused at commit/, commit.out);
  assert.ok(!(await storedSubjects()).includes(subject), 'nothing stored after a commit refusal');
});

test('rewrite changes the sender; report reaches the filter processes as filter-report', async () => {
  const subject = uniqueTag('rw');
  accepted(await swaks(A.good, { subject, from: 'old@example.test' }));
  const m = await waitForMessage('maildir', userMaildir(dir, user), (x) => header(x, 'subject') === subject);
  assert.equal(m && header(m, 'return-path'), '<new@example.test>');
  const log = readFileSync(`${logs}/logger.log`, 'utf8');
  assert.match(log, /\|filter-report\|[0-9a-f]{16}\|builtin\|note\|client is forward-confirmed\n/);
  assert.match(log, new RegExp(`\\|link-connect\\|[0-9a-f]{16}\\|good\\.client\\.test\\|pass\\|${A.good.replace(/\./g, '\\.')}:\\d+\\|`));
  assert.match(log, /\|link-connect\|[0-9a-f]{16}\|pool-13\.dyn\.client\.test\|pass\|/);
});
