// Actor test: the real lka worker started with the test kit, driven through its mailbox.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestActor } from '@tsmtpd/actor';
import { DEFAULT_SETTINGS, type ActorInit } from '@tsmtpd/proto';
import type { SmtpdConfig } from '@tsmtpd/config';
import { workerUrl } from './index.js';
import { action, config, forr, from, mapTable, mbox, relay, rule, session } from './test-helpers.js';

test('lka worker: rcptResolve, userLookup and tableUpdate through the mailbox', { timeout: 20_000 }, async () => {
  const init: ActorInit<SmtpdConfig> = {
    config: config({
      tables: [mapTable('aliases', { postmaster: 'root', out: 'carol@remote.net' })],
      actions: [action('local', mbox, { alias: 'aliases' }), action('relay', relay)],
      matches: [
        rule({ from: from('any'), for: forr('domain', 'example.org'), action: 'local' }),
        rule({ from: from('local'), for: forr('any'), action: 'relay' }),
      ],
    }),
    spool: '/nonexistent',
    settings: DEFAULT_SETTINGS,
  };
  const lka = await startTestActor({ role: 'lka', entry: workerUrl, init, deadlineMs: 10_000 });
  try {
    const s = session();
    const pm = await lka.mailbox.rcptResolve({ session: s, sender: 'alice@example.net', rcpt: 'Postmaster@example.org' });
    assert.deepEqual(pm, { ok: true, recipients: [{ dispatcher: 'local', type: 'mda', dest: 'Postmaster@example.org', mdaUser: 'root', ttl: 345_600 }] });
    const out = await lka.mailbox.rcptResolve({ session: s, sender: '', rcpt: 'out@example.org' });
    assert.deepEqual(out, { ok: true, recipients: [{ dispatcher: 'relay', type: 'mta', dest: 'carol@remote.net', ttl: 345_600 }] });
    const denied = await lka.mailbox.rcptResolve({ session: s, sender: 'alice@example.net', rcpt: 'bob@remote.net' });
    assert.deepEqual(denied, { ok: false, reply: { code: 550, enhanced: '5.7.1', text: '<bob@remote.net>: Relaying denied' } });
    const user = await lka.mailbox.userLookup('root', null);
    assert.ok(user.ok && user.user.uid === 0);
    assert.equal(await lka.mailbox.tableUpdate('aliases'), true);
    assert.equal(await lka.mailbox.tableUpdate('missing'), false);
    const stats = await lka.handle.ctl.stats();
    assert.equal(stats.resolved, 2);
    assert.equal(stats.refused, 1);
    assert.deepEqual(lka.fatals, []);
  } finally {
    await lka.stop();
  }
});

test('lka worker with a config naming an undeclared table fails to start, naming the table', { timeout: 20_000 }, async () => {
  const init: ActorInit<SmtpdConfig> = {
    config: config({ actions: [action('local', mbox)], matches: [rule({ from: from('src', { table: 'nope' }), action: 'local' })] }),
    spool: '/nonexistent',
    settings: DEFAULT_SETTINGS,
  };
  await assert.rejects(startTestActor({ role: 'lka', entry: workerUrl, init, deadlineMs: 3_000 }), /table <nope> is not declared/);
});
