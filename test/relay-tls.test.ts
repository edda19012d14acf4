// End-to-end relaying with TLS and AUTH, against aiosmtpd receivers with certificates from a
// private CA made by openssl in the test directory: opportunistic STARTTLS to an MX that offers
// it; a smarthost `smtp+tls://label@host:587` with credentials from a table, verified against the
// `ca` block, presenting the `pki` client certificate; `relay tls` to an MX without STARTTLS
// fails temporarily; a temporary 451 leaves the envelope queued across a restart.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { startDaemon, type Daemon } from './lib/daemon.js';
import { buildMessage, uniqueTag } from './lib/conf.js';
import { startDnsmasq, type Dnsmasq } from './lib/dnsmasq.js';
import { showReply, smtpSession, transaction } from './lib/python.js';
import { describeRun, run, waitFor } from './lib/proc.js';
import { startReceiver, type PyReceiver } from './lib/smtp-sink.js';
import { makeTestDir, removeTestDir } from './lib/tmp.js';

const dir = makeTestDir('relay-tls');
let dns: Dnsmasq;
let sender: Daemon;
const rx: PyReceiver[] = [];
let tlsMx: PyReceiver;
let smarthost: PyReceiver;
let plainMx: PyReceiver;
let flaky: PyReceiver;

async function openssl(args: string[]): Promise<void> {
  const r = await run('openssl', args, { cwd: dir, timeoutMs: 30_000 });
  assert.equal(r.code, 0, describeRun(`openssl ${args.join(' ')}`, r));
}

/** A CA, and certificates signed by it for the two servers and the client. */
async function makeCerts(): Promise<void> {
  await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=tsmtpd test CA']);
  await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'other-ca.key', '-out', 'other-ca.crt', '-days', '2', '-subj', '/CN=another CA']);
  for (const [name, san] of [['mx', 'DNS:mx.tls.test'], ['smarthost', 'DNS:smarthost.test'], ['client', 'DNS:client.tls.test']] as const) {
    await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${san.slice(4)}`]);
    writeFileSync(path.join(dir, `${name}.ext`), `subjectAltName=${san}\n`);
    await openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`]);
  }
}

before(async () => {
  await makeCerts();
  const f = (n: string) => path.join(dir, n);
  dns = await startDnsmasq(dir, {
    mx: [['tls.test', 'mx.tls.test', 10], ['plain.test', 'mx.plain.test', 10], ['flaky.test', 'mx.flaky.test', 10]],
    hosts: [['mx.tls.test', '127.0.0.26'], ['smarthost.test', '127.0.0.26'], ['mx.plain.test', '127.0.0.27'], ['mx.flaky.test', '127.0.0.28']],
  });
  tlsMx = await startReceiver(f('rx'), { host: '127.0.0.26', port: 25, starttls: { cert: f('mx.crt'), key: f('mx.key') } });
  smarthost = await startReceiver(f('rx'), {
    host: '127.0.0.26', port: 587, starttls: { cert: f('smarthost.crt'), key: f('smarthost.key') }, require_tls: true,
    client_ca: f('ca.crt'), auth: { user: 'relay-user', password: 'relay secret' },
  });
  plainMx = await startReceiver(f('rx'), { host: '127.0.0.27', port: 25 });
  flaky = await startReceiver(f('rx'), { host: '127.0.0.28', port: 25, tempfail_first: 1 });
  rx.push(tlsMx, smarthost, plainMx, flaky);
  writeFileSync(f('secrets'), 'submit relay-user:relay secret\n');
  sender = await start();
});

function start(): Promise<Daemon> {
  const f = (n: string) => path.join(dir, n);
  return startDaemon({
    dir,
    // Relay retries on an 8 s grid instead of 400 s, so the retry after the 451 happens in the test.
    env: { SMTPD_NAMESERVERS: dns.server, SMTPD_RETRY_BASE: 'mta=8' },
    config: (ctx) => [
      `pki client.tls.test cert "${f('client.crt')}"`,
      `pki client.tls.test key "${f('client.key')}"`,
      `ca testca cert "${f('ca.crt')}"`,
      `ca otherca cert "${f('other-ca.crt')}"`,
      `table secrets file:${f('secrets')}`,
      `listen on 127.0.0.1 port ${ctx.port}`,
      'action "out" relay',
      'action "must-tls" relay tls no-verify',
      'action "smart" relay host smtp+tls://submit@smarthost.test:587 auth <secrets> ca testca pki client.tls.test',
      'action "wrong-ca" relay host smtp+tls://submit@smarthost.test:587 auth <secrets> ca otherca',
      'match from any for domain "smart.test" action "smart"',
      'match from any for domain "wrongca.test" action "wrong-ca"',
      'match from any for domain "plain.test" action "must-tls"',
      'match from any for any action "out"',
    ].join('\n') + '\n',
  });
}

after(async () => {
  await sender?.stop();
  for (const r of rx) await r.stop();
  await dns?.stop();
  removeTestDir(dir);
});

async function send(to: string, subject: string): Promise<void> {
  const s = await smtpSession(sender.port, [{ op: 'ehlo' }, ...transaction('bob@client.test', [to], buildMessage([`Subject: ${subject}`], ['over TLS'])), { op: 'quit' }]);
  assert.equal(s.replies[s.replies.length - 2]?.code, 250, s.replies.map(showReply).join('\n'));
}

function received(r: PyReceiver, subject: string) {
  return waitFor(() => r.messages().find((m) => Buffer.from(m.data, 'base64').toString('utf8').includes(`Subject: ${subject}`)), 20_000);
}

async function logLine(re: RegExp, ms = 20_000): Promise<string> {
  const l = await waitFor(() => sender.output().split('\n').find((x) => re.test(x)), ms);
  assert.ok(l, `no log line matching ${re}\n${sender.describe()}`);
  return l;
}

test('an MX that offers STARTTLS gets the mail under TLS', { timeout: 60_000 }, async () => {
  const tag = uniqueTag('starttls');
  await send('u@tls.test', tag);
  const m = await received(tlsMx, tag);
  assert.ok(m, sender.describe());
  assert.equal(m.tls, true);
});

test('a smarthost over mandatory STARTTLS, verified with the private CA, with AUTH and a client certificate', { timeout: 60_000 }, async () => {
  const tag = uniqueTag('smarthost');
  await send('someone@smart.test', tag);
  const m = await received(smarthost, tag);
  assert.ok(m, `${sender.describe()}\n--- smarthost\n${smarthost.output()}`);
  assert.equal(m.tls, true);
  assert.equal(m.auth, 'relay-user');
  assert.equal(m.client_cert, 'client.tls.test');
  assert.deepEqual(m.rcpts, ['someone@smart.test']);
  await logLine(/mta: connecting address=smtp\+tls:\/\/127\.0\.0\.26:587 host=smarthost\.test/);
});

test('a smarthost whose certificate the configured CA did not sign: TempFail, nothing sent', { timeout: 60_000 }, async () => {
  const before = smarthost.messages().length;
  await send('someone@wrongca.test', uniqueTag('wrongca'));
  const l = await logLine(/mta: delivery .*to=<someone@wrongca\.test>/);
  assert.match(l, /result=TempFail/);
  assert.equal(smarthost.messages().length, before);
});

test('relay tls to an MX without STARTTLS fails temporarily and sends nothing', { timeout: 60_000 }, async () => {
  await send('u@plain.test', uniqueTag('notls'));
  const l = await logLine(/mta: delivery .*to=<u@plain\.test>/);
  assert.match(l, /result=TempFail/);
  assert.equal(plainMx.messages().length, 0);
});

test('a 451 reply: TempFail, the envelope is still queued after a restart, and the retry delivers it', { timeout: 90_000 }, async () => {
  const tag = uniqueTag('flaky');
  await send('u@flaky.test', tag);
  const l = await logLine(/mta: delivery .*to=<u@flaky\.test>/);
  assert.match(l, /result=TempFail stat="451 4\.3\.0 Try again later"/);
  assert.equal(flaky.messages().length, 0);
  // The next attempt is due 8 s after arrival (SMTPD_RETRY_BASE; 400 s by default, REFERENCE 5.3).
  const deferred = new Set(sender.output().split('\n').filter((x) => /^mta: delivery .*result=TempFail/.test(x)).map((x) => /evpid=(\w+)/.exec(x)?.[1]));
  const stop = await sender.stop();
  assert.equal(stop.code, 0, sender.describe());
  sender = await start();
  const loaded = await logLine(/queue: queue loaded /);
  // Every envelope that failed temporarily in this file (flaky.test among them) is still there.
  assert.match(loaded, new RegExp(`envelopes=${deferred.size}\\b`), `${[...deferred].join(' ')}\n${sender.describe()}`);
  const got = await waitFor(() => flaky.messages().find((m) => Buffer.from(m.data, 'base64').toString('utf8').includes(tag)), 30_000);
  assert.ok(got, `not delivered on retry\n${sender.describe()}`);
  assert.match(await logLine(/mta: delivery .*to=<u@flaky\.test>.*result=Ok/), /result=Ok/);
});
