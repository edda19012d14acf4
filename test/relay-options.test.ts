// End-to-end relay options (REFERENCE 1.5, 6) against command-recording aiosmtpd receivers
// (py/mta_client_receiver.py) on free ports of 127.0.0.1 (smarthosts) and port 25 of
// 127.0.0.34-36 (MX hosts, through dnsmasq): smtps with a private `ca` and with `tls no-verify`,
// smtp+notls to a server offering STARTTLS, lmtp with per-recipient replies, `relay domain <t>`,
// `relay host <t>`, `helo`, `src <t>` with `helo-src <t>`, `mail-from`, `mta limit` (global, for
// a domain, for a smarthost), SIZE, DSN (passed on, or our "relayed" report) and SMTPUTF8.
// Reports go to the sender, a local maildir user of the same daemon, read with Python's email.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { startDaemon, type Daemon } from './lib/daemon.js';
import { buildMessage, uniqueTag, deliverableUser } from './lib/conf.js';
import { startDnsmasq, type Dnsmasq } from './lib/dnsmasq.js';
import { field, readBounces, type ParsedDsn } from './lib/bounces.js';
import { describeRun, run, waitFor } from './lib/proc.js';
import { showReply, smtpSession, type SmtpStep } from './lib/python.js';
import { startRecorder, type RecordedMessage, type Recorder } from './lib/recorder.js';
import { makeSharedDir, makeTestDir, removeTestDir } from './lib/tmp.js';

const dir = makeTestDir('relay-options');
// Deliveries run as the recipient and never as root (privilege separation): a test user when root.
const me = await deliverableUser('tsmtpd-e4');
makeSharedDir(path.join(dir, 'local'));

const local = `${me}@local.test`;
const box = path.join(dir, 'local', me, 'Maildir');
let dns: Dnsmasq;
let sender: Daemon;
const rx: Record<string, Recorder> = {};

async function openssl(args: string[]): Promise<void> {
  const r = await run('openssl', args, { cwd: dir, timeoutMs: 30_000 });
  assert.equal(r.code, 0, describeRun(`openssl ${args.join(' ')}`, r));
}

/** A private CA and a certificate it signed for smtps.opt.test. */
async function makeCerts(): Promise<void> {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=relay-options CA']);
  await openssl(['req', ...ec, '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=smtps.opt.test']);
  writeFileSync(path.join(dir, 'srv.ext'), 'subjectAltName=DNS:smtps.opt.test\nextendedKeyUsage=serverAuth\n');
  await openssl(['x509', '-req', '-in', 'srv.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-out', 'srv.crt', '-extfile', 'srv.ext']);
}

before(async () => {
  await makeCerts();
  const f = (n: string) => path.join(dir, n);
  const cert = { cert: f('srv.crt'), key: f('srv.key') };
  dns = await startDnsmasq(dir, {
    mx: [['src.test', 'mx.src.test', 10], ['lim.test', 'mx.lim.test', 10], ['free.test', 'mx.free.test', 10]],
    hosts: [
      ['smtps.opt.test', '127.0.0.1'], ['limhost.opt.test', '127.0.0.1'],
      ['mx.src.test', '127.0.0.34'], ['mx.lim.test', '127.0.0.35'], ['mx.free.test', '127.0.0.36'],
    ],
  });
  const base = { pipelining: true, smtputf8: true };
  rx['plain'] = await startRecorder(dir, base);
  rx['plain2'] = await startRecorder(dir, base);
  rx['smtps'] = await startRecorder(dir, { ...base, implicit: cert });
  rx['offers'] = await startRecorder(dir, { ...base, starttls: cert });
  rx['lmtp'] = await startRecorder(dir, {
    ...base, lmtp: true,
    rcpt_replies: { 'nobody@lmtp.test': '550 5.1.1 <nobody@lmtp.test> unknown' },
    eod_replies: { 'full@lmtp.test': '452 4.2.2 <full@lmtp.test> mailbox full', 'gone@lmtp.test': '552 5.2.2 <gone@lmtp.test> over quota' },
  });
  rx['small'] = await startRecorder(dir, { pipelining: true, smtputf8: false, size: 2000 });
  rx['dsn'] = await startRecorder(dir, { ...base, dsn: true });
  for (const [name, ip] of [['src', '127.0.0.34'], ['lim', '127.0.0.35'], ['free', '127.0.0.36']] as const) {
    rx[name] = await startRecorder(dir, { ...base, host: ip, port: 25 });
  }
  const p = (n: string) => rx[n]!.port;
  writeFileSync(f('domtab'), `domtab-a.test smtp://127.0.0.1:${p('plain')}\ndomtab-b.test smtp://127.0.0.1:${p('plain2')}\n`);
  sender = await startDaemon({
    dir,
    env: { SMTPD_NAMESERVERS: dns.server },
    config: (ctx) => [
      // Every smarthost is on 127.0.0.1, one host and one route for the limits: no delays, room.
      'mta limit conn-delay-route 0 reconn-delay-route 0 conn-delay-relay 0 max-conn-per-host 50 max-conn-per-route 50',
      'mta limit for domain lim.test max-conn-per-host 1 session-mail-max 2',
      'mta limit for domain limhost.opt.test max-conn-per-relay 1 session-mail-max 1',
      'mta limit for domain src.test session-mail-max 1',
      `ca testca cert "${f('ca.crt')}"`,
      `table domtab file:${f('domtab')}`,
      `table hosttab { "smtp://127.0.0.1:${p('plain')}", "smtp://127.0.0.1:${p('plain2')}" }`,
      'table srcs { "127.0.0.37", "127.0.0.38" }',
      'table helos { "127.0.0.37" = "one.src.test", "127.0.0.38" = "two.src.test" }',
      `listen on 127.0.0.1 port ${ctx.port}`,
      `action "local" maildir "${dir}/local/%{user.username}/Maildir"`,
      `action "plain" relay host smtp://127.0.0.1:${p('plain')}`,
      `action "smtps-ca" relay host smtps://smtps.opt.test:${p('smtps')} ca testca`,
      `action "smtps-nv" relay host smtps://127.0.0.1:${p('smtps')} tls no-verify`,
      `action "smtps-sys" relay host smtps://smtps.opt.test:${p('smtps')}`,
      `action "notls" relay host smtp+notls://127.0.0.1:${p('offers')}`,
      `action "opp" relay host smtp://127.0.0.1:${p('offers')}`,
      `action "lmtp" relay host lmtp://127.0.0.1:${p('lmtp')}`,
      `action "helo" relay host smtp://127.0.0.1:${p('plain')} helo "custom-helo.opt.test"`,
      'action "srcs" relay src <srcs> helo-src <helos>',
      `action "mf-dom" relay host smtp://127.0.0.1:${p('plain')} mail-from "@rewritten.test"`,
      `action "mf-user" relay host smtp://127.0.0.1:${p('plain')} mail-from "newuser"`,
      `action "mf-full" relay host smtp://127.0.0.1:${p('plain')} mail-from "full@rewritten.test"`,
      'action "domtab" relay domain <domtab>',
      'action "hosttab" relay host <hosttab>',
      'action "mx" relay',
      `action "limhost" relay host smtp://limhost.opt.test:${p('plain2')}`,
      `action "small" relay host smtp://127.0.0.1:${p('small')}`,
      `action "dsn" relay host smtp://127.0.0.1:${p('dsn')}`,
      'match from any for domain "local.test" action "local"',
      ...['smtps-ca', 'smtps-nv', 'smtps-sys', 'notls', 'opp', 'lmtp', 'helo', 'mf-dom', 'mf-user', 'mf-full', 'limhost', 'dsn']
        .map((a) => `match from any for domain "${a}.test" action "${a}"`),
      'match from any for domain { "domtab-a.test", "domtab-b.test", "domtab-none.test" } action "domtab"',
      'match from any for domain { "hosttab-1.test", "hosttab-2.test" } action "hosttab"',
      'match from any for domain "src.test" action "srcs"',
      'match from any for domain { "lim.test", "free.test" } action "mx"',
      'match from any for domain { "big.test", "noutf8.test" } action "small"',
      'match from any for any action "plain"',
    ].join('\n') + '\n',
  });
});

after(async () => {
  await sender?.stop();
  for (const r of Object.values(rx)) await r.stop();
  await dns?.stop();
  removeTestDir(dir);
});

interface Mail {
  from: string;
  to: string[];
  subject: string;
  mailOpts?: string[];
  rcptOpts?: string[];
  body?: string[];
}

/** One smtplib session, one transaction per mail; every one must get its 250. */
async function send(...mails: Mail[]): Promise<void> {
  const steps: SmtpStep[] = [{ op: 'ehlo' }];
  for (const m of mails) {
    steps.push({ op: 'mail', addr: m.from, opts: m.mailOpts ?? [] });
    for (const to of m.to) steps.push({ op: 'rcpt', addr: to, opts: m.rcptOpts ?? [] });
    const data = buildMessage([`Subject: ${m.subject}`, `From: <${m.from || 'mailer-daemon@local.test'}>`], m.body ?? ['relayed']);
    steps.push({ op: 'data', b64: data.toString('base64') });
  }
  steps.push({ op: 'quit' });
  const s = await smtpSession(sender.port, steps, 30);
  const datas = s.replies.filter((r) => r.op === 'data');
  assert.equal(datas.length, mails.length, s.replies.map(showReply).join('\n'));
  for (const d of datas) assert.equal(d.code, 250, s.replies.map(showReply).join('\n'));
}

/** The daemon's delivery log line for `rcpt`, once there. */
async function delivery(rcpt: string, ms = 20_000): Promise<string> {
  const needle = `to=<${rcpt}>`;
  const l = await waitFor(() => sender.output().split('\n').find((x) => x.startsWith('mta: delivery ') && x.includes(needle)), ms);
  assert.ok(l, `no delivery line for ${rcpt}\n${sender.describe()}`);
  return l;
}

/** Waits until `r` recorded `n` messages carrying `tag`. */
async function got(r: Recorder, tag: string, n = 1): Promise<RecordedMessage[]> {
  const ms = await waitFor(() => (r.with(tag).length >= n ? r.with(tag) : undefined), 20_000);
  assert.ok(ms, `${r.host}:${r.port} did not get ${n} message(s) tagged ${tag}\n${sender.describe()}\n--- receiver\n${r.output()}`);
  return ms;
}

/** The report in the sender's maildir about the message with this subject. */
async function report(subject: string): Promise<ParsedDsn> {
  const d = await waitFor(async () => (await readBounces(box)).find((x) => x.returned_headers['Subject'] === subject), 20_000, 250);
  assert.ok(d, `no report about ${subject} in ${box}\n${sender.describe()}`);
  return d;
}

test('smtps: implicit TLS verified with a private ca, and with tls no-verify', { timeout: 60_000 }, async () => {
  const [ca, nv] = [uniqueTag('smtps-ca'), uniqueTag('smtps-nv')];
  await send({ from: 'bob@client.test', to: ['u@smtps-ca.test'], subject: ca }, { from: 'bob@client.test', to: ['u@smtps-nv.test'], subject: nv });
  for (const tag of [ca, nv]) {
    const [m] = await got(rx['smtps']!, tag);
    assert.equal(m!.tls, true);
  }
  // Log lines reach the output in causal order, up to a quarter second after the fact.
  const connecting = new RegExp(`mta: connecting address=smtps://127\\.0\\.0\\.1:${rx['smtps']!.port} host=smtps\\.opt\\.test`);
  assert.ok(await waitFor(() => (connecting.test(sender.output()) ? true : undefined), 5000), sender.describe());
});

test('smtp+notls never sends STARTTLS though it is offered; smtp:// to the same server uses it', { timeout: 60_000 }, async () => {
  const [plain, opp] = [uniqueTag('notls'), uniqueTag('opp')];
  await send({ from: 'bob@client.test', to: ['u@notls.test'], subject: plain });
  const [m] = await got(rx['offers']!, plain);
  assert.equal(m!.tls, false);
  assert.equal(rx['offers']!.commands('STARTTLS').filter((c) => c.conn === m!.conn).length, 0);
  await send({ from: 'bob@client.test', to: ['u@opp.test'], subject: opp });
  const [o] = await got(rx['offers']!, opp);
  assert.equal(o!.tls, true, 'the receiver does offer STARTTLS');
});

test('lmtp: LHLO, and each recipient gets its own reply after the data', { timeout: 60_000 }, async () => {
  const tag = uniqueTag('lmtp');
  await send({ from: local, to: ['ok@lmtp.test', 'nobody@lmtp.test', 'full@lmtp.test', 'gone@lmtp.test'], subject: tag });
  const [m] = await got(rx['lmtp']!, tag);
  assert.deepEqual([...m!.accepted].sort(), ['full@lmtp.test', 'gone@lmtp.test', 'ok@lmtp.test']);
  assert.ok(rx['lmtp']!.commands('LHLO').some((c) => c.conn === m!.conn));
  assert.match(await delivery('ok@lmtp.test'), /result=Ok/);
  assert.match(await delivery('nobody@lmtp.test'), /result=PermFail stat="550 5\.1\.1 <nobody@lmtp\.test> unknown"/);
  assert.match(await delivery('full@lmtp.test'), /result=TempFail stat="452 4\.2\.2 <full@lmtp\.test> mailbox full"/);
  assert.match(await delivery('gone@lmtp.test'), /result=PermFail stat="552 5\.2\.2 <gone@lmtp\.test> over quota"/);
  const r = await report(tag);
  const gone = r.status_recipients.find((x) => /gone@lmtp\.test/.test(field(x, 'Final-Recipient') ?? ''));
  assert.equal(field(gone, 'Status'), '5.2.2', JSON.stringify(r.status_recipients));
});

test('relay domain <t>: the smarthost of each domain from a table file; an unlisted domain waits', { timeout: 60_000 }, async () => {
  const [a, b, none] = [uniqueTag('domtab-a'), uniqueTag('domtab-b'), uniqueTag('domtab-none')];
  await send(
    { from: 'bob@client.test', to: ['u@domtab-a.test'], subject: a },
    { from: 'bob@client.test', to: ['u@domtab-b.test'], subject: b },
    { from: 'bob@client.test', to: ['u@domtab-none.test'], subject: none },
  );
  await got(rx['plain']!, a);
  await got(rx['plain2']!, b);
  assert.equal(rx['plain2']!.with(a).length + rx['plain']!.with(b).length, 0, 'each to its own smarthost');
  assert.match(await delivery('u@domtab-none.test'), /result=TempFail stat="[^"]*Cannot retrieve smarthost/);
});

test('relay host <t>: the smarthosts of a list are taken in turn', { timeout: 60_000 }, async () => {
  const [one, two] = [uniqueTag('hosttab-1'), uniqueTag('hosttab-2')];
  await send({ from: 'bob@client.test', to: ['u@hosttab-1.test'], subject: one }, { from: 'bob@client.test', to: ['u@hosttab-2.test'], subject: two });
  const at = await waitFor(() => {
    const where = [one, two].map((t) => (rx['plain']!.with(t).length > 0 ? 'plain' : rx['plain2']!.with(t).length > 0 ? 'plain2' : null));
    return where.every((w) => w !== null) ? where : undefined;
  }, 20_000);
  assert.ok(at, sender.describe());
  assert.deepEqual([...at].sort(), ['plain', 'plain2'], 'one message to each smarthost');
});

test('helo NAME: the receiver sees that EHLO name; without it, the server name', { timeout: 60_000 }, async () => {
  const [named, plain] = [uniqueTag('helo'), uniqueTag('helo-default')];
  await send({ from: 'bob@client.test', to: ['u@helo.test'], subject: named }, { from: 'bob@client.test', to: ['u@plain.test'], subject: plain });
  const [m] = await got(rx['plain']!, named);
  assert.equal(m!.helo, 'custom-helo.opt.test');
  assert.ok(rx['plain']!.commands('EHLO').some((c) => c.conn === m!.conn && c.arg === 'custom-helo.opt.test'));
  const [d] = await got(rx['plain']!, plain);
  assert.notEqual(d!.helo, 'custom-helo.opt.test');
});

test('src <t> with helo-src <t>: source addresses rotated, the EHLO name chosen by source', { timeout: 60_000 }, async () => {
  const tags = [1, 2, 3, 4].map((i) => uniqueTag(`src${i}`));
  await send(...tags.map((t) => ({ from: 'bob@client.test', to: ['u@src.test'], subject: t })));
  const r = rx['src']!;
  const names: Record<string, string> = { '127.0.0.37': 'one.src.test', '127.0.0.38': 'two.src.test' };
  const peers = new Set<string>();
  for (const t of tags) {
    const [m] = await got(r, t);
    const peer = r.peerOf(m!.conn);
    assert.ok(peer !== undefined && peer in names, `peer ${peer}`);
    peers.add(peer);
    assert.equal(m!.helo, names[peer], `EHLO name for ${peer}`);
  }
  assert.equal(peers.size, 2, 'both sources used');
});

test('mail-from: @domain, user and a full address rewrite the sender; <> stays <>', { timeout: 60_000 }, async () => {
  const t = { dom: uniqueTag('mf-dom'), user: uniqueTag('mf-user'), full: uniqueTag('mf-full'), nul: uniqueTag('mf-null') };
  await send(
    { from: 'bob@client.test', to: ['u@mf-dom.test'], subject: t.dom },
    { from: 'bob@client.test', to: ['u@mf-user.test'], subject: t.user },
    { from: 'bob@client.test', to: ['u@mf-full.test'], subject: t.full },
    { from: '', to: ['v@mf-dom.test'], subject: t.nul },
  );
  const mail = async (tag: string) => (await got(rx['plain']!, tag))[0]!.mail;
  assert.match(await mail(t.dom), /^FROM:<bob@rewritten\.test>/);
  assert.match(await mail(t.user), /^FROM:<newuser@client\.test>/);
  assert.match(await mail(t.full), /^FROM:<full@rewritten\.test>/);
  assert.match(await mail(t.nul), /^FROM:<>/);
});

/** Connections that carried the messages tagged `tags`, and how many each carried. */
function perConnection(r: Recorder, tags: string[]): Map<number, number> {
  const m = new Map<number, number>();
  for (const t of tags) for (const x of r.with(t)) m.set(x.conn!, (m.get(x.conn!) ?? 0) + 1);
  return m;
}

test('mta limit: max-conn-per-host 1 and session-mail-max 2 for one domain, global limits for another, per-domain limits of a smarthost', { timeout: 60_000 }, async () => {
  const lim = [1, 2, 3, 4, 5, 6].map((i) => uniqueTag(`lim${i}`));
  const free = [1, 2, 3, 4, 5, 6].map((i) => uniqueTag(`free${i}`));
  const host = [1, 2, 3].map((i) => uniqueTag(`limhost${i}`));
  await send(
    ...lim.map((s) => ({ from: 'bob@client.test', to: ['u@lim.test'], subject: s })),
    ...free.map((s) => ({ from: 'bob@client.test', to: ['u@free.test'], subject: s })),
    ...host.map((s) => ({ from: 'bob@client.test', to: ['u@limhost.test'], subject: s })),
  );
  for (const s of lim) await got(rx['lim']!, s);
  for (const s of free) await got(rx['free']!, s);
  for (const s of host) await got(rx['plain2']!, s);
  const l = perConnection(rx['lim']!, lim);
  assert.ok([...l.values()].every((n) => n <= 2), `at most 2 per connection: ${JSON.stringify([...l])}`);
  assert.ok(l.size >= 3);
  assert.equal(rx['lim']!.maxConcurrent(new Set(l.keys())), 1, 'one connection at a time');
  // The global limits (100 per session, 50 per host): a session took more than 2, or several ran at once.
  const f = perConnection(rx['free']!, free);
  assert.ok([...f.values()].some((n) => n > 2) || rx['free']!.maxConcurrent(new Set(f.keys())) > 1, JSON.stringify([...f]));
  // `mta limit for domain` names a smarthost's host name too (OpenSMTPD's relay domain).
  const h = perConnection(rx['plain2']!, host);
  assert.ok([...h.values()].every((n) => n === 1), `one message per connection: ${JSON.stringify([...h])}`);
  assert.equal(rx['plain2']!.maxConcurrent(new Set(h.keys())), 1, 'one connection at a time');
});

test('a message larger than the advertised SIZE fails permanently before MAIL; the sender gets a report', { timeout: 60_000 }, async () => {
  const tag = uniqueTag('big');
  const body = Array.from({ length: 80 }, (_, i) => `line ${i} ${'x'.repeat(60)}`);
  await send({ from: local, to: ['u@big.test'], subject: tag, body });
  assert.match(await delivery('u@big.test'), /result=PermFail stat="552 5\.3\.4 Message too large for peer/);
  assert.ok(rx['small']!.commands('EHLO').length > 0, 'the session did start');
  assert.equal(rx['small']!.commands('MAIL').length + rx['small']!.commands('DATA').length, 0);
  const r = await report(tag);
  assert.equal(r.content_type, 'multipart/report');
  assert.equal(field(r.status_recipients[0], 'Action'), 'failed');
  assert.equal(field(r.status_recipients[0], 'Status'), '5.3.4');
});

test('NOTIFY=SUCCESS: passed on with ORCPT, RET and ENVID to a DSN server (no report); a "relayed" report without DSN', { timeout: 60_000 }, async () => {
  const [withDsn, without] = [uniqueTag('dsn'), uniqueTag('nodsn')];
  await send({
    from: local, to: ['u@dsn.test'], subject: withDsn,
    mailOpts: ['RET=HDRS', 'ENVID=env-42'], rcptOpts: ['NOTIFY=SUCCESS,FAILURE', 'ORCPT=rfc822;orig@dsn.test'],
  });
  const [m] = await got(rx['dsn']!, withDsn);
  assert.match(m!.mail, /\bRET=HDRS\b/);
  assert.match(m!.mail, /\bENVID=env-42\b/);
  assert.match(m!.rcpts[0]!, /\bNOTIFY=SUCCESS,FAILURE\b/);
  assert.match(m!.rcpts[0]!, /\bORCPT=rfc822;orig@dsn\.test\b/);
  await send({ from: local, to: ['u@nodsn.test'], subject: without, rcptOpts: ['NOTIFY=SUCCESS'] });
  const [n] = await got(rx['plain']!, without);
  assert.doesNotMatch(n!.rcpts[0]!, /NOTIFY=/, 'no DSN parameters to a server without DSN');
  const r = await report(without);
  assert.equal(field(r.status_recipients[0], 'Action'), 'relayed');
  assert.match(field(r.status_recipients[0], 'Final-Recipient') ?? '', /u@nodsn\.test/);
  // The DSN server took the request over: it reports, we do not (its report came first if any).
  await new Promise((res) => setTimeout(res, 1000));
  assert.equal((await readBounces(box)).filter((d) => d.returned_headers['Subject'] === withDsn).length, 0);
});

test('SMTPUTF8: a UTF-8 recipient fails permanently at a server without it (report); goes where it is offered', { timeout: 60_000 }, async () => {
  const [no, yes] = [uniqueTag('noutf8'), uniqueTag('utf8')];
  await send({ from: local, to: ['jörg@noutf8.test'], subject: no, mailOpts: ['SMTPUTF8'] });
  assert.match(await delivery('jörg@noutf8.test'), /result=PermFail stat="553 5\.6\.7 /);
  assert.equal(rx['small']!.commands('MAIL').length, 0);
  const r = await report(no);
  assert.equal(field(r.status_recipients[0], 'Status'), '5.6.7');
  // RFC 6533: a UTF-8 address is reported in a message/global-delivery-status, type utf-8.
  assert.ok(r.parts.includes('message/global-delivery-status'), r.parts.join(' '));
  assert.match(field(r.status_recipients[0], 'Final-Recipient') ?? '', /^utf-8;\s*jörg@noutf8\.test$/);
  await send({ from: 'jörg@client.test', to: ['zoë@utf8.test'], subject: yes, mailOpts: ['SMTPUTF8'] });
  const [m] = await got(rx['plain']!, yes);
  assert.match(m!.mail, /^FROM:<jörg@client\.test>.*\bSMTPUTF8\b/);
  assert.deepEqual(m!.accepted, ['zoë@utf8.test']);
});

// Last: a failed first connection disables the route to 127.0.0.1 (REFERENCE 6.4) for every
// smarthost above, which all share that address.
test('smtps without ca or no-verify checks the system store: our private certificate is refused, TempFail', { timeout: 60_000 }, async () => {
  const tag = uniqueTag('smtps-sys');
  await send({ from: 'bob@client.test', to: ['u@smtps-sys.test'], subject: tag });
  assert.match(await delivery('u@smtps-sys.test'), /result=TempFail stat="[^"]*certificate/i);
  assert.equal(rx['smtps']!.with(tag).length, 0);
});
