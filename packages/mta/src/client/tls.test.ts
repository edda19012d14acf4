// TLS and AUTH against aiosmtpd (REFERENCE 6.6) with a private CA made by openssl: opportunistic
// STARTTLS and its plain-text fallback, mandatory STARTTLS verified (and refused with the wrong CA
// or name, or when not offered), smtps, a client certificate, AUTH PLAIN and LOGIN only over TLS.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createClientSession } from './index.js';
import { bodyOf, makePki, options, startReceiver, tempDir, type Receiver } from './test-peers.js';
import type { ClientOptions, Transaction } from './types.js';

const dir = tempDir('tls');
const pki = makePki(dir.path);
const receivers: Receiver[] = [];
after(async () => {
  await Promise.all(receivers.map((r) => r.stop()));
  dir.remove();
});

const starttls = { cert: pki.certFile, key: pki.keyFile };
const auth = { user: 'relayuser', password: 'sécret pass' };

async function receiver(config: Record<string, unknown>): Promise<Receiver> {
  const r = await startReceiver(dir.path, config);
  receivers.push(r);
  return r;
}

const tx: Transaction = {
  mailFrom: 'a@x.test',
  smtputf8: false,
  eightBit: false,
  size: 30,
  recipients: [{ address: 'b@y.test', notify: 0 }],
  body: bodyOf('Subject: tls\n\nhello\n'),
};

/** Connect with `over`, send one message when connected; the connect result and the record. */
async function deliver(r: Receiver, over: Partial<ClientOptions>) {
  const c = createClientSession(options(r.port, over));
  const conn = await c.connect();
  if (conn.ok) {
    const res = await c.send(tx);
    assert.ok(res.ok && res.recipients[0]?.status === 'ok', JSON.stringify(res));
    await c.quit();
  } else {
    assert.equal(c.usable, false);
  }
  const msgs = conn.ok ? await r.waitMessages(1) : r.messages();
  return { conn, msg: msgs[msgs.length - 1] };
}

test('opportunistic STARTTLS, unverified, with EHLO again after it', async () => {
  const r = await receiver({ starttls });
  const { conn, msg } = await deliver(r, { tls: 'opportunistic' });
  assert.ok(conn.ok && conn.tls, JSON.stringify(conn));
  assert.ok(!conn.extensions.includes('STARTTLS'), 'extensions are those of the EHLO after TLS');
  assert.equal(msg?.tls, true);
  assert.deepEqual(r.commands().map((e) => e.verb).slice(0, 3), ['EHLO', 'STARTTLS', 'EHLO']);
});

test('opportunistic: a failed handshake reconnects in plain text, without STARTTLS', async () => {
  const r = await receiver({ starttls, bad_starttls: true });
  const { conn, msg } = await deliver(r, { tls: 'opportunistic' });
  assert.ok(conn.ok && !conn.tls, JSON.stringify(conn));
  assert.equal(msg?.tls, false);
  assert.equal(r.commands('STARTTLS').length, 1);
  assert.deepEqual(new Set(r.commands().map((e) => e.conn)).size, 2);
});

test('opportunistic with a server without STARTTLS: plain text', async () => {
  const r = await receiver({});
  const { conn, msg } = await deliver(r, { tls: 'opportunistic' });
  assert.ok(conn.ok && !conn.tls);
  assert.equal(msg?.tls, false);
});

test('mandatory STARTTLS verified against the private CA and the MX name', async () => {
  const r = await receiver({ starttls });
  const { conn, msg } = await deliver(r, { tls: 'starttls', verify: true, ca: pki.ca });
  assert.ok(conn.ok && conn.tls, JSON.stringify(conn));
  assert.equal(msg?.tls, true);
});

test('mandatory STARTTLS fails: wrong CA, wrong name, failed handshake, not offered', async () => {
  const tls = await receiver({ starttls });
  const cases: [Receiver, Partial<ClientOptions>, RegExp][] = [
    [tls, { tls: 'starttls', verify: true, ca: pki.otherCa }, /^4\.7\.0 TLS handshake failed: .*(certificate|issuer)/i],
    [tls, { tls: 'starttls', verify: true, ca: pki.ca, servername: 'other.test' }, /^4\.7\.0 TLS handshake failed: .*other\.test/],
    [await receiver({ starttls, bad_starttls: true }), { tls: 'starttls' }, /^4\.7\.0 TLS handshake failed/],
    [await receiver({}), { tls: 'starttls' }, /^4\.7\.0 TLS required but not available$/],
  ];
  for (const [r, over, reply] of cases) {
    const { conn } = await deliver(r, over);
    assert.ok(!conn.ok && conn.status === 'tempfail' && reply.test(conn.reply), `${JSON.stringify(over)}: ${JSON.stringify(conn)}`);
  }
  assert.equal(tls.messages().length, 0);
});

test('implicit TLS (smtps), verified', async () => {
  const r = await receiver({ implicit: starttls });
  const { conn, msg } = await deliver(r, { tls: 'implicit', verify: true, ca: pki.ca });
  assert.ok(conn.ok && conn.tls, JSON.stringify(conn));
  assert.equal(msg?.tls, true);
});

test('a client certificate is presented when configured', async () => {
  const r = await receiver({ starttls, client_ca: pki.caFile });
  const { msg } = await deliver(r, { tls: 'starttls', verify: true, ca: pki.ca, cert: pki.clientCert, key: pki.clientKey });
  assert.equal(msg?.client_cert, 'commonName=relay.client.test');
});

test('AUTH PLAIN over TLS, LOGIN when PLAIN is not offered', async () => {
  for (const mechanisms of [['PLAIN', 'LOGIN'], ['LOGIN']]) {
    const r = await receiver({ starttls, auth: { ...auth, mechanisms } });
    const { conn, msg } = await deliver(r, { tls: 'starttls', auth: { user: auth.user, pass: auth.password } });
    assert.ok(conn.ok, JSON.stringify(conn));
    assert.equal(msg?.auth, auth.user);
    assert.deepEqual(r.commands('AUTH').map((e) => e.arg), [mechanisms[0]]);
  }
});

test('AUTH refusals are temporary: insecure channel, not advertised, wrong password (535)', async () => {
  const withAuth = await receiver({ starttls, auth: { ...auth, mechanisms: ['PLAIN'] } });
  const noAuth = await receiver({ starttls });
  const creds = { user: auth.user, pass: auth.password };
  const cases: [Receiver, Partial<ClientOptions>, RegExp][] = [
    [withAuth, { tls: 'none', auth: creds }, /^4\.7\.0 Refuse to AUTH over insecure channel$/],
    [noAuth, { tls: 'starttls', auth: creds }, /^4\.7\.0 AUTH not advertised$/],
    [withAuth, { tls: 'starttls', auth: { user: auth.user, pass: 'wrong' } }, /^535 5\.7\.8 /],
  ];
  for (const [r, over, reply] of cases) {
    const { conn } = await deliver(r, over);
    assert.ok(!conn.ok && conn.status === 'tempfail' && reply.test(conn.reply), `${JSON.stringify(over)}: ${JSON.stringify(conn)}`);
  }
  // The password never went out in clear text: the one AUTH is the wrong password's, over TLS.
  assert.equal((await withAuth.waitCommands('AUTH', 1)).length, 1);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(withAuth.commands('AUTH').length, 1);
});
