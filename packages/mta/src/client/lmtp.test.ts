// LMTP (RFC 2033 4.2): a reply per accepted recipient after the data, against aiosmtpd's LMTP
// server with scripted per-recipient replies and against Debian's dovecot LMTP on a loopback
// port (needs root and dovecot-lmtpd; started here with a generated config, stopped by PID).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createClientSession } from './index.js';
import { bodyOf, freePort, options, sleep, startReceiver, tempDir, type Receiver } from './test-peers.js';
import type { Transaction } from './types.js';

const dir = tempDir('lmtp');
const receivers: Receiver[] = [];
let dovecot: ChildProcess | undefined;
after(async () => {
  await Promise.all(receivers.map((r) => r.stop()));
  if (dovecot?.pid !== undefined && dovecot.exitCode === null) {
    const gone = new Promise((r) => dovecot!.once('exit', r));
    process.kill(dovecot.pid, 'SIGTERM');
    await Promise.race([gone, sleep(5000)]);
    if (dovecot.exitCode === null) process.kill(dovecot.pid, 'SIGKILL');
  }
  dir.remove();
});

function tx(rcpts: string[]): Transaction {
  return {
    mailFrom: 'a@x.test',
    smtputf8: false,
    eightBit: false,
    size: 50,
    recipients: rcpts.map((address) => ({ address, notify: 0 })),
    body: bodyOf('Subject: over lmtp\n\n.dot line\nbody\n'),
  };
}

test('aiosmtpd LMTP: each accepted recipient gets its own reply after the data', async () => {
  const r = await startReceiver(dir.path, {
    lmtp: true,
    pipelining: true,
    rcpt_replies: { 'nobody@y.test': '550 5.1.1 <nobody@y.test> unknown' },
    eod_replies: { 'full@y.test': '452 4.2.2 <full@y.test> mailbox full', 'gone@y.test': '552 5.2.2 <gone@y.test> over quota for good' },
  });
  receivers.push(r);
  const c = createClientSession(options(r.port, { lmtp: true }));
  assert.ok((await c.connect()).ok);
  const res = await c.send(tx(['ok@y.test', 'nobody@y.test', 'full@y.test', 'gone@y.test', 'ok2@y.test']));
  assert.ok(res.ok);
  assert.deepEqual(res.recipients, [
    { status: 'ok', reply: '250 2.0.0 <ok@y.test> delivered' },
    { status: 'permfail', reply: '550 5.1.1 <nobody@y.test> unknown' },
    { status: 'tempfail', reply: '452 4.2.2 <full@y.test> mailbox full' },
    { status: 'permfail', reply: '552 5.2.2 <gone@y.test> over quota for good' },
    { status: 'ok', reply: '250 2.0.0 <ok2@y.test> delivered' },
  ]);
  // The LMTP transaction is complete after its replies: the next MAIL follows without RSET.
  const again = await c.send(tx(['ok@y.test']));
  assert.ok(again.ok && again.recipients[0]?.status === 'ok');
  await c.quit();
  assert.deepEqual(r.commands().map((e) => e.verb), ['LHLO', 'MAIL', 'RCPT', 'RCPT', 'RCPT', 'RCPT', 'RCPT', 'DATA', 'MAIL', 'RCPT', 'DATA', 'QUIT']);
  const [m] = await r.waitMessages(1);
  assert.equal(Buffer.from(m!.data, 'base64').toString(), 'Subject: over lmtp\r\n\r\n.dot line\r\nbody\r\n');
});

const DOVECOT = '/usr/sbin/dovecot';
const NOBODY = 65534;
const dovecotSkip = process.getuid?.() !== 0 ? 'needs root' : !existsSync(DOVECOT) || !existsSync('/usr/lib/dovecot/lmtp') ? 'needs dovecot-core and dovecot-lmtpd' : false;

async function startDovecot(d: string, port: number): Promise<void> {
  for (const sub of ['run', 'state', 'mail']) mkdirSync(join(d, sub));
  chownSync(join(d, 'mail'), NOBODY, NOBODY);
  writeFileSync(join(d, 'users'), ['alice', 'bob'].map((u) => `${u}:{PLAIN}x:${NOBODY}:${NOBODY}::${d}/mail/${u}::\n`).join(''));
  writeFileSync(
    join(d, 'dovecot.conf'),
    `protocols = lmtp
base_dir = ${d}/run
state_dir = ${d}/state
instance_name = tsmtpd-mta-client-${process.pid}
listen = 127.0.0.1
ssl = no
log_path = ${d}/dovecot.log
default_internal_user = root
default_internal_group = root
default_login_user = root
mail_location = maildir:${d}/mail/%n/Maildir
auth_username_format = %Ln
passdb {
  driver = passwd-file
  args = ${d}/users
}
userdb {
  driver = passwd-file
  args = ${d}/users
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = ${port}
  }
}
`,
  );
  dovecot = spawn(DOVECOT, ['-F', '-c', join(d, 'dovecot.conf')], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const c = createClientSession(options(port, { lmtp: true, connectTimeoutMs: 500 }));
    if ((await c.connect()).ok) return void (await c.quit());
    await sleep(100);
  }
  throw new Error(`dovecot did not listen on ${port}: ${existsSync(join(d, 'dovecot.log')) ? readFileSync(join(d, 'dovecot.log'), 'utf8') : ''}`);
}

test('dovecot LMTP: two users delivered, an unknown one refused at RCPT', { skip: dovecotSkip }, async () => {
  const d = join(dir.path, 'dovecot');
  mkdirSync(d);
  // Deliveries run as nobody, who must reach the maildirs through the temp dir.
  chmodSync(dir.path, 0o755);
  const port = await freePort();
  await startDovecot(d, port);
  const c = createClientSession(options(port, { lmtp: true }));
  const conn = await c.connect();
  assert.ok(conn.ok && conn.extensions.includes('PIPELINING'), JSON.stringify(conn));
  const res = await c.send(tx(['alice@y.test', 'carol@y.test', 'bob@y.test']));
  assert.ok(res.ok, JSON.stringify(res));
  assert.deepEqual(res.recipients.map((o) => o.status), ['ok', 'permfail', 'ok'], JSON.stringify(res.recipients));
  assert.match(res.recipients[0]!.reply, /^250 2\.0\.0 <alice@y\.test> /);
  assert.match(res.recipients[1]!.reply, /^550 5\.1\.1 /);
  assert.match(res.recipients[2]!.reply, /^250 2\.0\.0 <bob@y\.test> /);
  await c.quit();
  for (const u of ['alice', 'bob']) {
    const nd = join(d, 'mail', u, 'Maildir', 'new');
    const files = readdirSync(nd);
    assert.equal(files.length, 1, u);
    const text = readFileSync(join(nd, files[0]!), 'utf8');
    assert.ok(text.endsWith('Subject: over lmtp\n\n.dot line\nbody\n'), text);
  }
});
