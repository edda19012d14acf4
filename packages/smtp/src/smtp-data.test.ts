// DATA end to end on real sockets: what reaches the (fake) queue byte for byte, the end of
// DATA only at <CRLF>.<CRLF>, size limits with the session still usable, header rules
// (Bcc, Received, loop, local Message-ID/Date) and chunked transfer.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { userInfo } from 'node:os';
import { enqueueSocketPath } from './index.js';
import { WireClient, eventually, openTransaction, startSmtp, type SmtpUnderTest } from './test-harness.js';

let small: SmtpUnderTest;
let big: SmtpUnderTest;
before(async () => {
  small = await startSmtp({ config: (c) => void (c.smtp.maxMessageSize = 10_000) });
  big = await startSmtp();
});
after(async () => {
  await small.stop();
  await big.stop();
});

/** Send DATA, the bytes given (terminator included) and return the final reply line. */
async function data(c: WireClient, bytes: string | Buffer): Promise<string> {
  assert.equal(await c.cmd('DATA'), '354 Enter mail, end with "." on a line by itself');
  c.write(bytes);
  return (await c.reply(10_000)).raw.join('\n');
}

/** The stored body without our Received header (the first field and its continuations). */
function afterReceived(body: Buffer): Buffer {
  assert.ok(body.subarray(0, 10).toString() === 'Received: ', 'starts with our Received header');
  let pos = 0;
  for (;;) {
    const nl = body.indexOf(0x0a, pos);
    pos = nl + 1;
    if (body[pos] !== 0x09) return body.subarray(pos);
  }
}

/** The msgid of the message committed last. */
function lastMsgid(t: SmtpUnderTest): string {
  return t.queue.committed.at(-1) ?? '';
}

test('accepted: 250 with the msgid; body LF-normalised, dot-unstuffed, 8-bit bytes intact', async () => {
  const c = await openTransaction(small.port);
  const eight = Buffer.from([0x53, 0x75, 0x62, 0x6a, 0x3a, 0x20, 0xe9, 0xff, 0x00, 0x80, 0x0d, 0x0a]); // "Subj: é\xff\0\x80"
  const msg = Buffer.concat([Buffer.from('From: a@example.org\r\n'), eight, Buffer.from('\r\n..leading dot\r\n...two\r\n.\r\n')]);
  const reply = await data(c, msg);
  const msgid = lastMsgid(small);
  assert.equal(reply, `250 2.0.0 ${msgid} Message accepted for delivery`);
  assert.deepEqual(small.queue.committed.at(-1), msgid);
  const want = Buffer.concat([Buffer.from('From: a@example.org\n'), eight.subarray(0, -2), Buffer.from('\n\n.leading dot\n..two\n')]);
  assert.deepEqual(afterReceived(small.queue.body(msgid)), want);
  c.close();
});

test('a message that is only "." and an empty line work', async () => {
  const c = await openTransaction(small.port);
  assert.match(await data(c, '.\r\n'), /^250 2\.0\.0 /);
  assert.equal(afterReceived(small.queue.body(lastMsgid(small))).length, 0);
  c.close();
});

for (const [name, seq] of [
  ['LF . LF', '\n.\n'],
  ['CR . CR', '\r.\r'],
  ['LF . CRLF', '\n.\r\n'],
  ['CRLF . LF', '\r\n.\n'],
  ['CR . CRLF', '\r.\r\n'],
  ['CRLF . CR', '\r\n.\r'],
  ['LF CR . CR LF', '\n\r.\r\n'],
  ['CRLF . CR CRLF', '\r\n.\r\r\n'],
] as const) {
  test(`bare line ends around a dot (${name}) never end DATA; nothing is smuggled`, async () => {
    const c = await openTransaction(small.port);
    const before = small.queue.committed.length;
    const smuggled = `MAIL FROM:<evil@example.net>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nsmuggled\r\n`;
    const reply = await data(c, `Subject: x\r\n\r\nline one${seq}${smuggled}.\r\n`);
    assert.match(reply, /^250 2\.0\.0 [0-9a-f]{8} Message accepted/);
    assert.equal(small.queue.committed.length, before + 1, 'no second transaction');
    const body = afterReceived(small.queue.body(lastMsgid(small))).toString('latin1');
    const lfSeq = seq.replace(/\r\n/g, '\n');
    assert.equal(body, `Subject: x\n\nline one${lfSeq}${smuggled.replace(/\r\n/g, '\n')}`);
    assert.equal(await c.cmd('NOOP'), '250 2.0.0 Ok', 'exactly one reply was owed');
    assert.equal(c.pending, '');
    c.close();
  });
}

test('TCP segmentation cannot forge the end of DATA (stuffed dot and terminator split)', async () => {
  const c = await openTransaction(small.port);
  c.socket.setNoDelay(true);
  const before = small.queue.committed.length;
  assert.equal(await c.cmd('DATA'), '354 Enter mail, end with "." on a line by itself');
  const pause = () => new Promise((r) => setTimeout(r, 20));
  for (const piece of ['.', '.\r\n', 'MAIL FROM:<evil@example.net>\r', '\n\r', '\n', '.', '.', '\r\n\r', '\n.', '\r', '\n']) {
    c.write(piece);
    await pause();
  }
  assert.match((await c.reply()).raw[0] ?? '', /^250 2\.0\.0 /);
  assert.equal(small.queue.committed.length, before + 1);
  assert.equal(afterReceived(small.queue.body(lastMsgid(small))).toString(), '.\nMAIL FROM:<evil@example.net>\n\n.\n\n');
  assert.equal(await c.cmd('NOOP'), '250 2.0.0 Ok');
  c.close();
});

test('a message over max-message-size: 552 5.3.4, rolled back, session usable', async () => {
  const c = await openTransaction(small.port);
  const rolled = small.queue.rolledBack.length;
  const line = 'x'.repeat(98) + '\r\n';
  const reply = await data(c, 'Subject: big\r\n\r\n' + line.repeat(150) + '.\r\n');
  assert.equal(reply, '552 5.3.4 Message too big for system');
  assert.ok(await eventually(() => small.queue.rolledBack.length > rolled));
  assert.ok(!small.queue.committed.includes(small.queue.rolledBack.at(-1) ?? ''));
  assert.equal(await c.cmd('MAIL FROM:<a@example.org>'), '250 2.1.0 Ok');
  assert.equal(await c.cmd('RCPT TO:<alice@example.org>'), '250 2.1.5 Destination address valid: Recipient ok');
  assert.match(await data(c, 'Subject: small\r\n\r\nok\r\n.\r\n'), /^250 2\.0\.0 /);
  c.close();
});

test('Bcc fields are removed (with their continuation lines), the rest kept in order', async () => {
  const c = await openTransaction(small.port);
  const msg = 'To: a@example.org\r\nBcc: hidden@example.org,\r\n\tother@example.org\r\nSubject: s\r\nBCC: x@y.example\r\nX-Bcc: stays\r\n\r\nBcc: in the body stays\r\n.\r\n';
  assert.match(await data(c, msg), /^250 /);
  const body = afterReceived(small.queue.body(lastMsgid(small))).toString();
  assert.equal(body, 'To: a@example.org\nSubject: s\nX-Bcc: stays\n\nBcc: in the body stays\n');
  c.close();
});

test('our Received header: from/by/with/id, "for" with exactly one recipient, date', async () => {
  const c = await openTransaction(small.port);
  assert.match(await data(c, 'Subject: r\r\n\r\nx\r\n.\r\n'), /^250 /);
  const msgid = lastMsgid(small);
  const head = small.queue.body(msgid).toString().split('\nSubject: r')[0];
  assert.match(head ?? '', new RegExp(
    `^Received: from client\\.example \\(unknown \\[127\\.0\\.0\\.1\\]\\)\\n\\tby mx\\.test\\.example \\(tsmtpd\\) with ESMTP id ${msgid}\\n` +
    '\\tfor <alice@example\\.org>;\\n\\t(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \\d{1,2} [A-Z][a-z]{2} \\d{4} \\d\\d:\\d\\d:\\d\\d [+-]\\d{4}( \\(UTC\\))?$'));
  // Two recipients and HELO: no "for", "with SMTP".
  const d = await WireClient.open(small.port);
  await d.reply();
  await d.cmd('HELO old.example');
  await d.cmd('MAIL FROM:<>');
  await d.cmd('RCPT TO:<alice@example.org>');
  await d.cmd('RCPT TO:<bob@example.org>');
  assert.match(await data(d, 'Subject: r\r\n\r\nx\r\n.\r\n'), /^250 /);
  const head2 = small.queue.body(lastMsgid(small)).toString().split('\nSubject: r')[0] ?? '';
  assert.match(head2, /^Received: from old\.example \(unknown \[127\.0\.0\.1\]\)\n\tby mx\.test\.example \(tsmtpd\) with SMTP id [0-9a-f]{8};\n\t/);
  assert.ok(!head2.includes('for <'));
  c.close();
  d.close();
});

test('100 Received fields is a loop (554 5.4.6), 99 are fine', async () => {
  const c = await openTransaction(big.port);
  const rolled = big.queue.rolledBack.length;
  const received = (n: number) => 'Received: from a by b id c;\r\n\tMon, 1 Jan 2024 00:00:00 +0000\r\n'.repeat(n);
  assert.equal(await data(c, `${received(100)}Subject: loop\r\n\r\nx\r\n.\r\n`), '554 5.4.6 Routing loop detected: Loop detected');
  assert.ok(await eventually(() => big.queue.rolledBack.length > rolled));
  await c.cmd('MAIL FROM:<a@example.org>');
  await c.cmd('RCPT TO:<alice@example.org>');
  assert.match(await data(c, `${received(99)}Subject: ok\r\n\r\nx\r\n.\r\n`), /^250 /);
  c.close();
});

test('a header section over 1 MiB is refused, the session stays usable', async () => {
  const c = await openTransaction(big.port);
  const field = 'X-Filler: ' + 'y'.repeat(988) + '\r\n';
  assert.equal(await data(c, field.repeat(1100) + '\r\nbody\r\n.\r\n'), '552 5.3.4 Message header section too big');
  assert.equal(await c.cmd('NOOP'), '250 2.0.0 Ok');
  c.close();
});

test('a 3 MB body reaches the queue whole, in chunks of at most 256 KiB', async () => {
  const c = await openTransaction(big.port);
  const line = 'abcdefghij'.repeat(9) + '.\r\n'; // 93 bytes
  const body = line.repeat(34_000);
  assert.match(await data(c, 'Subject: big\r\n\r\n' + body + '.\r\n'), /^250 /);
  const msgid = lastMsgid(big);
  const chunks = big.queue.bodies.get(msgid) ?? [];
  assert.ok(chunks.length >= 12, `${chunks.length} chunks`);
  for (const ch of chunks) assert.ok(ch.length <= 256 * 1024);
  assert.equal(afterReceived(big.queue.body(msgid)).toString(), 'Subject: big\n\n' + body.replace(/\r\n/g, '\n'));
  c.close();
});

test('local enqueue socket: Message-ID and Date added when missing, [local] in Received', async () => {
  const c = await WireClient.open(enqueueSocketPath(big.spool));
  assert.equal((await c.reply()).raw[0], '220 mx.test.example ESMTP tsmtpd');
  await c.cmd('EHLO localhost');
  await c.cmd('MAIL FROM:<user@example.org>');
  await c.cmd('RCPT TO:<alice@example.org>');
  assert.match(await data(c, 'Subject: local\r\n\r\nhi\r\n.\r\n'), /^250 /);
  const msgid = lastMsgid(big);
  const stored = big.queue.body(msgid).toString();
  // The submitting user, as the kernel tells it: this test process.
  const me = userInfo();
  assert.ok(stored.startsWith(`Received: from localhost (localhost [local]; from local user ${me.username} uid ${me.uid})\n`), stored);
  assert.match(stored, /\nSubject: local\nMessage-ID: <[0-9a-f]{16}@mx\.test\.example>\nDate: \w{3}, \d{1,2} \w{3} \d{4} [\d:]{8} [+-]\d{4}\n\nhi\n$/);
  assert.equal(big.queue.envelopes.get(msgid)?.[0]?.sockaddr, 'local');
  // Present ones are kept; a TCP session never gets them added.
  await c.cmd('MAIL FROM:<user@example.org>');
  await c.cmd('RCPT TO:<alice@example.org>');
  assert.match(await data(c, 'Message-ID: <x@y>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nhi\r\n.\r\n'), /^250 /);
  assert.equal(afterReceived(big.queue.body(lastMsgid(big))).toString(), 'Message-ID: <x@y>\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n\nhi\n');
  c.close();
  const d = await openTransaction(big.port);
  assert.match(await data(d, 'Subject: remote\r\n\r\nhi\r\n.\r\n'), /^250 /);
  assert.equal(afterReceived(big.queue.body(lastMsgid(big))).toString(), 'Subject: remote\n\nhi\n');
  d.close();
});

test('disconnect in the middle of DATA rolls the message back', async () => {
  const c = await openTransaction(small.port);
  const rolled = small.queue.rolledBack.length;
  assert.equal(await c.cmd('DATA'), '354 Enter mail, end with "." on a line by itself');
  c.write('Subject: cut\r\n\r\npartial');
  await new Promise((r) => setTimeout(r, 50));
  c.close();
  assert.ok(await eventually(() => small.queue.rolledBack.length > rolled));
  assert.ok(!small.queue.committed.includes(small.queue.rolledBack.at(-1) ?? ''));
});
