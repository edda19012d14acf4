// End-to-end: the SMTP dialogue as independent clients see it (Python smtplib, swaks): EHLO
// extensions, refusals at RCPT, the size limit, pipelining. One daemon for the file.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, type Daemon } from './lib/daemon.js';
import { buildMessage, deliverableUser, localMaildirConfig, uniqueTag, userMaildir } from './lib/conf.js';
import { readMailbox, header, showReply, smtpSession, transaction, waitForMessage, type SmtpReply } from './lib/python.js';
import { swaks } from './lib/swaks.js';
import { describeRun } from './lib/proc.js';
import { makeSharedDir, makeTestDir, removeTestDir } from './lib/tmp.js';

const maxSize = 64 * 1024;
const dir = makeTestDir('proto');
makeSharedDir(`${dir}/mail`);
const user = await deliverableUser('tsmtpd-e1');
const rcpt = `${user}@localhost`;
let d: Daemon;

before(async () => {
  d = await startDaemon({ dir, config: (ctx) => localMaildirConfig(ctx, { globals: ['smtp max-message-size 64K'] }) });
});
after(async () => {
  await d?.stop();
  removeTestDir(dir);
});

function replyOf(replies: SmtpReply[], index: number): SmtpReply {
  const r = replies[index];
  assert.ok(r && r.error === undefined, `step ${index}: ${showReply(r)}\n${d.describe()}`);
  return r;
}

/** Asserts "CODE ENHANCED ..." for a reply. */
function assertReply(r: SmtpReply, code: number, enhanced: string): void {
  assert.equal(r.code, code, `${showReply(r)}\n${d.describe()}`);
  assert.match(r.text ?? '', new RegExp(`^${enhanced.replace(/\./g, '\\.')}\\b`), showReply(r));
}

test('the banner is 220 and EHLO advertises 8BITMIME, SIZE, ENHANCEDSTATUSCODES, PIPELINING, DSN, SMTPUTF8', async () => {
  const s = await smtpSession(d.port, [{ op: 'ehlo', name: 'client.test' }, { op: 'quit' }]);
  assert.equal(s.banner?.code, 220, showReply(s.banner ?? undefined));
  assert.equal(replyOf(s.replies, 0).code, 250);
  for (const ext of ['8bitmime', 'size', 'enhancedstatuscodes', 'pipelining', 'dsn', 'smtputf8']) {
    assert.ok(ext in s.features, `EHLO lacks ${ext.toUpperCase()}: ${JSON.stringify(s.features)}`);
  }
  assert.equal(Number(s.features['size']), maxSize, `SIZE should advertise the configured limit`);
  assertReply(replyOf(s.replies, 1), 221, '2.0.0');
});

test('an unknown local user is refused at RCPT with 550 5.1.1, a foreign domain with 550 5.7.1', async () => {
  const s = await smtpSession(d.port, [
    { op: 'ehlo' },
    { op: 'mail', addr: 'sender@client.test' },
    { op: 'rcpt', addr: 'no-such-user-tsmtpd@localhost' },
    { op: 'rcpt', addr: 'someone@example.net' },
    { op: 'rcpt', addr: rcpt },
    { op: 'rset' },
    { op: 'quit' },
  ]);
  assertReply(replyOf(s.replies, 1), 250, '2.1.0');
  assertReply(replyOf(s.replies, 2), 550, '5.1.1');
  assertReply(replyOf(s.replies, 3), 550, '5.7.1');
  assertReply(replyOf(s.replies, 4), 250, '2.1.5');
  assertReply(replyOf(s.replies, 5), 250, '2.0.0');
});

test('an oversized message is refused with 552 5.3.4 and the session stays usable', async () => {
  const tag = uniqueTag('after-oversize');
  const big = buildMessage(['Subject: too big'], Array.from({ length: 1200 }, (_, i) => `${i} ${'x'.repeat(100)}`));
  const small = buildMessage([`Subject: ${tag}`], ['fits']);
  const s = await smtpSession(d.port, [
    { op: 'ehlo' },
    { op: 'mail', addr: 'sender@client.test', opts: [`SIZE=${maxSize * 4}`] },
    ...transaction('sender@client.test', [rcpt], big),
    ...transaction('sender@client.test', [rcpt], small),
    { op: 'quit' },
  ]);
  assertReply(replyOf(s.replies, 1), 552, '5.3.4'); // declared SIZE over the limit, at MAIL
  assertReply(replyOf(s.replies, 4), 552, '5.3.4'); // actual size over the limit, after the data
  assertReply(replyOf(s.replies, 7), 250, '2.0.0');
  const box = userMaildir(dir, user);
  const m = await waitForMessage('maildir', box, (x) => header(x, 'Subject') === tag);
  assert.ok(m, `${tag} not delivered to ${box}\n${d.describe()}`);
  const msgs = await readMailbox('maildir', box);
  assert.ok(!msgs.some((x) => header(x, 'Subject') === 'too big'), 'the refused message was delivered');
});

test('swaks --pipeline delivers a message', async () => {
  const tag = uniqueTag('swaks-pipeline');
  const r = await swaks(d.port, ['--pipeline', '--from', 'sender@client.test', '--to', rcpt, '--header', `Subject: ${tag}`, '--body', 'pipelined']);
  assert.equal(r.code, 0, describeRun('swaks', r) + '\n' + d.describe());
  assert.match(r.stdout, /PIPELINING/, 'swaks did not see PIPELINING');
  const m = await waitForMessage('maildir', userMaildir(dir, user), (x) => header(x, 'Subject') === tag);
  assert.ok(m, `${tag} not delivered\n${d.describe()}`);
  assert.match(m.body.toString('utf8'), /^pipelined\n/);
});

test('DSN parameters (RET, ENVID, NOTIFY, ORCPT) are accepted; a bad NOTIFY is refused', async () => {
  const tag = uniqueTag('dsn');
  const s = await smtpSession(d.port, [
    { op: 'ehlo' },
    { op: 'mail', addr: 'sender@client.test', opts: ['RET=HDRS', `ENVID=${tag}`] },
    { op: 'rcpt', addr: rcpt, opts: ['NOTIFY=SUCCESS,FAILURE', `ORCPT=rfc822;${rcpt}`] },
    { op: 'rcpt', addr: rcpt, opts: ['NOTIFY=SOMETIMES'] },
    { op: 'data', b64: buildMessage([`Subject: ${tag}`], ['with dsn']).toString('base64') },
    { op: 'quit' },
  ]);
  assertReply(replyOf(s.replies, 1), 250, '2.1.0');
  assertReply(replyOf(s.replies, 2), 250, '2.1.5');
  const bad = replyOf(s.replies, 3);
  assert.ok(bad.code !== undefined && bad.code >= 500 && bad.code < 600, `NOTIFY=SOMETIMES: ${showReply(bad)}`);
  assertReply(replyOf(s.replies, 4), 250, '2.0.0');
  const m = await waitForMessage('maildir', userMaildir(dir, user), (x) => header(x, 'Subject') === tag);
  assert.ok(m, `${tag} not delivered\n${d.describe()}`);
});

test('SMTPUTF8: a UTF-8 sender is accepted and its UTF-8 headers arrive intact', async () => {
  const tag = uniqueTag('utf8');
  const sender = 'jürgen.groß@bücher.example';
  const headers = [`Subject: ${tag}`, `From: Jürgen <${sender}>`, 'X-Greeting: grüße, 日本'];
  const s = await smtpSession(d.port, [
    { op: 'ehlo' },
    ...transaction(sender, [rcpt], buildMessage(headers, ['ünïcödé body']), ['SMTPUTF8', 'BODY=8BITMIME']),
    { op: 'quit' },
  ]);
  assertReply(replyOf(s.replies, 1), 250, '2.1.0');
  assertReply(replyOf(s.replies, 3), 250, '2.0.0');
  const m = await waitForMessage('maildir', userMaildir(dir, user), (x) => header(x, 'Subject') === tag);
  assert.ok(m, `${tag} not delivered\n${d.describe()}`);
  for (const h of headers) assert.ok(m.raw.includes(Buffer.from(`${h}\n`, 'utf8')), `header not intact: ${h}`);
  assert.ok(m.raw.includes(Buffer.from(`<${sender}>`, 'utf8')), 'the UTF-8 envelope sender is not in Return-Path/Received');
});
