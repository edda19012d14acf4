// When the peers fail: a queue or lka that never answers (short deadline), a queue that
// answers with a failure. Every case ends in a 4xx on the wire and a rolled-back message,
// never a hang or a crash. Also the configurable greeting delay and early talkers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { WireClient, eventually, openTransaction, startSmtp, type SmtpUnderTest } from './test-harness.js';

let t: SmtpUnderTest;
before(async () => {
  t = await startSmtp({ deadlineMs: 300 });
});
after(async () => {
  await t.stop();
});

async function timed<T>(p: Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const value = await p;
  return { value, ms: performance.now() - t0 };
}

test('queue.msgidsReserve never answers on an empty stock: 451 4.3.0 at MAIL after the deadline, session usable', async () => {
  // A worker of its own: the shared one's stock is already full.
  const s = await startSmtp({ deadlineMs: 300 });
  s.queue.hang.add('msgidsReserve');
  try {
    const c = await WireClient.open(s.port);
    await c.reply();
    await c.cmd('EHLO client.example');
    const r = await timed(c.cmd('MAIL FROM:<a@example.org>'));
    assert.equal(r.value, '451 4.3.0 Temporary failure');
    assert.ok(r.ms >= 250 && r.ms < 2000, `${r.ms} ms`);
    assert.equal(await c.cmd('NOOP'), '250 2.0.0 Ok');
    s.queue.hang.delete('msgidsReserve');
    assert.equal(await c.cmd('MAIL FROM:<a@example.org>'), '250 2.1.0 Ok');
    c.close();
  } finally {
    await s.stop();
  }
});

test('queue.msgidsReserve answers a failure on an empty stock: 451 4.3.0; later MAILs take from the stock', async () => {
  const s = await startSmtp({ deadlineMs: 300 });
  s.queue.fail.add('msgidsReserve');
  try {
    const c = await WireClient.open(s.port);
    await c.reply();
    await c.cmd('EHLO client.example');
    assert.equal(await c.cmd('MAIL FROM:<a@example.org>'), '451 4.3.0 Temporary failure');
    s.queue.fail.delete('msgidsReserve');
    assert.equal(await c.cmd('MAIL FROM:<a@example.org>'), '250 2.1.0 Ok');
    const reserved = s.queue.reserved.length;
    assert.ok(reserved >= 32, `one refill reserved ${reserved}`);
    // The stock holds: further transactions need no reservation until it runs below half.
    s.queue.hang.add('msgidsReserve');
    for (let i = 0; i < 20; i++) {
      assert.equal(await c.cmd('RSET'), '250 2.0.0 Reset state');
      assert.equal(await c.cmd('MAIL FROM:<a@example.org>'), '250 2.1.0 Ok');
    }
    assert.equal(s.queue.reserved.length, reserved);
    c.close();
  } finally {
    await s.stop();
  }
});

test('lka never answers: 451 4.3.0 at RCPT, the transaction goes on', async () => {
  const c = await openTransaction(t.port);
  const r = await timed(c.cmd('RCPT TO:<slow@example.org>'));
  assert.equal(r.value, '451 4.3.0 Temporary lookup failure');
  assert.ok(r.ms < 2000);
  assert.equal(await c.cmd('RCPT TO:<bob@example.org>'), '250 2.1.5 Destination address valid: Recipient ok');
  c.close();
});

test('queue refuses the envelopes at commit: 451 4.3.0 after DATA, rollback, session usable', async () => {
  const c = await WireClient.open(t.port);
  await c.reply();
  await c.cmd('EHLO client.example');
  await c.cmd('MAIL FROM:<a@example.org>');
  const rolled = t.queue.rolledBack.length;
  t.queue.refuseEnvelopes = true;
  try {
    assert.equal(await c.cmd('RCPT TO:<alice@example.org>'), '250 2.1.5 Destination address valid: Recipient ok');
    assert.equal(await c.cmd('DATA'), '354 Enter mail, end with "." on a line by itself');
    c.write('Subject: x\r\n\r\nbody\r\n.\r\n');
    assert.equal((await c.reply(5000)).raw[0], '451 4.3.0 Temporary failure');
  } finally {
    t.queue.refuseEnvelopes = false;
  }
  assert.ok(await eventually(() => t.queue.rolledBack.length > rolled));
  assert.ok(!t.queue.committed.includes(t.queue.rolledBack.at(-1) ?? ''));
  assert.equal(await c.cmd('MAIL FROM:<a@example.org>'), '250 2.1.0 Ok');
  c.close();
});

for (const method of ['bodyAppend', 'messageCommit'] as const) {
  for (const how of ['hang', 'fail'] as const) {
    test(`queue.${method} ${how === 'hang' ? 'never answers' : 'fails'}: 451 4.3.0 after DATA, rollback, session usable`, async () => {
      const c = await openTransaction(t.port);
      const rolled = t.queue.rolledBack.length;
      t.queue[how].add(method);
      try {
        assert.equal(await c.cmd('DATA'), '354 Enter mail, end with "." on a line by itself');
        c.write('Subject: x\r\n\r\n' + 'z'.repeat(1000).concat('\r\n').repeat(700) + '.\r\n');
        const r = await timed(c.reply(5000));
        assert.equal(r.value.raw[0], '451 4.3.0 Temporary failure');
        assert.ok(r.ms < 3000, `${r.ms} ms`);
        assert.ok(await eventually(() => t.queue.rolledBack.length > rolled));
        assert.ok(!t.queue.committed.includes(t.queue.rolledBack.at(-1) ?? ''));
      } finally {
        t.queue[how].delete(method);
      }
      assert.equal(await c.cmd('MAIL FROM:<a@example.org>'), '250 2.1.0 Ok');
      c.close();
    });
  }
}

test('no queue wired at all: 451, the worker lives on', async () => {
  const lonely = await startSmtp({ noQueue: true });
  try {
    const c = await WireClient.open(lonely.port);
    await c.reply();
    await c.cmd('EHLO client.example');
    assert.equal(await c.cmd('MAIL FROM:<a@example.org>'), '451 4.3.0 Temporary failure');
    assert.equal(await c.cmd('QUIT'), '221 2.0.0 Bye');
    c.close();
    assert.deepEqual(lonely.actor.fatals, []);
    assert.equal(await lonely.actor.handle.ctl.ping(), 'smtp');
  } finally {
    await lonely.stop();
  }
});

test('greetingDelayMs is ours: 200 ms wait, early talkers get 421', async () => {
  const slow = await startSmtp({ settings: { greetingDelayMs: 200 } });
  try {
    const r = await timed((async () => {
      const c = await WireClient.open(slow.port);
      const g = await c.reply();
      c.close();
      return g.raw[0];
    })());
    assert.equal(r.value, '220 mx.test.example ESMTP tsmtpd');
    assert.ok(r.ms >= 190, `greeting after ${r.ms} ms`);
    const e = await WireClient.open(slow.port);
    e.write('EHLO early.example\r\n');
    assert.equal((await e.reply()).raw[0], '421 4.7.0 You talk too soon');
    assert.ok(await e.waitClosed());
  } finally {
    await slow.stop();
  }
});

test('reverse DNS never delays the greeting, even with a resolver that does not answer', async () => {
  const dns = await startSmtp({ settings: { reverseDns: true, dnsServers: ['127.0.0.1:9'] } });
  try {
    const t0 = performance.now();
    const c = await WireClient.open(dns.port);
    assert.equal((await c.reply()).code, 220);
    // The lookup's own deadline is 2 s: a greeting that waited for it would take at least that.
    const ms = performance.now() - t0;
    assert.ok(ms < 1000, `greeting after ${ms.toFixed(0)} ms`);
    assert.equal(await c.cmd('EHLO client.example'), '250-mx.test.example Hello client.example [127.0.0.1], pleased to meet you\n250-PIPELINING\n250-8BITMIME\n250-SMTPUTF8\n250-ENHANCEDSTATUSCODES\n250-DSN\n250 SIZE 36700160');
    c.close();
  } finally {
    await dns.stop();
  }
});

test('stop() with a session mid-transaction: 421 to the client and rollback', async () => {
  const s = await startSmtp();
  const c = await openTransaction(s.port);
  const stopping = s.actor.handle.ctl.stop();
  const r = await c.reply(5000);
  assert.equal(r.raw[0], '421 4.3.2 Service shutting down');
  await stopping;
  assert.ok(await eventually(() => s.queue.rolledBack.length === 1));
  assert.ok(s.queue.reserved.includes(s.queue.rolledBack[0] ?? ''), 'the transaction\'s reserved id is given back');
  c.close();
  await s.stop().catch(() => undefined);
});
