// Actor test of the lka's reload (the real worker, test kit): a new generation's ruleset and
// tables for new sessions, the old one for sessions that began under it until smtp releases it,
// unchanged tables kept open, a malformed order refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestActor } from '@tsmtpd/actor';
import { DEFAULT_SETTINGS, type ActorInit } from '@tsmtpd/proto';
import type { SmtpdConfig } from '@tsmtpd/config';
import { workerUrl } from './index.js';
import { action, config, forr, from, mapTable, mbox, rule, session } from './test-helpers.js';

function v1(): SmtpdConfig {
  return config({
    tables: [mapTable('aliases', { old: 'root' }), mapTable('other', { x: 'root' })],
    actions: [action('local', mbox, { alias: 'aliases' })],
    matches: [rule({ from: from('any'), for: forr('domain', 'example.org'), action: 'local' })],
  });
}

function v2(): SmtpdConfig {
  return config({
    tables: [mapTable('aliases', { fresh: 'root' }), mapTable('other', { x: 'root' })],
    actions: [action('local', mbox, { alias: 'aliases' })],
    matches: [
      rule({ from: from('any'), for: forr('domain', 'example.org'), action: 'local' }),
      rule({ from: from('any'), for: forr('domain', 'new.test'), action: 'local' }),
    ],
  });
}

test('lka reload: new rules and tables for new sessions, the old generation for old ones until released', { timeout: 20_000 }, async () => {
  const init: ActorInit<SmtpdConfig> = { config: v1(), spool: '/nonexistent', settings: DEFAULT_SETTINGS };
  const lka = await startTestActor({ role: 'lka', entry: workerUrl, init, deadlineMs: 10_000 });
  try {
    const s = session();
    const ask = (rcpt: string, gen?: number) => lka.mailbox.rcptResolve({ session: s, sender: 'a@example.net', rcpt, ...(gen !== undefined ? { gen } : {}) });
    assert.equal((await ask('someone@new.test')).ok, false, 'no rule for new.test before the reload');
    const r = await lka.mailbox.reload({ gen: 2, config: v2() });
    // Only the table declared differently is opened again; `other` is kept as it was.
    assert.deepEqual(r, { ok: true, notes: ['tables opened: aliases'] });
    const fresh = await ask('fresh@example.org');
    assert.ok(fresh.ok && fresh.recipients[0]?.mdaUser === 'root', JSON.stringify(fresh));
    assert.equal((await ask('root@new.test')).ok, true, 'the new rule applies to new sessions');
    // A session that began under generation 1 still resolves with its ruleset and aliases.
    const old = await ask('old@example.org', 1);
    assert.ok(old.ok && old.recipients[0]?.mdaUser === 'root', JSON.stringify(old));
    assert.equal((await ask('root@new.test', 1)).ok, false, 'generation 1 has no rule for new.test');
    lka.mailbox.releaseGeneration(1);
    // Released: a late request naming it gets the current generation.
    assert.equal((await ask('root@new.test', 1)).ok, true);
    const oldNow = await ask('old@example.org');
    assert.ok(!oldNow.ok || oldNow.recipients[0]?.mdaUser !== 'root', `the removed alias still expands: ${JSON.stringify(oldNow)}`);
    assert.deepEqual(await lka.mailbox.reload({ gen: 3 }), { ok: false, error: 'invalid reload order' });
    const bad = await lka.mailbox.reload({ gen: 3, config: { serverName: 42 } });
    assert.equal(bad.ok, false);
    assert.deepEqual(lka.fatals, []);
  } finally {
    await lka.stop();
  }
});
