// The client against Postfix's smtp-sink (.peers/, scripts/peers-install.sh): delivery, replies
// refused at MAIL / RCPT / DATA / end of data (-r, -f), a server that hangs up (-q), round trips
// with and without PIPELINING (-p) counted by a relay, several transactions on one connection,
// LMTP (-L), and a 35 MB body sent with bounded memory.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createClientSession } from './index.js';
import { bodyOf, options, sinkBin, startProxy, startSink, tempDir, type Sink } from './test-peers.js';
import type { Transaction } from './types.js';

const skip = existsSync(sinkBin) ? false : `no smtp-sink at ${sinkBin} (run scripts/peers-install.sh)`;
const dir = tempDir('sink');
const sinks: Sink[] = [];
after(async () => {
  await Promise.all(sinks.map((s) => s.stop()));
  dir.remove();
});

async function sink(args: string[] = [], dump = true): Promise<Sink> {
  const d = tempDir('sinkdump');
  const s = await startSink(d.path, args, dump);
  const stop = s.stop;
  s.stop = async () => (await stop(), d.remove());
  sinks.push(s);
  return s;
}

function tx(over: Partial<Transaction> = {}, rcpts = ['b@y.test', 'c@y.test', 'd@y.test']): Transaction {
  return {
    mailFrom: 'a@x.test',
    smtputf8: false,
    eightBit: false,
    size: 60,
    recipients: rcpts.map((address) => ({ address, notify: 0 })),
    body: bodyOf('Subject: via smtp-sink\n\n.leading dot\nline two\n'),
    ...over,
  };
}

async function waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !cond(); i++) await new Promise((r) => setTimeout(r, 20));
}

test('accepted delivery: three recipients in one transaction, body dot-stuffed and unstuffed', { skip }, async () => {
  const s = await sink();
  const c = createClientSession(options(s.port));
  const conn = await c.connect();
  assert.ok(conn.ok && !conn.tls && conn.extensions.includes('PIPELINING'), JSON.stringify(conn));
  const r = await c.send(tx({ eightBit: true }));
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual(r.recipients.map((o) => o.status), ['ok', 'ok', 'ok']);
  assert.match(r.recipients[0]!.reply, /^250 2\.0\.0 /);
  assert.equal(c.usable, true);
  await c.quit();
  await waitFor(() => s.messages().length === 1);
  const [m] = s.messages();
  assert.equal(m?.mailArgs, '<a@x.test> BODY=8BITMIME');
  assert.deepEqual(m?.rcptArgs, ['<b@y.test>', '<c@y.test>', '<d@y.test>']);
  assert.ok(m?.text.includes('\nSubject: via smtp-sink\n\n.leading dot\nline two\n'), m?.text);
});

test('4xx at MAIL: nothing sent, temporary for all, the session stays usable', { skip }, async () => {
  const s = await sink(['-r', 'MAIL']);
  const c = createClientSession(options(s.port));
  assert.ok((await c.connect()).ok);
  const r = await c.send(tx());
  assert.deepEqual(r, { ok: false, status: 'tempfail', reply: '450 4.3.0 Error: command failed', connectionLost: false });
  assert.equal(c.usable, true);
  await c.quit();
});

test('5xx at RCPT for every recipient: each permanent, no DATA, RSET before the next MAIL', { skip }, async () => {
  const s = await sink(['-f', 'RCPT']);
  const p = await startProxy(s.port);
  try {
    const c = createClientSession(options(p.port));
    assert.ok((await c.connect()).ok);
    for (let i = 0; i < 2; i++) {
      const r = await c.send(tx());
      assert.ok(r.ok);
      assert.deepEqual(r.recipients, Array(3).fill({ status: 'permfail', reply: '500 5.3.0 Error: command failed' }));
    }
    assert.equal(c.usable, true);
    await c.quit();
    const sent = p.clientText();
    assert.ok(!sent.includes('DATA'), sent);
    assert.equal(sent.match(/^RSET\r\n/gm)?.length, 1, sent);
    assert.match(sent, /RSET\r\nMAIL FROM:<a@x\.test>/);
  } finally {
    p.close();
  }
});

test('5xx at DATA and at end of data: accepted recipients fail permanently', { skip }, async () => {
  for (const [cmd, reply] of [['DATA', '500 5.3.0 Error: command failed'], ['.', '500 5.3.0 Error: command failed']] as const) {
    const s = await sink(['-f', cmd]);
    const c = createClientSession(options(s.port));
    assert.ok((await c.connect()).ok);
    const r = await c.send(tx({}, ['b@y.test', 'c@y.test']));
    assert.ok(r.ok, cmd);
    assert.deepEqual(r.recipients, Array(2).fill({ status: 'permfail', reply }), cmd);
    // The next transaction on the same connection starts with RSET and runs.
    const again = await c.send(tx({}, ['e@y.test']));
    assert.ok(again.ok && again.recipients[0]!.status === 'permfail', JSON.stringify(again));
    await c.quit();
  }
});

test('a server that hangs up after RCPT: temporary failure, connection lost, not usable', { skip }, async () => {
  const s = await sink(['-q', 'RCPT']);
  const c = createClientSession(options(s.port));
  assert.ok((await c.connect()).ok);
  const r = await c.send(tx());
  assert.ok(r.ok, JSON.stringify(r));
  for (const o of r.recipients) {
    assert.equal(o.status, 'tempfail');
    assert.match(o.reply, /^4\.4\.2 connection closed by server/);
  }
  assert.equal(c.usable, false);
  const next = await c.send(tx());
  assert.ok(!next.ok && next.status === 'tempfail' && next.connectionLost);
  await c.quit();
});

test('PIPELINING: MAIL, RCPTs and DATA in one round trip; without it (-p) one per command', { skip }, async () => {
  const turns: Record<string, number> = {};
  for (const [name, args] of [['pipelining', []], ['lockstep', ['-p']]] as const) {
    const s = await sink([...args]);
    const p = await startProxy(s.port);
    try {
      const c = createClientSession(options(p.port));
      assert.ok((await c.connect()).ok);
      const before = p.turns(); // EHLO
      const r = await c.send(tx());
      assert.ok(r.ok && r.recipients.every((o) => o.status === 'ok'), JSON.stringify(r));
      turns[name] = p.turns() - before;
      c.close();
    } finally {
      p.close();
    }
  }
  // Pipelined: [MAIL RCPT RCPT RCPT DATA] [body .]; lockstep: MAIL, 3 × RCPT, DATA, body.
  assert.deepEqual(turns, { pipelining: 2, lockstep: 6 });
});

test('several transactions on one connection: the next MAIL follows a success directly', { skip }, async () => {
  const s = await sink();
  const p = await startProxy(s.port);
  try {
    const c = createClientSession(options(p.port));
    assert.ok((await c.connect()).ok);
    for (let i = 0; i < 5; i++) {
      const r = await c.send(tx({ body: bodyOf(`Subject: n${i}\n\nbody ${i}\n`) }, [`r${i}@y.test`]));
      assert.ok(r.ok && r.recipients[0]!.status === 'ok', JSON.stringify(r));
    }
    await c.quit();
    assert.equal(p.connections(), 1);
    assert.ok(!p.clientText().includes('RSET'));
    await waitFor(() => s.messages().length === 5);
    assert.deepEqual(s.messages().map((m) => m.rcptArgs[0]).sort(), [0, 1, 2, 3, 4].map((i) => `<r${i}@y.test>`));
  } finally {
    p.close();
  }
});

test('LMTP (-L): one reply per accepted recipient after the data', { skip }, async () => {
  const s = await sink(['-L']);
  const c = createClientSession(options(s.port, { lmtp: true }));
  assert.ok((await c.connect()).ok);
  const r = await c.send(tx());
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual(r.recipients.map((o) => o.status), ['ok', 'ok', 'ok']);
  // Another transaction on the same LMTP connection.
  assert.ok((await c.send(tx({}, ['x@y.test']))).ok);
  await c.quit();
});

test('a 35 MB body streams: never more than a few MB ahead of what the server got', { skip }, async () => {
  const s = await sink([], false);
  const p = await startProxy(s.port);
  try {
    const c = createClientSession(options(p.port));
    assert.ok((await c.connect()).ok);
    const line = `${'z'.repeat(76)}\n`;
    const chunk = line.repeat(Math.ceil(65536 / line.length));
    const total = 35 * 1024 * 1024;
    let produced = 0;
    let ahead = 0;
    const start = p.clientBytes();
    async function* body(): AsyncIterable<Uint8Array> {
      while (produced < total) {
        // What the client took from the store but the relay has not seen yet (CRLF adds ~1/77).
        ahead = Math.max(ahead, produced - (p.clientBytes() - start));
        produced += chunk.length;
        yield Buffer.from(chunk);
      }
    }
    const r = await c.send(tx({ body, size: total }, ['big@y.test']));
    assert.ok(r.ok && r.recipients[0]!.status === 'ok', JSON.stringify(r));
    assert.ok(p.clientBytes() - start > total);
    // Buffered whole, the client would be ~35 MB ahead; socket buffers allow a few MB.
    assert.ok(ahead < 12 * 1024 * 1024, `the client read ${(ahead / 1048576).toFixed(1)} MB ahead of the wire`);
    await c.quit();
  } finally {
    p.close();
  }
});
