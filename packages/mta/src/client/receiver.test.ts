// The client against Python's aiosmtpd (test/lib/py/mta_client_receiver.py): one recipient of
// three refused, MAIL refused, the RSET after a failed transaction pipelined with the next MAIL,
// DSN parameters only when offered, SMTPUTF8 and SIZE refused before sending, BODY=8BITMIME,
// and the body byte for byte as the receiver got it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { DsnNotify } from '@tsmtpd/proto';
import { createClientSession } from './index.js';
import { bodyOf, options, startReceiver, tempDir, type Receiver } from './test-peers.js';
import type { Transaction } from './types.js';

const dir = tempDir('aiosmtpd');
const receivers: Receiver[] = [];
after(async () => {
  await Promise.all(receivers.map((r) => r.stop()));
  dir.remove();
});

async function receiver(config: Record<string, unknown>): Promise<Receiver> {
  const r = await startReceiver(dir.path, config);
  receivers.push(r);
  return r;
}

function tx(over: Partial<Transaction> = {}, rcpts = ['b@y.test']): Transaction {
  return {
    mailFrom: 'a@x.test',
    smtputf8: false,
    eightBit: false,
    size: 40,
    recipients: rcpts.map((address) => ({ address, notify: 0 })),
    body: bodyOf('Subject: t\n\nhello\n'),
    ...over,
  };
}

test('one recipient of three refused: the other two get the message in one transaction', async () => {
  const r = await receiver({ pipelining: true, rcpt_replies: { 'c@y.test': '550 5.1.1 <c@y.test>: no such user' } });
  const c = createClientSession(options(r.port));
  assert.ok((await c.connect()).ok);
  const res = await c.send(tx({}, ['b@y.test', 'c@y.test', 'd@y.test']));
  assert.ok(res.ok);
  assert.deepEqual(res.recipients, [
    { status: 'ok', reply: '250 2.0.0 queued' },
    { status: 'permfail', reply: '550 5.1.1 <c@y.test>: no such user' },
    { status: 'ok', reply: '250 2.0.0 queued' },
  ]);
  await c.quit();
  const [m] = await r.waitMessages(1);
  assert.deepEqual(m?.accepted, ['b@y.test', 'd@y.test']);
  assert.equal(r.messages().length, 1);
});

test('pipelined: RCPTs and DATA wait behind MAIL; a failed transaction is followed by RSET in the same write as MAIL', async () => {
  const r = await receiver({ pipelining: true, mail_replies: { 'bad@x.test': '451 4.3.0 try again later' } });
  const c = createClientSession(options(r.port));
  assert.ok((await c.connect()).ok);
  const failed = await c.send(tx({ mailFrom: 'bad@x.test' }, ['b@y.test', 'c@y.test']));
  assert.deepEqual(failed, { ok: false, status: 'tempfail', reply: '451 4.3.0 try again later', connectionLost: false });
  const okTx = await c.send(tx({}, ['b@y.test', 'c@y.test']));
  assert.ok(okTx.ok && okTx.recipients.every((o) => o.status === 'ok'), JSON.stringify(okTx));
  await c.quit();
  const cmds = r.commands().map((e) => `${e.verb}:${(e.buffered ?? 0) > 0 ? 'queued' : 'last'}`);
  // When MAIL is read, the RCPTs and DATA are already waiting behind it (one write); RSET likewise.
  assert.deepEqual(cmds.slice(1), ['MAIL:queued', 'RCPT:queued', 'RCPT:queued', 'DATA:last', 'RSET:queued', 'MAIL:queued', 'RCPT:queued', 'RCPT:queued', 'DATA:last', 'QUIT:last']);
});

test('without PIPELINING each command waits for its reply', async () => {
  const r = await receiver({});
  const c = createClientSession(options(r.port));
  assert.ok((await c.connect()).ok);
  assert.ok((await c.send(tx({}, ['b@y.test', 'c@y.test']))).ok);
  await c.quit();
  assert.ok(r.commands().every((e) => e.buffered === 0), JSON.stringify(r.commands()));
});

function dsnTx(): Transaction {
  return {
    ...tx({ ret: 'HDRS', envid: 'QQ314159 x+y=z' }),
    recipients: [
      { address: 'b@y.test', notify: DsnNotify.success | DsnNotify.failure, orcpt: 'B+tag@y.test' },
      { address: 'c@y.test', notify: DsnNotify.never },
      { address: 'd@y.test', notify: 0 },
    ],
  };
}

test('DSN offered: RET and ENVID on MAIL, NOTIFY and ORCPT (xtext) on each RCPT', async () => {
  const r = await receiver({ dsn: true });
  const c = createClientSession(options(r.port));
  assert.ok((await c.connect()).ok);
  const res = await c.send(dsnTx());
  assert.ok(res.ok && res.recipients.every((o) => o.status === 'ok'), JSON.stringify(res));
  assert.equal(res.relayedWithoutDsn, false);
  await c.quit();
  const [m] = await r.waitMessages(1);
  assert.equal(m?.mail, 'FROM:<a@x.test> RET=HDRS ENVID=QQ314159+20x+2By+3Dz');
  assert.deepEqual(m?.rcpts, ['TO:<b@y.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;B+2Btag@y.test', 'TO:<c@y.test> NOTIFY=NEVER', 'TO:<d@y.test>']);
});

test('DSN not offered: no DSN parameters (aiosmtpd would answer 555), relayedWithoutDsn for NOTIFY=SUCCESS', async () => {
  const r = await receiver({});
  const c = createClientSession(options(r.port));
  assert.ok((await c.connect()).ok);
  const res = await c.send(dsnTx());
  assert.ok(res.ok && res.recipients.every((o) => o.status === 'ok'), JSON.stringify(res));
  assert.equal(res.relayedWithoutDsn, true);
  // Without a NOTIFY=SUCCESS recipient there is nothing to report.
  const plain = await c.send(tx());
  assert.ok(plain.ok && !plain.relayedWithoutDsn);
  await c.quit();
  const [m] = await r.waitMessages(1);
  assert.equal(m?.mail, 'FROM:<a@x.test>');
  assert.deepEqual(m?.rcpts, ['TO:<b@y.test>', 'TO:<c@y.test>', 'TO:<d@y.test>']);
});

test('SMTPUTF8: refused permanently before MAIL when not offered, sent when offered', async () => {
  const utf8 = tx({ mailFrom: 'jörg@x.test', smtputf8: true, eightBit: true, body: bodyOf('Subject: grüße\n\nä\n') }, ['zoë@y.test']);
  const without = await receiver({});
  const c = createClientSession(options(without.port));
  assert.ok((await c.connect()).ok);
  assert.deepEqual(await c.send(utf8), { ok: false, status: 'permfail', reply: '5.6.7 server does not offer SMTPUTF8', connectionLost: false });
  assert.equal(c.usable, true);
  await c.quit();
  assert.equal(without.commands('MAIL').length, 0);

  const withIt = await receiver({ smtputf8: true });
  const d = createClientSession(options(withIt.port));
  assert.ok((await d.connect()).ok);
  const res = await d.send(utf8);
  assert.ok(res.ok && res.recipients[0]?.status === 'ok', JSON.stringify(res));
  await d.quit();
  const [m] = await withIt.waitMessages(1);
  assert.equal(m?.mail, 'FROM:<jörg@x.test> BODY=8BITMIME SMTPUTF8');
  assert.deepEqual(m?.rcpts, ['TO:<zoë@y.test>']);
  assert.equal(Buffer.from(m!.data, 'base64').toString('utf8'), 'Subject: grüße\r\n\r\nä\r\n');
});

test('SIZE: a message larger than the server announces is refused permanently, unsent', async () => {
  const r = await receiver({ size: 1000 });
  const c = createClientSession(options(r.port));
  const conn = await c.connect();
  assert.ok(conn.ok && conn.extensions.includes('SIZE 1000'), JSON.stringify(conn));
  assert.deepEqual(await c.send(tx({ size: 1001 })), { ok: false, status: 'permfail', reply: '5.3.4 message too large for peer', connectionLost: false });
  const fits = await c.send(tx({ size: 1000 }));
  assert.ok(fits.ok && fits.recipients[0]?.status === 'ok');
  await c.quit();
  await r.waitMessages(1);
  assert.equal(r.commands('MAIL').length, 1);
  assert.equal(r.commands('MAIL')[0]?.arg, 'FROM:<a@x.test> SIZE=1000');
});

test('round trip: dots, LF line ends, a long line, 8-bit bytes arrive byte for byte as CRLF', async () => {
  const r = await receiver({});
  const c = createClientSession(options(r.port));
  assert.ok((await c.connect()).ok);
  const long = 'L'.repeat(5000);
  const stored = Buffer.concat([
    Buffer.from(`Subject: round trip\nX-Eight: caf`),
    Buffer.from([0xe9, 0xff]),
    Buffer.from(`\n\n.one dot\n..two dots\n.\nmiddle . dot\n${long}\n\nlast line without dot\n`),
  ]);
  const expected = Buffer.from(stored.toString('latin1').replace(/\n/g, '\r\n'), 'latin1');
  for (const size of [1, 3, 1024, stored.length]) {
    const res = await c.send(tx({ eightBit: true, size: stored.length, body: bodyOf(stored, size) }));
    assert.ok(res.ok && res.recipients[0]?.status === 'ok', JSON.stringify(res));
  }
  await c.quit();
  const msgs = await r.waitMessages(4);
  assert.equal(msgs.length, 4);
  for (const m of msgs) assert.deepEqual(Buffer.from(m.data, 'base64'), expected);
  assert.match(msgs[0]!.mail, / BODY=8BITMIME$/);
});

test('LHLO refused (an LMTP client at an SMTP server): a temporary failure to connect', async () => {
  const r = await receiver({});
  const c = createClientSession(options(r.port, { lmtp: true }));
  const conn = await c.connect();
  assert.ok(!conn.ok && conn.status === 'tempfail' && /^500 /.test(conn.reply), JSON.stringify(conn));
  assert.equal(c.usable, false);
});
