// End-to-end TLS in (issue 9): STARTTLS and SMTPS listeners with ECDSA certificates as openssl
// s_client, swaks and Python's ssl + smtplib see them — the chain served, SNI choosing the
// certificate, client certificates (`verify`), tls-require, the RFC 3207 reset after STARTTLS
// (a pipelined command discarded, EHLO forgotten), and the TLS tuple in the Received header.
// Fixed addresses 127.0.3.1-3 (this block) on the usual ports.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { startDaemon, type Daemon } from './lib/daemon.js';
import { buildMessage, deliverableUser, uniqueTag, userMaildir } from './lib/conf.js';
import { header, waitForMessage } from './lib/python.js';
import { makeTestPki, type TestPki } from './lib/pki.js';
import { describeRun } from './lib/proc.js';
import { swaksAt } from './lib/swaks.js';
import { chainSubjects, sClient, show, tlsSession } from './lib/tls-clients.js';
import { makeSharedDir, makeTestDir, removeTestDir } from './lib/tmp.js';

const MX = 'mx.tls.test';
const OTHER = 'other.tls.test';
const SELF = 'self.tls.test';
const STARTTLS = { host: '127.0.3.1', port: 25 };
const SMTPS = { host: '127.0.3.1', port: 465 };
const REQUIRE = { host: '127.0.3.1', port: 587 };
const VERIFY = { host: '127.0.3.2', port: 25 };
const SELF_SMTPS = { host: '127.0.3.3', port: 465 };

const dir = makeTestDir('tls');
makeSharedDir(`${dir}/mail`);
const user = await deliverableUser('tsmtpd-e2');
const rcpt = `${user}@tls.test`;
let pki: TestPki;
let d: Daemon;

function config(port: number): string {
  const p = (name: string) => pki.servers[name] ?? pki.selfSigned;
  return [
    `pki ${MX} cert "${p(MX).certFile}"`, `pki ${MX} key "${p(MX).keyFile}"`,
    `pki ${OTHER} cert "${p(OTHER).certFile}"`, `pki ${OTHER} key "${p(OTHER).keyFile}"`,
    `pki ${SELF} cert "${pki.selfSigned.certFile}"`, `pki ${SELF} key "${pki.selfSigned.keyFile}"`, `pki ${SELF} dhe auto`,
    `ca clients cert "${pki.caFile}"`,
    `listen on 127.0.0.1 port ${port}`,
    `listen on ${STARTTLS.host} port ${STARTTLS.port} tls pki ${MX} pki ${OTHER} hostname ${MX}`,
    `listen on ${SMTPS.host} port ${SMTPS.port} smtps pki ${MX} hostname ${MX}`,
    `listen on ${REQUIRE.host} port ${REQUIRE.port} tls-require pki ${MX} hostname ${MX} protocols "tlsv1.3"`,
    `listen on ${VERIFY.host} port ${VERIFY.port} tls-require verify pki ${MX} ca clients hostname ${MX}`,
    `listen on ${SELF_SMTPS.host} port ${SELF_SMTPS.port} smtps pki ${SELF} hostname ${SELF} protocols "tlsv1.2" ciphers "ECDHE-ECDSA-AES128-GCM-SHA256"`,
    `action "local" maildir "${dir}/mail/%{user.username}/Maildir"`,
    'match from any for domain "tls.test" action "local"',
  ].join('\n') + '\n';
}

before(async () => {
  pki = makeTestPki(dir, [MX, OTHER], SELF);
  d = await startDaemon({ dir, config: (ctx) => config(ctx.port) });
});
after(async () => {
  await d?.stop();
  removeTestDir(dir);
});

test('openssl s_client: STARTTLS serves the chain (leaf + intermediate), verified against the root', async () => {
  const r = await sClient(STARTTLS.host, STARTTLS.port, ['-CAfile', pki.caFile, '-servername', MX, '-verify_hostname', MX]);
  assert.equal(r.code, 0, describeRun('s_client', r) + d.describe());
  assert.match(r.stdout, /Verify return code: 0 \(ok\)/);
  assert.deepEqual(chainSubjects(r.stdout), [`0 CN = ${MX}`, '1 CN = tsmtpd test intermediate CA']);
  assert.match(r.stdout, /Peer signature type: ECDSA/);
  assert.match(r.stdout, /Protocol *: TLSv1\.3|New, TLSv1\.3/);
});

test('SNI chooses the certificate that names the host; an unknown or absent name gets the default', async () => {
  const other = await sClient(STARTTLS.host, STARTTLS.port, ['-CAfile', pki.caFile, '-servername', OTHER, '-verify_hostname', OTHER]);
  assert.equal(other.code, 0, describeRun('s_client', other));
  assert.equal(chainSubjects(other.stdout)[0], `0 CN = ${OTHER}`);
  for (const args of [['-servername', 'unknown.tls.test'], ['-noservername']]) {
    const r = await sClient(STARTTLS.host, STARTTLS.port, ['-CAfile', pki.caFile, ...args]);
    assert.equal(r.code, 0, describeRun('s_client', r));
    assert.equal(chainSubjects(r.stdout)[0], `0 CN = ${MX}`, args.join(' '));
  }
});

test('SMTPS: implicit TLS, the banner after the handshake; a self-signed ECDSA certificate with protocols and ciphers', async () => {
  const r = await sClient(SMTPS.host, SMTPS.port, ['-CAfile', pki.caFile, '-servername', MX], false);
  assert.equal(r.code, 0, describeRun('s_client', r));
  assert.match(r.stdout, /^220 /m);
  assert.match(r.stdout, /221 2\.0\.0 Bye/);
  const self = await sClient(SELF_SMTPS.host, SELF_SMTPS.port, ['-CAfile', pki.selfSigned.certFile, '-servername', SELF, '-verify_hostname', SELF], false);
  assert.equal(self.code, 0, describeRun('s_client self-signed', self));
  assert.match(self.stdout, /Verify return code: 0 \(ok\)/);
  assert.match(self.stdout, /Cipher is ECDHE-ECDSA-AES128-GCM-SHA256/);
  assert.match(self.stdout, /New, TLSv1\.2/);
  // protocols "tlsv1.3" on 587: a TLS 1.2-only client is refused.
  const old = await sClient(REQUIRE.host, REQUIRE.port, ['-CAfile', pki.caFile, '-tls1_2']);
  assert.notEqual(old.code, 0, describeRun('s_client -tls1_2 against protocols "tlsv1.3"', old));
});

test('swaks --tls and --tlsc deliver; Received carries ESMTPS and the TLS tuple; Python reads the maildir', async () => {
  const tagS = uniqueTag('starttls');
  const tagC = uniqueTag('smtps');
  const common = ['--to', rcpt, '--from', 'sender@client.test', '--tls-verify', '--tls-ca-path', pki.caFile];
  const a = await swaksAt(`${STARTTLS.host}:${STARTTLS.port}`, ['--tls', '--tls-sni', MX, '--header', `Subject: ${tagS}`, ...common]);
  assert.equal(a.code, 0, describeRun('swaks --tls', a) + d.describe());
  const b = await swaksAt(`${SMTPS.host}:${SMTPS.port}`, ['--tlsc', '--tls-sni', MX, '--header', `Subject: ${tagC}`, ...common]);
  assert.equal(b.code, 0, describeRun('swaks --tlsc', b) + d.describe());
  for (const tag of [tagS, tagC]) {
    const m = await waitForMessage('maildir', userMaildir(dir, user), (x) => header(x, 'subject') === tag);
    assert.ok(m, `${tag} not delivered\n${d.describe()}`);
    const received = header(m, 'received') ?? '';
    assert.match(received, new RegExp(`by ${MX.replace(/\./g, '\\.')} \\(tsmtpd\\) with ESMTPS id [0-9a-f]{8} \\(TLSv1\\.3:TLS_AES_256_GCM_SHA384:256:NO\\)`), received);
  }
});

test('tls-require: MAIL before STARTTLS is refused with 530 5.5.1; after it, accepted', async () => {
  const r = await tlsSession({
    ...REQUIRE, cafile: pki.caFile, servername: MX,
    steps: [{ op: 'ehlo' }, { op: 'mail', addr: 'a@client.test' }, { op: 'starttls' }, { op: 'ehlo' }, { op: 'mail', addr: 'a@client.test' }, { op: 'quit' }],
  });
  assert.equal(r.replies[1]?.code, 530, show(r.replies[1]));
  assert.match(r.replies[1]?.text ?? '', /^5\.5\.1 Invalid command: Must issue a STARTTLS command first/);
  assert.equal(r.replies[2]?.code, 220, show(r.replies[2]));
  assert.equal(r.replies[4]?.code, 250, show(r.replies[4]));
  assert.equal(r.tls?.version, 'TLSv1.3');
  assert.equal(r.tls?.peer_cn, MX);
});

test('verify: no client certificate or one from a stranger CA is refused; one from the ca is accepted and shown as YES', async () => {
  // TLS 1.3: the client finishes its handshake first, then the server refuses the certificate.
  const none = await sClient(VERIFY.host, VERIFY.port, ['-CAfile', pki.caFile]);
  assert.match(none.stderr, /certificate required/, describeRun('s_client without a client certificate', none));
  assert.doesNotMatch(none.stdout, /221 2\.0\.0 Bye/);
  const stranger = await sClient(VERIFY.host, VERIFY.port, ['-CAfile', pki.caFile, '-cert', pki.strangerClient.certFile, '-key', pki.strangerClient.keyFile]);
  assert.doesNotMatch(stranger.stdout, /221 2\.0\.0 Bye/, describeRun('s_client with a stranger certificate', stranger));
  const good = await sClient(VERIFY.host, VERIFY.port, ['-CAfile', pki.caFile, '-cert', pki.client.certFile, '-key', pki.client.keyFile]);
  assert.match(good.stdout, /221 2\.0\.0 Bye/, describeRun('s_client with the client certificate', good));
  const tag = uniqueTag('verified');
  const msg = buildMessage([`Subject: ${tag}`], ['client certificate']);
  const ok = await tlsSession({
    ...VERIFY, cafile: pki.caFile, servername: MX, client: pki.client,
    steps: [{ op: 'ehlo' }, { op: 'starttls' }, { op: 'ehlo' }, { op: 'mail', addr: 'c@client.test' }, { op: 'rcpt', addr: rcpt }, { op: 'data', b64: msg.toString('base64') }, { op: 'quit' }],
  });
  assert.equal(ok.replies[5]?.code, 250, `${show(ok.replies[5])}\n${d.describe()}`);
  const m = await waitForMessage('maildir', userMaildir(dir, user), (x) => header(x, 'subject') === tag);
  assert.ok(m, `not delivered\n${d.describe()}`);
  assert.match(header(m, 'received') ?? '', /:256:YES\)/);
});

/** Reads from a socket until `pred` holds for what arrived (bounded). */
function readUntil(sock: net.Socket | tls.TLSSocket, pred: (s: string) => boolean, ms = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => { cleanup(); reject(new Error(`timeout; got ${JSON.stringify(buf)}`)); }, ms);
    const onData = (b: Buffer) => { buf += b.toString('latin1'); if (pred(buf)) { cleanup(); resolve(buf); } };
    const cleanup = () => { clearTimeout(timer); sock.off('data', onData); };
    sock.on('data', onData);
  });
}

test('RFC 3207: a command pipelined after STARTTLS is discarded and the EHLO forgotten', async () => {
  const raw = net.connect(STARTTLS);
  try {
    await readUntil(raw, (s) => /^220 /m.test(s));
    raw.write('EHLO raw.client.test\r\n');
    await readUntil(raw, (s) => /^250 /m.test(s));
    // One write: the MAIL arrives in clear behind STARTTLS and must never run.
    raw.write('STARTTLS\r\nMAIL FROM:<injected@client.test>\r\n');
    const ready = await readUntil(raw, (s) => /^220 /m.test(s));
    assert.match(ready, /^220 2\.0\.0 /m);
    assert.doesNotMatch(ready, /^250 /m, 'the pipelined MAIL was answered');
    const sec = tls.connect({ socket: raw, servername: MX, ca: readFileSync(pki.caFile) });
    await new Promise<void>((res, rej) => { sec.once('secureConnect', () => res()); sec.once('error', rej); });
    sec.write('MAIL FROM:<a@client.test>\r\n');
    const first = await readUntil(sec, (s) => s.includes('\r\n'));
    assert.match(first, /^503 5\.5\.1 /, `after STARTTLS the session must ask for EHLO again: ${first}`);
    sec.write('EHLO raw.client.test\r\n');
    await readUntil(sec, (s) => /^250 /m.test(s));
    sec.write('MAIL FROM:<a@client.test>\r\n');
    // 250, not 503 "nested MAIL": the injected MAIL opened no transaction.
    assert.match(await readUntil(sec, (s) => s.includes('\r\n')), /^250 /);
    sec.end('QUIT\r\n');
  } finally {
    raw.destroy();
  }
});
