// The smtp actor on a real socket: greeting, EHLO, exact reply lines (codes and our
// enhanced codes), address validation, limits, pipelining, rollback, pause and resume.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { WireClient, eventually, openTransaction, startSmtp, type SmtpUnderTest } from './test-harness.js';

let t: SmtpUnderTest;
before(async () => {
  t = await startSmtp({ config: (c) => {
    c.smtp.maxMessageSize = 10_000;
    c.smtp.maxRcpt = 3;
    c.smtp.maxMails = 2;
  } });
});
after(async () => {
  await t.stop();
});

async function session(): Promise<WireClient> {
  const c = await WireClient.open(t.port);
  await c.reply();
  await c.cmd('EHLO client.example');
  return c;
}

test('listening() reports the bound address with the real port', async () => {
  const bound = await t.actor.mailbox.listening();
  assert.equal(bound.length, 1);
  assert.match(bound[0] ?? '', /^127\.0\.0\.1:\d+$/);
  assert.ok(t.port > 0);
});

test('the greeting comes at once (no 100 ms early-talker wait) and names us', async () => {
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const c = await WireClient.open(t.port);
    const g = await c.reply();
    const ms = performance.now() - t0;
    assert.equal(g.raw[0], '220 mx.test.example ESMTP tsmtpd');
    times.push(ms);
    c.close();
  }
  // Not a speed target (those live in scripts/bench): the library's fixed 100 ms wait would put
  // every greeting above it; the fastest of five below it shows the wait is gone even when a
  // loaded machine delays some of them.
  assert.ok(Math.min(...times) < 90, `greetings after ${times.map((m) => m.toFixed(1)).join(', ')} ms`);
});

test('EHLO greets the client and advertises our extensions', async () => {
  const c = await WireClient.open(t.port);
  await c.reply();
  c.write('EHLO client.example\r\n');
  const r = await c.reply();
  assert.equal(r.code, 250);
  assert.equal(r.raw[0], '250-mx.test.example Hello client.example [127.0.0.1], pleased to meet you');
  const ext = r.lines.slice(1);
  for (const e of ['8BITMIME', 'SIZE 10000', 'ENHANCEDSTATUSCODES', 'PIPELINING', 'DSN', 'SMTPUTF8']) assert.ok(ext.includes(e), `${e} in ${ext.join(',')}`);
  for (const e of ['STARTTLS', 'CHUNKING']) assert.ok(!ext.some((x) => x.startsWith(e)), `${e} not offered`);
  assert.ok(!ext.some((x) => x.startsWith('AUTH')), 'AUTH not offered');
  c.close();
});

test('HELO answers one line', async () => {
  const c = await WireClient.open(t.port);
  await c.reply();
  assert.equal(await c.cmd('HELO client.example'), '250 mx.test.example Hello client.example [127.0.0.1], pleased to meet you');
  c.close();
});

test('exact replies: relay refusal, unknown user, accepted sender and recipient', async () => {
  const c = await session();
  assert.equal(await c.cmd('MAIL FROM:<sender@remote.example>'), '250 2.1.0 Ok');
  assert.equal(await c.cmd('RCPT TO:<someone@elsewhere.example>'), '550 5.7.1 Relaying denied');
  assert.equal(await c.cmd('RCPT TO:<unknown@example.org>'), '550 5.1.1 Invalid recipient: user unknown');
  assert.equal(await c.cmd('RCPT TO:<alice@example.org>'), '250 2.1.5 Destination address valid: Recipient ok');
  assert.equal(await c.cmd('RSET'), '250 2.0.0 Reset state');
  assert.equal(await c.cmd('NOOP'), '250 2.0.0 Ok');
  assert.equal(await c.cmd('QUIT'), '221 2.0.0 Bye');
  assert.ok(await c.waitClosed());
});

test('exact replies: bad syntax, sequence errors, unknown commands', async () => {
  const c = await WireClient.open(t.port);
  await c.reply();
  assert.equal(await c.cmd('MAIL FROM:<a@example.org>'), '503 5.5.1 Invalid command: Send HELO/EHLO first');
  await c.cmd('EHLO client.example');
  assert.equal(await c.cmd('RCPT TO:<alice@example.org>'), '503 5.5.1 Invalid command: Command not allowed at this point.');
  assert.equal(await c.cmd('DATA'), '503 5.5.1 Invalid command: Command not allowed at this point.');
  assert.equal(await c.cmd('MAIL FROM:<bad address>'), '553 5.1.7 Sender address syntax error');
  assert.equal(await c.cmd('MAIL FROM:<a@example.org> FOO=bar'), '555 5.5.4 Unsupported option FOO');
  assert.equal(await c.cmd('MAIL FROM:<a@example.org>'), '250 2.1.0 Ok');
  assert.equal(await c.cmd('MAIL FROM:<a@example.org>'), '503 5.5.1 Invalid command: Command not allowed at this point.');
  assert.equal(await c.cmd('DATA'), '503 5.5.1 Invalid command: No recipient specified');
  assert.equal(await c.cmd('RCPT TO:<no-at-sign>'), '501 5.1.3 Recipient address syntax error');
  assert.equal(await c.cmd('RCPT TO:<a..b@example.org>'), '501 5.1.3 Recipient address syntax error');
  assert.equal(await c.cmd('VRFY alice'), '500 5.5.1 Invalid command: Command unrecognized');
  assert.equal(await c.cmd('STARTTLS'), '500 5.5.1 Invalid command: Command unrecognized');
  assert.equal(await c.cmd('BDAT 10 LAST'), '500 5.5.1 Invalid command: Command unrecognized');
  c.close();
});

test('CVE-2020-7247 style senders are refused; RFC-valid odd local parts are not', async () => {
  const c = await session();
  for (const bad of ['<;sleep 1;>', '<;sleep;>', '<`x`>', '<a|b>', '<$(x)@example.org>', '<x@;sleep 1;>', '<root>']) {
    assert.equal(await c.cmd(`MAIL FROM:${bad}`), '553 5.1.7 Sender address syntax error', bad);
    assert.match(await c.cmd('RCPT TO:<alice@example.org>'), /^503 /, `no transaction after ${bad}`);
  }
  assert.equal(await c.cmd('MAIL FROM:<a|b@example.org>'), '250 2.1.0 Ok');
  assert.equal(await c.cmd('RCPT TO:<`x`@example.org>'), '250 2.1.5 Destination address valid: Recipient ok');
  assert.equal(await c.cmd('RCPT TO:<;sleep 1;@example.org>'), '501 5.1.3 Recipient address syntax error');
  const req = t.lka.requests.at(-1);
  assert.equal(req?.rcpt, '`x`@example.org');
  assert.equal(req?.sender, 'a|b@example.org');
  c.close();
});

test('UTF-8 addresses need SMTPUTF8', async () => {
  const c = await session();
  assert.equal(await c.cmd('MAIL FROM:<jörg@example.org>'), '553 5.1.7 Sender address syntax error');
  c.write('MAIL FROM:<j\xf6rg@example.org> SMTPUTF8\r\n'); // latin1, not UTF-8
  assert.equal((await c.reply()).raw[0], '553 5.1.7 Sender address syntax error');
  assert.equal(await c.cmd('MAIL FROM:<jörg@example.org> SMTPUTF8'), '250 2.1.0 Ok');
  assert.equal(await c.cmd('RCPT TO:<jörg@example.org>'), '250 2.1.5 Destination address valid: Recipient ok');
  assert.equal(t.lka.requests.at(-1)?.sender, 'jörg@example.org');
  await c.cmd('RSET');
  // An ACE domain stays ASCII in a session without SMTPUTF8.
  assert.equal(await c.cmd('MAIL FROM:<a@xn--bcher-kva.example>'), '250 2.1.0 Ok');
  assert.equal(await c.cmd('RCPT TO:<alice@example.org>'), '250 2.1.5 Destination address valid: Recipient ok');
  assert.equal(t.lka.requests.at(-1)?.sender, 'a@xn--bcher-kva.example');
  c.close();
});

test('SIZE over the limit is refused at MAIL FROM', async () => {
  const c = await session();
  assert.equal(await c.cmd('MAIL FROM:<a@example.org> SIZE=10001'), '552 5.3.4 Message size exceeds fixed maximum message size');
  assert.equal(await c.cmd('MAIL FROM:<a@example.org> SIZE=9000'), '250 2.1.0 Ok');
  c.close();
});

test('max-rcpt: the recipient over the limit gets 452 4.5.3', async () => {
  const c = await session();
  await c.cmd('MAIL FROM:<a@example.org>');
  for (const u of ['u1', 'u2', 'u3']) assert.equal(await c.cmd(`RCPT TO:<${u}@example.org>`), '250 2.1.5 Destination address valid: Recipient ok');
  assert.equal(await c.cmd('RCPT TO:<u4@example.org>'), '452 4.5.3 Too many recipients');
  c.close();
});

test('max-mails: the MAIL over the session limit gets 452 4.5.3', async () => {
  const c = await session();
  assert.equal(await c.cmd('MAIL FROM:<a@example.org>'), '250 2.1.0 Ok');
  await c.cmd('RSET');
  assert.equal(await c.cmd('MAIL FROM:<a@example.org>'), '250 2.1.0 Ok');
  await c.cmd('RSET');
  assert.equal(await c.cmd('MAIL FROM:<a@example.org>'), '452 4.5.3 Too many messages sent in this session');
  c.close();
});

test('RSET and disconnect roll the message back in the queue', async () => {
  const c = await openTransaction(t.port);
  const rolled = t.queue.rolledBack.length;
  assert.equal(await c.cmd('RSET'), '250 2.0.0 Reset state');
  assert.ok(await eventually(() => t.queue.rolledBack.length === rolled + 1), 'rolled back on RSET');
  const msgid1 = t.queue.rolledBack.at(-1) ?? '';
  await c.cmd('MAIL FROM:<a@example.org>');
  await c.cmd('RCPT TO:<alice@example.org>');
  c.close();
  assert.ok(await eventually(() => t.queue.rolledBack.length === rolled + 2), 'rolled back on disconnect');
  const msgid2 = t.queue.rolledBack.at(-1) ?? '';
  assert.notEqual(msgid1, msgid2);
  assert.ok(t.queue.reserved.includes(msgid1) && t.queue.reserved.includes(msgid2), 'ids from the reserved stock');
});

test('a second EHLO resets the transaction and rolls it back', async () => {
  const c = await openTransaction(t.port);
  const rolled = t.queue.rolledBack.length;
  c.write('EHLO again.example\r\n');
  await c.reply();
  assert.ok(await eventually(() => t.queue.rolledBack.length === rolled + 1));
  c.close();
});

test('DSN parameters reach the envelope; a repeated recipient gets one envelope', async () => {
  const c = await session();
  assert.equal(await c.cmd('MAIL FROM:<a@example.org> RET=HDRS ENVID=QQ+2Bid'), '250 2.1.0 Ok');
  assert.equal(await c.cmd('RCPT TO:<alice@example.org> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;Alice@Example.org'), '250 2.1.5 Destination address valid: Recipient ok');
  assert.equal(await c.cmd('RCPT TO:<bob@example.org> NOTIFY=NEVER'), '250 2.1.5 Destination address valid: Recipient ok');
  assert.equal(await c.cmd('RCPT TO:<Bob@example.org>'), '250 2.1.5 Destination address valid: Recipient ok');
  assert.equal(await c.cmd('RCPT TO:<carol@example.org> NOTIFY=NEVER,SUCCESS'), '501 5.5.4 NOTIFY=NEVER cannot be combined with other values');
  assert.equal(await c.cmd('RCPT TO:<carol@example.org> ORCPT=rfc822;not-an-address'), '501 5.1.3 ORCPT address syntax error');
  assert.equal(await c.cmd('RCPT TO:<list@example.org>'), '250 2.1.5 Destination address valid: Recipient ok');
  // The envelopes reach the queue with the message.
  assert.equal(await c.cmd('DATA'), '354 Enter mail, end with "." on a line by itself');
  c.write('Subject: dsn\r\n\r\nx\r\n.\r\n');
  const accepted = (await c.reply()).raw[0] ?? '';
  const msgid = /^250 2\.0\.0 ([0-9a-f]{8}) /.exec(accepted)?.[1] ?? 'none';
  const envs = t.queue.envelopes.get(msgid) ?? [];
  assert.equal(envs.length, 4);
  const [alice, bob, l1, l2] = envs;
  assert.equal(alice?.dsnNotify, 1 | 4);
  assert.equal(alice?.dsnRet, 'HDRS');
  assert.equal(alice?.dsnEnvid, 'QQ+id');
  assert.equal(alice?.dsnOrcpt, 'rfc822;Alice@Example.org');
  assert.equal(bob?.dsnNotify, 8);
  assert.deepEqual([l1?.rcpt, l1?.dest, l2?.dest], ['list@example.org', 'alice@example.org', 'bob@example.org']);
  assert.equal(alice?.sockaddr, '127.0.0.1');
  assert.equal(alice?.helo, 'client.example');
  assert.equal(alice?.smtpname, 'mx.test.example');
  assert.equal(alice?.msgid, msgid);
  assert.ok(alice?.id.startsWith(msgid));
  c.close();
});

test('pipelined commands get their replies in order', async () => {
  const c = await WireClient.open(t.port);
  await c.reply();
  c.write('EHLO pipe.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<alice@example.org>\r\nRCPT TO:<x@elsewhere.example>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n');
  const codes: string[] = [];
  for (let i = 0; i < 6; i++) codes.push((await c.reply()).raw.at(-1) ?? '');
  assert.deepEqual(codes.map((l) => l.slice(0, 3)), ['250', '250', '250', '550', '250', '354']);
  c.write('Subject: pipelined\r\n\r\nbody\r\n.\r\nQUIT\r\n');
  assert.match((await c.reply()).raw[0] ?? '', /^250 2\.0\.0 [0-9a-f]{8} Message accepted for delivery$/);
  assert.equal((await c.reply()).raw[0], '221 2.0.0 Bye');
  c.close();
});

test('pause refuses new sessions with 421, resume restores them', async () => {
  await t.actor.mailbox.pause();
  try {
    const c = await WireClient.open(t.port);
    assert.equal((await c.reply()).raw[0], '421 4.3.2 Service temporarily unavailable');
    assert.ok(await c.waitClosed());
  } finally {
    await t.actor.mailbox.resume();
  }
  const c = await WireClient.open(t.port);
  assert.equal((await c.reply()).code, 220);
  c.close();
});

test('a command line over 16 KiB: 500 5.5.2 and the connection is closed', async () => {
  const c = await session();
  c.write(`NOOP ${'x'.repeat(20_000)}\r\n`);
  assert.equal((await c.reply()).raw[0], '500 5.5.2 Line too long');
  assert.ok(await c.waitClosed());
});

test('an HTTP request is refused with 421 and closed', async () => {
  const c = await WireClient.open(t.port);
  await c.reply();
  assert.equal(await c.cmd('GET / HTTP/1.1'), '421 4.7.0 HTTP requests not allowed');
  assert.ok(await c.waitClosed());
});

test('log lines: connected, message, envelope, disconnected (OpenSMTPD style)', async () => {
  const s = await startSmtp({ logs: true });
  let log = '';
  s.actor.handle.worker.stderr.on('data', (d: Buffer) => (log += d.toString()));
  try {
    const c = await openTransaction(s.port, 'list@example.org');
    await c.cmd('DATA');
    c.write('Subject: log\r\n\r\nx\r\n.\r\n');
    await c.reply();
    await c.cmd('QUIT');
    const msgid = s.queue.committed.at(-1) ?? '';
    const [e1, e2] = (s.queue.envelopes.get(msgid) ?? []).map((e) => e.id);
    assert.ok(await eventually(() => log.includes('reason=quit')), log);
    const id = /smtp: connected session=([0-9a-z]+) address=127\.0\.0\.1 /.exec(log)?.[1] ?? 'none';
    assert.match(log, new RegExp(`smtp: message session=${id} msgid=${msgid} size=\\d+ nrcpt=2 proto=ESMTP\n`));
    assert.match(log, new RegExp(`smtp: envelope session=${id} evpid=${e1} from=<sender@remote\\.example> to=<list@example\\.org>\n`));
    assert.match(log, new RegExp(`smtp: envelope session=${id} evpid=${e2} from=<sender@remote\\.example> to=<list@example\\.org>\n`));
    assert.match(log, new RegExp(`smtp: disconnected session=${id} reason=quit\n`));
    c.close();
  } finally {
    await s.stop();
  }
});
