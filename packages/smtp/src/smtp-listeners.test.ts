// Listener options on the wire: every address of a listener (IPv4 and IPv6), hostname,
// tag, mask-src, no-dsn, and the enqueue socket's refusal to steal a live socket.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { enqueueSocketPath } from './index.js';
import { WireClient, inetListener, openTransaction, startSmtp } from './test-harness.js';

test('every address of a listener is bound: IPv4 and IPv6', async () => {
  const s = await startSmtp({ listener: { addresses: [{ address: '127.0.0.1', family: 4 }, { address: '::1', family: 6 }] } });
  try {
    const bound = await s.actor.mailbox.listening();
    assert.equal(bound.length, 2);
    assert.match(bound[0] ?? '', /^127\.0\.0\.1:\d+$/);
    assert.match(bound[1] ?? '', /^\[::1\]:\d+$/);
    const port6 = Number((bound[1] ?? '').split(':').pop());
    const c = await WireClient.open(port6, 5000, '::1');
    assert.equal((await c.reply()).code, 220);
    assert.equal(await c.cmd('EHLO v6.example').then((l) => l.split('\n')[0]), '250-mx.test.example Hello v6.example [::1], pleased to meet you');
    await c.cmd('MAIL FROM:<a@example.org>');
    await c.cmd('RCPT TO:<alice@example.org>');
    await c.cmd('DATA');
    c.write('Subject: v6\r\n\r\nx\r\n.\r\n');
    assert.match((await c.reply()).raw[0] ?? '', /^250 /);
    const body = s.queue.body(s.queue.committed.at(-1) ?? '').toString();
    assert.match(body, /^Received: from v6\.example \(unknown \[IPv6:::1\]\)\n/);
    c.close();
  } finally {
    await s.stop();
  }
});

test('hostname, tag, mask-src and no-dsn listener options', async () => {
  const s = await startSmtp({ listener: { hostname: 'mail.other.example', tag: 'INBOUND', maskSrc: true, noDsn: true } });
  try {
    const c = await WireClient.open(s.port);
    assert.equal((await c.reply()).raw[0], '220 mail.other.example ESMTP tsmtpd');
    const ehlo = (await c.cmd('EHLO client.example')).split('\n');
    assert.equal(ehlo[0], '250-mail.other.example Hello client.example [127.0.0.1], pleased to meet you');
    assert.ok(!ehlo.some((l) => l.includes('DSN')));
    assert.equal(await c.cmd('MAIL FROM:<a@example.org> RET=FULL'), '555 5.5.4 Unsupported option RET');
    assert.equal(await c.cmd('MAIL FROM:<a@example.org>'), '250 2.1.0 Ok');
    assert.equal(await c.cmd('RCPT TO:<alice@example.org> NOTIFY=NEVER'), '555 5.5.4 Unsupported option NOTIFY');
    assert.equal(await c.cmd('RCPT TO:<alice@example.org>'), '250 2.1.5 Destination address valid: Recipient ok');
    await c.cmd('DATA');
    c.write('Subject: masked\r\n\r\nx\r\n.\r\n');
    assert.match((await c.reply()).raw[0] ?? '', /^250 /);
    const msgid = s.queue.committed.at(-1) ?? '';
    assert.match(s.queue.body(msgid).toString(), new RegExp(`^Received: by mail\\.other\\.example \\(tsmtpd\\) with ESMTP id ${msgid}\\n\\tfor <alice@example\\.org>;\\n\\t`));
    const env = s.queue.envelopes.get(msgid)?.[0];
    assert.equal(env?.tag, 'INBOUND');
    assert.equal(env?.smtpname, 'mail.other.example');
    const req = s.lka.requests.at(-1);
    assert.equal(req?.session.tag, 'INBOUND');
    assert.equal(req?.session.smtpname, 'mail.other.example');
    assert.equal(req?.session.socket, false);
    assert.equal(req?.session.remoteAddress, '127.0.0.1');
    c.close();
  } finally {
    await s.stop();
  }
});

test('RCPT TO:<postmaster> is accepted as postmaster@<our name>', async () => {
  const s = await startSmtp({ config: (c) => void (c.serverName = 'example.org') });
  try {
    const c = await openTransaction(s.port, 'alice@example.org');
    assert.equal(await c.cmd('RCPT TO:<Postmaster>'), '250 2.1.5 Destination address valid: Recipient ok');
    assert.equal(s.lka.requests.at(-1)?.rcpt, 'postmaster@example.org');
    c.close();
  } finally {
    await s.stop();
  }
});

test('a live process on the enqueue socket path is left alone; inet still serves', async () => {
  const { mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const spool = await mkdtemp(join(tmpdir(), 'tsmtpd-sock-'));
  const squatter = createServer((sock) => {
    sock.on('error', () => undefined);
    sock.end('squatter\r\n');
  });
  await new Promise<void>((r) => squatter.listen(enqueueSocketPath(spool), r));
  const s = await startSmtp({ spool });
  try {
    const c = await WireClient.open(enqueueSocketPath(spool));
    assert.equal(await new Promise((r) => c.socket.once('data', (d) => r(String(d)))), 'squatter\r\n');
    c.close();
    const d = await WireClient.open(s.port);
    assert.equal((await d.reply()).code, 220);
    d.close();
  } finally {
    await s.stop();
    await new Promise((r) => squatter.close(r));
    await rm(spool, { recursive: true, force: true });
  }
});

test('two inet listeners, each with its own name', async () => {
  const s = await startSmtp({ config: (c) => void c.listeners.push(inetListener({ hostname: 'second.example' })) });
  try {
    const bound = await s.actor.mailbox.listening();
    assert.equal(bound.length, 2);
    const port2 = Number((bound[1] ?? '').split(':').pop());
    const c = await WireClient.open(port2);
    assert.equal((await c.reply()).raw[0], '220 second.example ESMTP tsmtpd');
    c.close();
  } finally {
    await s.stop();
  }
});
