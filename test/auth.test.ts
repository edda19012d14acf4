// End-to-end SMTP AUTH (issue 9): PLAIN and LOGIN offered and accepted only under TLS, against a
// credentials table of crypt(3) strings made by an independent implementation (Python's crypt,
// libxcrypt: bcrypt $2b$/$2y$ and sha512-crypt $6$) and against a system account; wrong passwords
// refused after a delay that grows with repeated failures; CR/LF/NUL refused; `auth` required at
// MAIL; `senders`; relaying only for authenticated sessions (`from auth`, `auth` criteria);
// `received-auth`. Fixed addresses 127.0.3.11-12 (this block).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { startDaemon, type Daemon } from './lib/daemon.js';
import { deliverableUser, uniqueTag, userMaildir } from './lib/conf.js';
import { isRoot, python3 } from './lib/paths.js';
import { header, waitForMessage } from './lib/python.js';
import { makeTestPki, type TestPki } from './lib/pki.js';
import { describeRun, run } from './lib/proc.js';
import { swaksAt } from './lib/swaks.js';
import { show, tlsSession, type TlsSessionResult, type TlsStep } from './lib/tls-clients.js';
import { makeSharedDir, makeTestDir, removeTestDir } from './lib/tmp.js';
import { ensureUsers } from './lib/users.js';

const MX = 'mx.auth.test';
const OPTIONAL = { host: '127.0.3.11', port: 25 };
const SMTPS = { host: '127.0.3.11', port: 465 };
const REQUIRED = { host: '127.0.3.11', port: 587 };
const SYSTEM = { host: '127.0.3.12', port: 587 };
const SYSTEM_USER = 'tsmtpd-auth1';
const PASSWORDS = { alice: 'alice-Secret1', bob: 'bob s3cret', carol: 'carol-pw', sysuser: 'system-Pw9' };

const dir = makeTestDir('auth');
makeSharedDir(`${dir}/mail`);
const user = await deliverableUser('tsmtpd-e3');
const rcpt = `${user}@tls.test`;
let pki: TestPki;
let d: Daemon;
let systemReady = '';

/** crypt(3) with Python's crypt module (libxcrypt): an implementation independent of ours. */
async function pyCrypt(password: string, salt: string): Promise<string> {
  const r = await run(python3, ['-W', 'ignore', '-c', 'import crypt,sys; print(crypt.crypt(sys.argv[1], sys.argv[2]))', password, salt]);
  assert.equal(r.code, 0, describeRun('python3 crypt', r));
  return r.stdout.trim();
}

function config(port: number): string {
  const p = pki.servers[MX];
  if (!p) throw new Error('no pki');
  return [
    `table creds file:${dir}/creds`, `table sendermap file:${dir}/senders`,
    `pki ${MX} cert "${p.certFile}"`, `pki ${MX} key "${p.keyFile}"`,
    `listen on 127.0.0.1 port ${port}`,
    `listen on ${OPTIONAL.host} port ${OPTIONAL.port} tls pki ${MX} hostname ${MX} auth-optional <creds> senders <sendermap> masquerade received-auth`,
    `listen on ${SMTPS.host} port ${SMTPS.port} smtps pki ${MX} hostname ${MX} auth <creds>`,
    `listen on ${REQUIRED.host} port ${REQUIRED.port} tls pki ${MX} hostname ${MX} auth <creds>`,
    `listen on ${SYSTEM.host} port ${SYSTEM.port} tls-require pki ${MX} hostname ${MX} auth`,
    `action "local" maildir "${dir}/mail/%{user.username}/Maildir"`,
    // Nothing listens there: relayed mail just waits in the queue; the test looks at RCPT.
    'action "out" relay host smtp://127.0.3.19:2525',
    // Loopback clients count as local, so no `from local for any` rule here: relaying is for
    // authenticated sessions only.
    'match from auth "bob" for domain "bob-only.test" action "out"',
    'match from auth for domain "relay.test" action "out"',
    'match from any auth for domain "crit.test" action "out"',
    'match from any for domain "tls.test" action "local"',
  ].join('\n') + '\n';
}

before(async () => {
  pki = makeTestPki(dir, [MX], 'self.auth.test');
  const creds = [
    `alice ${await pyCrypt(PASSWORDS.alice, '$2b$10$abcdefghijklmnopqrstuv')}`,
    `bob ${await pyCrypt(PASSWORDS.bob, '$6$saltsaltsalt$')}`,
    `carol ${await pyCrypt(PASSWORDS.carol, '$2y$11$0123456789abcdefghijkl')}`,
  ];
  writeFileSync(`${dir}/creds`, creds.join('\n') + '\n');
  writeFileSync(`${dir}/senders`, 'alice alice@tls.test, @alice.test\nbob bob@tls.test\n');
  if (isRoot()) {
    const u = await ensureUsers([SYSTEM_USER]);
    const hash = await pyCrypt(PASSWORDS.sysuser, '$6$sysaltsysalt$');
    const r = u.ok ? await run('usermod', ['-p', hash, SYSTEM_USER]) : undefined;
    systemReady = r?.code === 0 ? '' : `cannot set a password for ${SYSTEM_USER}`;
  } else systemReady = 'not root: no system account to authenticate';
  d = await startDaemon({ dir, config: (ctx) => config(ctx.port) });
});
after(async () => {
  await d?.stop();
  removeTestDir(dir);
});

async function session(at: { host: string; port: number }, steps: TlsStep[], mode: 'plain' | 'smtps' = 'plain'): Promise<TlsSessionResult> {
  return tlsSession({ ...at, mode, cafile: pki.caFile, servername: MX, steps });
}

const authStep = (u: keyof typeof PASSWORDS, mech: 'PLAIN' | 'LOGIN', password = PASSWORDS[u]): TlsStep => ({ op: 'auth', mech, user: u === 'sysuser' ? SYSTEM_USER : u, password });

test('before TLS: no AUTH in EHLO and AUTH PLAIN/LOGIN refused; after STARTTLS: offered, bcrypt and sha512-crypt accepted', async () => {
  const r = await session(REQUIRED, [
    { op: 'ehlo' }, authStep('alice', 'PLAIN'), authStep('bob', 'LOGIN'),
    { op: 'starttls' }, { op: 'ehlo' }, authStep('alice', 'PLAIN'), { op: 'quit' },
  ]);
  assert.equal(r.replies[1]?.code, 530, show(r.replies[1]));
  assert.equal(r.replies[2]?.code, 530, show(r.replies[2]));
  assert.equal(r.replies[5]?.code, 235, `${show(r.replies[5])}\n${d.describe()}`);
  assert.equal(r.features['auth']?.trim(), 'PLAIN LOGIN', JSON.stringify(r.features));
  for (const [u, mech] of [['bob', 'LOGIN'], ['carol', 'PLAIN'], ['bob', 'PLAIN'], ['alice', 'LOGIN']] as const) {
    const s = await session(REQUIRED, [{ op: 'ehlo' }, { op: 'starttls' }, { op: 'ehlo' }, authStep(u, mech), { op: 'quit' }]);
    assert.equal(s.replies[3]?.code, 235, `${u} ${mech}: ${show(s.replies[3])}`);
  }
});

test('plain session: EHLO lists no AUTH; `auth` listener: MAIL without AUTH gets 530 5.5.1', async () => {
  const plain = await session(OPTIONAL, [{ op: 'ehlo' }, { op: 'quit' }]);
  assert.ok(!('auth' in plain.features) && 'starttls' in plain.features, JSON.stringify(plain.features));
  const r = await session(REQUIRED, [{ op: 'ehlo' }, { op: 'starttls' }, { op: 'ehlo' }, { op: 'mail', addr: 'alice@tls.test' }, { op: 'quit' }]);
  assert.equal(r.replies[3]?.code, 530, show(r.replies[3]));
  assert.match(r.replies[3]?.text ?? '', /^5\.5\.1 Invalid command: Must issue an AUTH command first/);
});

test('a wrong password is refused with 535 after a pause; repeated failures slow down; the third closes the session', async () => {
  const bad = (n: number): TlsStep => ({ op: 'auth', mech: 'PLAIN', user: 'alice', password: `wrong-${n}` });
  const r = await session(SMTPS, [{ op: 'ehlo' }, bad(1), bad(2), bad(3), { op: 'ehlo' }], 'smtps');
  assert.equal(r.replies[1]?.code, 535, show(r.replies[1]));
  assert.match(r.replies[1]?.text ?? '', /^5\.7\.8 Authentication failed/);
  assert.equal(r.replies[2]?.code, 535, show(r.replies[2]));
  assert.ok((r.replies[2]?.ms ?? 0) >= 1000, `second failure answered after ${r.replies[2]?.ms} ms, wanted >= 1 s`);
  assert.equal(r.replies[3]?.code, 421, show(r.replies[3]));
  assert.ok((r.replies[3]?.ms ?? 0) >= 2000, `third failure answered after ${r.replies[3]?.ms} ms, wanted >= 2 s`);
  assert.ok(r.replies[4]?.error !== undefined, `the session should be closed: ${show(r.replies[4])}`);
  // A right password from the same address still works, and clears its record.
  const ok = await session(SMTPS, [{ op: 'ehlo' }, authStep('alice', 'PLAIN'), { op: 'quit' }], 'smtps');
  assert.equal(ok.replies[1]?.code, 235, show(ok.replies[1]));
  const unknown = await session(SMTPS, [{ op: 'ehlo' }, { op: 'auth', mech: 'LOGIN', user: 'nobody', password: 'x' }, { op: 'quit' }], 'smtps');
  assert.equal(unknown.replies[1]?.code, 535, show(unknown.replies[1]));
});

test('CR, LF or NUL in a user name or password is refused with 501, never looked up', async () => {
  for (const [u, p] of [['alice', 'alice-Secret1\r\nMAIL FROM:<x@y>'], ['alice\nbob', 'x'], ['alice', 'pw\u0000more']]) {
    const r = await session(SMTPS, [{ op: 'ehlo' }, { op: 'auth', mech: 'LOGIN', user: u ?? '', password: p ?? '' }, { op: 'quit' }], 'smtps');
    assert.equal(r.replies[1]?.code, 501, `${JSON.stringify([u, p])}: ${show(r.replies[1])}`);
  }
});

test('senders: an authenticated user may only use the MAIL FROM listed for them (530 5.7.1 otherwise)', async () => {
  const tls: TlsStep[] = [{ op: 'ehlo' }, { op: 'starttls' }, { op: 'ehlo' }];
  const r = await session(OPTIONAL, [...tls, authStep('alice', 'PLAIN'),
    { op: 'mail', addr: 'bob@tls.test' }, { op: 'mail', addr: 'anyone@alice.test' }, { op: 'cmd', line: 'RSET' }, { op: 'mail', addr: 'alice@tls.test' }, { op: 'quit' }]);
  assert.equal(r.replies[4]?.code, 530, show(r.replies[4]));
  assert.match(r.replies[4]?.text ?? '', /^5\.7\.1 Sender rejected/);
  assert.equal(r.replies[5]?.code, 250, show(r.replies[5]));
  assert.equal(r.replies[7]?.code, 250, show(r.replies[7]));
  // Unauthenticated sessions are not checked (they relay nothing anyway).
  const anon = await session(OPTIONAL, [...tls, { op: 'mail', addr: 'bob@tls.test' }, { op: 'quit' }]);
  assert.equal(anon.replies[3]?.code, 250, show(anon.replies[3]));
});

test('relaying: refused unless authenticated; `from auth USER` and the `auth` criterion', async () => {
  const tls: TlsStep[] = [{ op: 'ehlo' }, { op: 'starttls' }, { op: 'ehlo' }];
  const rcpts: TlsStep[] = ['x@relay.test', 'x@crit.test', 'x@bob-only.test'].map((addr) => ({ op: 'rcpt', addr }));
  const anon = await session(OPTIONAL, [...tls, { op: 'mail', addr: 'someone@client.test' }, ...rcpts, { op: 'quit' }]);
  assert.deepEqual(anon.replies.slice(4, 7).map((x) => x.code), [550, 550, 550], anon.replies.map(show).join('\n'));
  const alice = await session(OPTIONAL, [...tls, authStep('alice', 'PLAIN'), { op: 'mail', addr: 'alice@tls.test' }, ...rcpts, { op: 'quit' }]);
  assert.deepEqual(alice.replies.slice(5, 8).map((x) => x.code), [250, 250, 550], alice.replies.map(show).join('\n'));
  const bob = await session(OPTIONAL, [...tls, authStep('bob', 'LOGIN'), { op: 'mail', addr: 'bob@tls.test' }, ...rcpts, { op: 'quit' }]);
  assert.deepEqual(bob.replies.slice(5, 8).map((x) => x.code), [250, 250, 250], bob.replies.map(show).join('\n'));
});

test('swaks --tls --auth delivers; received-auth puts the user in Received (ESMTPSA), masquerade the sender in From:', async () => {
  const tag = uniqueTag('auth');
  const r = await swaksAt(`${OPTIONAL.host}:${OPTIONAL.port}`, ['--tls', '--tls-verify', '--tls-ca-path', pki.caFile, '--tls-sni', MX,
    '--auth', 'LOGIN', '--auth-user', 'bob', '--auth-password', PASSWORDS.bob, '--from', 'bob@tls.test', '--to', rcpt, '--header', `Subject: ${tag}`, '--header', 'From: Bob B <someone@elsewhere.test>']);
  assert.equal(r.code, 0, describeRun('swaks --tls --auth', r) + d.describe());
  const m = await waitForMessage('maildir', userMaildir(dir, user), (x) => header(x, 'subject') === tag);
  assert.ok(m, `not delivered\n${d.describe()}`);
  assert.match(header(m, 'received') ?? '', /with ESMTPSA id [0-9a-f]{8} \(TLSv1\.3:[A-Z0-9_]+:\d+:NO\) auth=yes user=bob/);
  assert.equal(header(m, 'from'), 'Bob B <bob@tls.test>', 'senders ... masquerade rewrites From: to the envelope sender');
});

test('auth without a table: the system account password (sha512-crypt in /etc/shadow)', async (t) => {
  if (systemReady) return t.skip(systemReady);
  const tls: TlsStep[] = [{ op: 'ehlo' }, { op: 'starttls' }, { op: 'ehlo' }];
  const ok = await session(SYSTEM, [...tls, authStep('sysuser', 'PLAIN'), { op: 'quit' }]);
  assert.equal(ok.replies[3]?.code, 235, `${show(ok.replies[3])}\n${d.describe()}`);
  const bad = await session(SYSTEM, [...tls, authStep('sysuser', 'LOGIN', 'nope'), { op: 'quit' }]);
  assert.equal(bad.replies[3]?.code, 535, show(bad.replies[3]));
});
