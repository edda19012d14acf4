// End-to-end: delivery status notifications. An `mda` action whose command fails in scripted
// ways (by sub-address) drives every kind of report; the reports land in the sender's maildir
// and are parsed by Python's email package: permanent failure with the command's own words,
// retry then success (no report), a delay warning, an expiry (5.4.7), two failures of one
// message grouped in one report while the third recipient is delivered, NOTIFY=SUCCESS,
// NOTIFY=NEVER and the null sender (no report).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startDaemon, type Daemon } from './lib/daemon.js';
import { buildMessage, deliverableUser, uniqueTag, userMaildir } from './lib/conf.js';
import { showReply, smtpSession, type SmtpStep } from './lib/python.js';
import { field, readBounces, type ParsedDsn } from './lib/bounces.js';
import { waitFor } from './lib/proc.js';
import { makeSharedDir, makeTestDir, removeTestDir } from './lib/tmp.js';

const dir = makeTestDir('bounce');
makeSharedDir(path.join(dir, 'mail'));
const out = makeSharedDir(path.join(dir, 'out'));
const state = makeSharedDir(path.join(dir, 'state'));
const sender = await deliverableUser('tsmtpd-b1');
const target = await deliverableUser('tsmtpd-b2');
const script = path.join(dir, 'mda.sh');
writeFileSync(script, [
  '#!/bin/sh',
  '# Behaviour by sub-address: the test scripts every kind of outcome.',
  'case "$EXTENSION" in',
  `  fail*) cat >/dev/null; echo "mailbox $EXTENSION is closed for good"; exit 67 ;;`,
  `  delay|expire) cat >/dev/null; echo "try again later ($EXTENSION)"; exit 75 ;;`,
  `  flaky) if [ ! -e ${state}/flaky ]; then : > ${state}/flaky; cat >/dev/null; echo "not yet"; exit 75; fi ;;`,
  'esac',
  `cat > ${out}/$EXTENSION.$$`,
  '',
].join('\n'), { mode: 0o755 });

const conf = (ctx: { port: number; dir: string }) => [
  'bounce warn-interval 4s',
  `listen on 127.0.0.1 port ${ctx.port}`,
  `action "local" maildir "${ctx.dir}/mail/%{user.username}/Maildir"`,
  `action "scripted" mda "/bin/sh ${script}"`,
  `action "short" mda "/bin/sh ${script}" ttl 14s`,
  `match from any for rcpt-to "${target}+expire@localhost" action "short"`,
  `match from any for rcpt-to "${target}@localhost" action "scripted"`,
  'match from any for local action "local"',
  '',
].join('\n');

let daemon: Daemon;
before(async () => {
  daemon = await startDaemon({ dir, config: conf });
});
after(async () => {
  await daemon?.stop();
  removeTestDir(dir);
});

const tag = uniqueTag('dsn');
const rcpt = (ext: string) => `${target}+${ext}@localhost`;
const subjects: Record<string, string> = {};

/** One message: MAIL with options, RCPTs with options; asserts 250 for all of it. */
async function send(name: string, from: string, rcpts: { addr: string; opts?: string[] }[], mailOpts: string[] = []): Promise<void> {
  const subject = `${tag} ${name}`;
  subjects[name] = subject;
  const data = buildMessage([`Subject: ${subject}`, `From: <${from || 'mailer-daemon@localhost'}>`, `Message-ID: <${name}.${tag}@client.test>`], [`body of ${name}`, 'From the start of a line', '.dot']);
  const steps: SmtpStep[] = [
    { op: 'ehlo' },
    { op: 'mail', addr: from, opts: mailOpts },
    ...rcpts.map((r): SmtpStep => ({ op: 'rcpt', addr: r.addr, opts: r.opts ?? [] })),
    { op: 'data', b64: data.toString('base64') },
    { op: 'quit' },
  ];
  const s = await smtpSession(daemon.port, steps);
  for (const r of s.replies.slice(1, -1)) assert.equal(r.code, 250, `${name}: ${s.replies.map(showReply).join('\n')}`);
}

function reportFor(all: ParsedDsn[], name: string): ParsedDsn[] {
  return all.filter((d) => d.returned_headers['Subject'] === subjects[name]);
}

test('every kind of outcome gives the report it should, parsed by an independent MIME parser', { timeout: 120_000 }, async () => {
  const from = `${sender}@localhost`;
  await send('perm', from, [{ addr: rcpt('fail1'), opts: ['NOTIFY=FAILURE', `ORCPT=rfc822;original+2Bfail1@client.test`] }], ['ENVID=env-perm-1']);
  await send('flaky', from, [{ addr: rcpt('flaky') }]);
  await send('delay', from, [{ addr: rcpt('delay') }]);
  await send('expire', from, [{ addr: rcpt('expire') }]);
  await send('group', from, [{ addr: rcpt('faila') }, { addr: rcpt('failb') }, { addr: rcpt('ok') }], ['RET=FULL']);
  await send('success', from, [{ addr: rcpt('okay'), opts: ['NOTIFY=SUCCESS'] }]);
  await send('never', from, [{ addr: rcpt('failn'), opts: ['NOTIFY=NEVER'] }]);
  await send('null', '', [{ addr: rcpt('failz') }]);

  const box = userMaildir(dir, sender);
  const all = await waitFor(async () => {
    const got = await readBounces(box);
    const names = ['perm', 'delay', 'expire', 'group', 'success'];
    const expired = reportFor(got, 'expire').some((d) => field(d.status_recipients[0], 'Action') === 'failed');
    return expired && names.every((n) => reportFor(got, n).length > 0) ? got : undefined;
  }, 60_000, 500);
  assert.ok(all, `not every report arrived\n${JSON.stringify(await readBounces(box), null, 1).slice(0, 4000)}\n${daemon.describe()}`);
  await new Promise((r) => setTimeout(r, 2500)); // room for a wrong extra report to show up

  const final = await readBounces(box);
  for (const d of final) {
    assert.equal(d.content_type, 'multipart/report');
    assert.equal(d.report_type, 'delivery-status');
    assert.deepEqual(d.defects, []);
    assert.match(d.headers['From'] ?? '', /MAILER-DAEMON@/);
    assert.equal(d.parts[1], 'message/delivery-status');
    assert.ok(field(d.status_message, 'Reporting-MTA')?.startsWith('dns;'));
    assert.ok(field(d.status_message, 'Arrival-Date'));
  }

  const [perm, ...permMore] = reportFor(final, 'perm');
  assert.equal(permMore.length, 0, 'one report for the permanent failure');
  assert.equal(field(perm!.status_message, 'Original-Envelope-Id'), 'env-perm-1');
  const pr = perm!.status_recipients[0];
  assert.equal(perm!.status_recipients.length, 1);
  assert.equal(field(pr, 'Action'), 'failed');
  assert.match(field(pr, 'Status') ?? '', /^5\.\d+\.\d+$/);
  assert.match(field(pr, 'Final-Recipient') ?? '', new RegExp(`rfc822;\\s*${target}\\+fail1@localhost`, 'i'));
  assert.match(field(pr, 'Original-Recipient') ?? '', /rfc822;\s*original\+fail1@client\.test/i);
  assert.match(field(pr, 'Diagnostic-Code') ?? '', /mailbox fail1 is closed for good/);
  assert.ok(field(pr, 'Last-Attempt-Date'));
  assert.equal(perm!.parts[2], 'text/rfc822-headers');

  const group = reportFor(final, 'group');
  assert.equal(group.length, 1, 'the two failures of one message make one report');
  const failed = group[0]!.status_recipients.map((r) => field(r, 'Final-Recipient') ?? '').sort();
  assert.equal(failed.length, 2);
  assert.match(failed[0]!, /\+faila@/);
  assert.match(failed[1]!, /\+failb@/);
  assert.equal(group[0]!.parts[2], 'message/rfc822', 'RET=FULL returns the whole message');
  assert.match(group[0]!.returned_body ?? '', /body of group/);

  const delay = reportFor(final, 'delay');
  assert.equal(delay.length, 1, 'one warning per interval');
  assert.equal(field(delay[0]!.status_recipients[0], 'Action'), 'delayed');
  assert.match(field(delay[0]!.status_recipients[0], 'Status') ?? '', /^4\./);
  assert.ok(field(delay[0]!.status_recipients[0], 'Will-Retry-Until'));

  const expire = reportFor(final, 'expire');
  assert.ok(expire.length >= 1);
  const expired = expire.find((d) => field(d.status_recipients[0], 'Action') === 'failed');
  assert.ok(expired, 'an expiry report');
  assert.equal(field(expired.status_recipients[0], 'Status'), '5.4.7');

  const success = reportFor(final, 'success');
  assert.equal(success.length, 1);
  assert.equal(field(success[0]!.status_recipients[0], 'Action'), 'delivered');

  assert.equal(reportFor(final, 'flaky').length, 0, 'a retry that succeeds reports nothing');
  assert.equal(reportFor(final, 'never').length, 0, 'NOTIFY=NEVER reports nothing');
  assert.equal(reportFor(final, 'null').length, 0, 'the null sender gets no report');

  const delivered = readdirSync(out).map((f) => f.split('.')[0]).sort();
  assert.ok(delivered.includes('ok') && delivered.includes('okay') && delivered.includes('flaky'), `delivered: ${delivered.join(' ')}`);
  mkdirSync(path.join(dir, 'done'), { recursive: true });
});
