// The mda actor in a real worker with fake queue (bodyRead, onDeliveryResults) and fake lka
// (userLookup): deliveries to a temporary maildir, loop detection, failures as results, one
// body read per message, session limits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultConfig } from '@tsmtpd/config';
import type { DeliveryResult } from '@tsmtpd/proto';
import { action, envelope, startMda } from './test-actor.js';
import { pythonRead, tempDir } from './test-util.js';

const MSG = 'Received: from client by mx.test\nDelivered-To: looped@y.org\nSubject: test\n\nhello\nFrom the body\n';

function byId(results: DeliveryResult[]): Record<string, DeliveryResult> {
  return Object.fromEntries(results.map((r) => [r.evpid, r]));
}

test('delivers one message to several maildirs with one body read; a looping recipient gets "loop"', async () => {
  const d = tempDir('actor');
  const config = defaultConfig('mx.test');
  config.actions = { local: action('local', { kind: 'maildir', path: `${d.path}/%{user.username}/Maildir`, junk: false }) };
  const me = { uid: process.getuid!(), gid: process.getgid!() };
  const users = { alice: { username: 'alice', directory: d.path, ...me }, carol: { username: 'carol', directory: d.path, ...me } };
  const h = await startMda(config, new Map([['aaaaaaaa', MSG]]), users);
  try {
    await h.deliver([
      envelope('aaaaaaaa00000001'),
      envelope('aaaaaaaa00000002', { dest: 'carol@y.org', rcpt: 'carol@y.org', mdaUser: 'carol' }),
      envelope('aaaaaaaa00000003', { dest: 'Looped@Y.org', rcpt: 'looped@y.org', mdaUser: 'carol' }),
    ]);
    const r = byId(await h.waitResults(3));
    assert.equal(r['aaaaaaaa00000001']?.status, 'ok', r['aaaaaaaa00000001']?.errorline);
    assert.equal(r['aaaaaaaa00000002']?.status, 'ok');
    assert.equal(r['aaaaaaaa00000003']?.status, 'loop');
    assert.match(r['aaaaaaaa00000003']!.errorline, /5\.4\.6 Loop detected/);
    assert.deepEqual(h.bodyReads, [{ msgid: 'aaaaaaaa', from: 0 }], 'one read of the body for all envelopes');
    const alice = pythonRead('maildir', join(d.path, 'alice', 'Maildir'));
    assert.equal(alice.length, 1);
    assert.deepEqual(alice[0]!.headers.slice(0, 3), [['Return-Path', '<bob@x.org>'], ['Delivered-To', 'alice@y.org'], ['Received', 'from client by mx.test']]);
    assert.equal(alice[0]!.body, 'hello\nFrom the body\n');
    assert.equal(pythonRead('maildir', join(d.path, 'carol', 'Maildir')).length, 1, 'the looping envelope wrote nothing');
  } finally {
    await h.stop();
    d.remove();
  }
});

test('a body sent with the envelopes is delivered without a body read; one of the wrong shape is read from the queue', async () => {
  const d = tempDir('actor-inline');
  const config = defaultConfig('mx.test');
  config.actions = { local: action('local', { kind: 'maildir', path: `${d.path}/%{user.username}/Maildir`, junk: false }) };
  const me = { uid: process.getuid!(), gid: process.getgid!() };
  const users = { alice: { username: 'alice', directory: d.path, ...me }, carol: { username: 'carol', directory: d.path, ...me }, dave: { username: 'dave', directory: d.path, ...me } };
  const inline = 'Subject: sent along\n\nfrom the dispatch\n';
  const h = await startMda(config, new Map([['cccccccc', 'Subject: stored\n\nfrom the queue\n'], ['dddddddd', MSG]]), users);
  try {
    const body = [new TextEncoder().encode(inline.slice(0, 10)).buffer, new TextEncoder().encode(inline.slice(10)).buffer] as ArrayBuffer[];
    await h.deliver(
      [envelope('cccccccc00000001'), envelope('cccccccc00000002', { dest: 'carol@y.org', rcpt: 'carol@y.org', mdaUser: 'carol' }), envelope('dddddddd00000001', { dest: 'dave@y.org', rcpt: 'dave@y.org', mdaUser: 'dave' })],
      { cccccccc: body, dddddddd: ['not a buffer'] as unknown as ArrayBuffer[] },
    );
    const r = byId(await h.waitResults(3));
    for (const id of ['cccccccc00000001', 'cccccccc00000002', 'dddddddd00000001']) assert.equal(r[id]?.status, 'ok', `${id}: ${r[id]?.errorline}`);
    assert.deepEqual(h.bodyReads, [{ msgid: 'dddddddd', from: 0 }], 'only the message without a usable body was read');
    for (const u of ['alice', 'carol']) {
      const box = pythonRead('maildir', join(d.path, u, 'Maildir'));
      assert.equal(box.length, 1);
      assert.equal(box[0]!.body, 'from the dispatch\n', `${u} got the body sent along`);
    }
    assert.equal(pythonRead('maildir', join(d.path, 'dave', 'Maildir'))[0]?.headers.find(([k]) => k === 'Subject')?.[1], 'test');
  } finally {
    await h.stop();
    d.remove();
  }
});

test('failures become results: unknown user 5.1.1, forward-only, unknown action, not mda, body read error', async () => {
  const d = tempDir('actor-fail');
  const config = defaultConfig('mx.test');
  config.actions = {
    local: action('local', { kind: 'maildir', path: `${d.path}/Maildir`, junk: false }),
    fwd: action('fwd', { kind: 'forward-only' }),
  };
  const users = { alice: { username: 'alice', directory: d.path, uid: process.getuid!(), gid: process.getgid!() } };
  const h = await startMda(config, new Map([['bbbbbbbb', MSG]]), users);
  try {
    await h.deliver([
      envelope('bbbbbbbb00000001', { mdaUser: 'ghost' }),
      envelope('bbbbbbbb00000002', { dispatcher: 'fwd' }),
      envelope('bbbbbbbb00000003', { dispatcher: 'vanished' }),
      envelope('bbbbbbbb00000004', { type: 'mta' }),
      envelope('cccccccc00000005', { msgid: 'cccccccc' }),
    ]);
    const r = byId(await h.waitResults(5));
    assert.equal(r['bbbbbbbb00000001']?.status, 'permfail');
    assert.match(r['bbbbbbbb00000001']!.errorline, /5\.1\.1 unknown user ghost/);
    assert.equal(r['bbbbbbbb00000002']?.status, 'permfail');
    assert.match(r['bbbbbbbb00000002']!.errorline, /forward-only/);
    // An action gone (a reload removed it): a permanent failure naming it, for the bounce.
    assert.equal(r['bbbbbbbb00000003']?.status, 'permfail');
    assert.match(r['bbbbbbbb00000003']!.errorline, /action "vanished" no longer exists/);
    assert.equal(r['bbbbbbbb00000004']?.status, 'permfail');
    assert.equal(r['cccccccc00000005']?.status, 'tempfail');
    assert.match(r['cccccccc00000005']!.errorline, /body read failed/);
    const s = await h.stats();
    assert.equal(s['mda.running'], 0);
    assert.equal(s['mda.pending'], 0);
  } finally {
    await h.stop();
    d.remove();
  }
});

test('a 3 MB body streams through pages intact; junk mail goes to .Junk', async () => {
  const d = tempDir('actor-big');
  const config = defaultConfig('mx.test');
  config.actions = { local: action('local', { kind: 'maildir', junk: true }) };
  const users = { alice: { username: 'alice', directory: d.path, uid: process.getuid!(), gid: process.getgid!() } };
  const line = 'x'.repeat(76) + '\n';
  const big = 'Subject: big\nX-Spam: yes\n\n' + line.repeat(Math.ceil((3 * 1024 * 1024) / line.length));
  const h = await startMda(config, new Map([['dddddddd', big]]), users);
  try {
    await h.deliver([envelope('dddddddd00000001')]);
    const r = await h.waitResults(1);
    assert.equal(r[0]?.status, 'ok', r[0]?.errorline);
    assert.ok(h.bodyReads.length > 20, `paged reads (${h.bodyReads.length})`);
    const msgs = pythonRead('maildir', join(d.path, 'Maildir'), 'Junk');
    assert.equal(msgs.length, 1);
    assert.equal(msgs[0]!.body, big.slice(big.indexOf('\n\n') + 2));
  } finally {
    await h.stop();
    d.remove();
  }
});

test('mda commands: per-user limit serialises one user; sender data never executes', async () => {
  const d = tempDir('actor-cmd');
  const log = join(d.path, 'log');
  const config = defaultConfig('mx.test');
  config.mda.limits.maxSessionPerUser = 1;
  config.actions = { local: action('local', { kind: 'mda', command: `echo "start %{sender}" >> ${log}; sleep 0.2; cat > /dev/null; echo end >> ${log}` }) };
  const users = { alice: { username: 'alice', directory: d.path, uid: process.getuid!(), gid: process.getgid!() } };
  const h = await startMda(config, new Map([['eeeeeeee', MSG]]), users);
  try {
    const evil = [`;touch ${d.path}/pwned;`, '$(id)', '`id`'];
    await h.deliver(evil.map((sender, i) => envelope(`eeeeeeee0000000${i}`, { sender })));
    const r = await h.waitResults(3);
    assert.deepEqual(r.map((x) => x.status), ['ok', 'ok', 'ok'], JSON.stringify(r));
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    assert.deepEqual(lines.map((l) => l.split(' ')[0]), ['start', 'end', 'start', 'end', 'start', 'end'], 'never two at once for one user');
    assert.deepEqual(lines.filter((l) => l.startsWith('start')), ['start :touch::tmp:' + d.path.split('/').slice(2).join(':') + ':pwned:', 'start ::id:', 'start :id:']);
  } finally {
    await h.stop();
    d.remove();
  }
});

test('stopping the actor kills a running mda command and reports a temporary failure', async () => {
  const d = tempDir('actor-stop');
  const pidFile = join(d.path, 'pid');
  const config = defaultConfig('mx.test');
  config.actions = { local: action('local', { kind: 'mda', command: `echo $$ > ${pidFile}; sleep 30; cat > /dev/null` }) };
  const users = { alice: { username: 'alice', directory: d.path, uid: process.getuid!(), gid: process.getgid!() } };
  const h = await startMda(config, new Map([['ffffffff', MSG]]), users);
  let stopped = false;
  try {
    await h.deliver([envelope('ffffffff00000001')]);
    for (let i = 0; i < 100 && !existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 20));
    const pid = Number(readFileSync(pidFile, 'utf8'));
    assert.ok(pid > 0);
    const t0 = Date.now();
    await h.stop();
    stopped = true;
    assert.ok(Date.now() - t0 < 4000, 'stop did not wait for the command');
    assert.throws(() => process.kill(pid, 0), /ESRCH/, 'the command was killed');
    // stop() answers only once the queue has the results of what it aborted.
    assert.equal(h.results[0]?.status, 'tempfail', JSON.stringify(h.results));
  } finally {
    if (!stopped) await h.stop();
    d.remove();
  }
});

test('reload: an action the new configuration no longer has fails its envelopes permanently, naming it', async () => {
  const d = tempDir('actor-reload');
  const config = defaultConfig('mx.test');
  config.actions = {
    local: action('local', { kind: 'maildir', path: `${d.path}/Maildir`, junk: false }),
    doomed: action('doomed', { kind: 'maildir', path: `${d.path}/Doomed`, junk: false }),
  };
  const users = { alice: { username: 'alice', directory: d.path, uid: process.getuid!(), gid: process.getgid!() } };
  const h = await startMda(config, new Map([['dddddddd', MSG]]), users);
  try {
    const next = structuredClone(config);
    delete next.actions['doomed'];
    assert.deepEqual(await h.reload({ gen: 2, config: next }), { ok: true, notes: ['mda actions removed: doomed'] });
    await h.deliver([envelope('dddddddd00000001', { msgid: 'dddddddd', dispatcher: 'doomed' }), envelope('dddddddd00000002', { msgid: 'dddddddd' })]);
    const r = byId(await h.waitResults(2));
    assert.equal(r['dddddddd00000001']?.status, 'permfail');
    assert.match(r['dddddddd00000001']!.errorline, /action "doomed" no longer exists in the configuration/);
    assert.equal(r['dddddddd00000002']?.status, 'ok');
    assert.equal(existsSync(join(d.path, 'Doomed')), false);
    const bad = await h.reload({ gen: 3, config: { nonsense: true } });
    assert.ok(!bad.ok && /invalid configuration/.test(bad.error), JSON.stringify(bad));
  } finally {
    await h.stop();
    d.remove();
  }
});
