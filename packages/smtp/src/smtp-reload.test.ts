// Actor test of the smtp actor's reload (the real worker, fake lka and queue): a kept listener
// keeps its socket and greets new sessions under the new configuration, a session in progress
// finishes its transaction under its own, an added listener answers, a removed one refuses new
// connections while its session goes on, and the old generation is released once its last
// session ends. Addresses: 127.0.9.10-11 (this helper's block).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { SmtpdConfig } from '@tsmtpd/config';
import { eventually, inetListener, startSmtp, WireClient } from './test-harness.js';

function refused(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, host);
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });
}

/** A port that was free on `host` a moment ago. */
async function freePort(host: string): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const a = srv.address();
      srv.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

test('smtp reload: listeners kept, added and removed; sessions keep their generation', { timeout: 30_000 }, async () => {
  const keptPort = await freePort('127.0.9.10');
  const addPort = await freePort('127.0.9.11');
  const kept = inetListener({ target: '127.0.9.10', addresses: [{ address: '127.0.9.10', family: 4 }], port: keptPort });
  const s = await startSmtp({ listener: kept });
  try {
    const old = await WireClient.open(keptPort, 5000, '127.0.9.10');
    await old.reply();
    assert.match(await old.cmd('EHLO client.example'), /^250/);
    assert.match(await old.cmd('MAIL FROM:<sender@remote.example>'), /^250/);
    assert.match(await old.cmd('RCPT TO:<alice@example.org>'), /^250/);
    const held = await WireClient.open(keptPort, 5000, '127.0.9.10');
    assert.match((await held.reply()).raw[0] ?? '', /^220 mx\.test\.example /);
    const next: SmtpdConfig = structuredClone(s.config);
    next.listeners = [
      next.listeners[0]!,
      { ...kept, hostname: 'renamed.example' },
      inetListener({ target: '127.0.9.11', addresses: [{ address: '127.0.9.11', family: 4 }], port: addPort }),
    ];
    const r = await s.actor.mailbox.reload({ gen: 2, config: next });
    assert.deepEqual(r, { ok: true, notes: [`listeners +127.0.9.11:${addPort} -0`] });
    // The kept socket (same port, never rebound) greets with the new configuration's name.
    const fresh = await WireClient.open(keptPort, 5000, '127.0.9.10');
    assert.match((await fresh.reply()).raw[0] ?? '', /^220 renamed\.example /);
    fresh.close();
    const added = await WireClient.open(addPort, 5000, '127.0.9.11');
    assert.equal((await added.reply()).code, 220);
    // The session opened before: a second RCPT is resolved under its generation, DATA completes.
    assert.match(await old.cmd('RCPT TO:<bob@example.org>'), /^250/);
    assert.equal(s.lka.requests.at(-1)?.gen, 1);
    assert.match(await old.cmd('DATA'), /^354/);
    assert.match(await old.cmd('Subject: held\r\n\r\nbody\r\n.'), /^250/);
    assert.equal(s.queue.committed.length, 1);
    // Now remove the added listener: no new connection, its session goes on.
    const third: SmtpdConfig = structuredClone(next);
    third.listeners = third.listeners.slice(0, 2);
    assert.deepEqual(await s.actor.mailbox.reload({ gen: 3, config: third }), { ok: true, notes: [`listeners +0 -127.0.9.11:${addPort}`] });
    assert.ok(await refused(addPort, '127.0.9.11'), 'the removed listener still accepts');
    assert.match(await added.cmd('EHLO client.example'), /^250/);
    assert.match(await added.cmd('MAIL FROM:<a@remote.example>'), /^250/);
    assert.match(await added.cmd('RCPT TO:<carol@example.org>'), /^250/);
    assert.equal(s.lka.requests.at(-1)?.gen, 2);
    added.close();
    // Generation 1's sessions (old, held) end: it is released to the lka.
    old.close();
    held.close();
    assert.ok(await eventually(() => s.lka.released.includes(1) && s.lka.released.includes(2), 5000), `released: ${s.lka.released.join(',')}`);
    assert.deepEqual(await s.actor.mailbox.reload({ gen: 4 }), { ok: false, error: 'invalid reload order' });
    assert.deepEqual(s.actor.fatals, []);
  } finally {
    await s.stop();
  }
});
