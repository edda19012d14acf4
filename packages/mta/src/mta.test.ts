// The mta actor in a real worker with a fake queue and lka: envelopes it cannot relay become
// results at once (invalid, not an mta envelope, an action that does not relay, an unknown
// action), a smarthost table without the domain is a temporary failure, and stats are counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestActor, type Fakes } from '@tsmtpd/actor';
import type { SmtpdConfig } from '@tsmtpd/config';
import { DEFAULT_SETTINGS, ok, type DeliveryResult } from '@tsmtpd/proto';
import { workerUrl } from './index.js';
import { envelope, relayAction, relayConfig } from './test-fakes.js';
import { sleep, startSink, tempDir } from './client/test-peers.js';

/** The mta in a worker, its results collected; `bodyRead`: the fake queue's. */
function startMta(config: SmtpdConfig, bodyRead: (msgid: string) => Promise<unknown>, fakes: Fakes = {}) {
  const results: DeliveryResult[] = [];
  const started = startTestActor({
    role: 'mta',
    entry: workerUrl,
    init: { config, spool: '/nonexistent', settings: { ...DEFAULT_SETTINGS, dnsServers: ['127.0.0.1:9'] } },
    fakes: { ...fakes, queue: { onDeliveryResults: (r: DeliveryResult[]) => void results.push(...r), bodyRead: bodyRead as never } },
  });
  return { results, started };
}

test('envelopes that cannot be relayed are answered at once', async () => {
  const config = relayConfig();
  config.actions['local'] = { file: 'test', line: 0, name: 'local', method: { kind: 'maildir', junk: false } };
  config.actions['smart'] = relayAction('smart', { domain: 'hosts' });
  const { results, started } = startMta(config, async () => ok({ chunks: [], next: null }), { lka: { tableLookup: async () => ({ ok: true, value: null }) } });
  const actor = await started;
  try {
    actor.mailbox.onRelay([
      { id: 'aaaaaaaa00000001' } as never,
      envelope('aaaaaaaa00000002', 'u@x.test', { type: 'mda' }),
      envelope('aaaaaaaa00000003', 'u@x.test', { dispatcher: 'local' }),
      envelope('aaaaaaaa00000004', 'u@x.test', { dispatcher: 'gone' }),
      envelope('aaaaaaaa00000005', 'u@x.test', { dispatcher: 'smart' }),
    ]);
    await actor.drain();
    const until = Date.now() + 5000;
    while (results.length < 5 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    const by = Object.fromEntries(results.map((r) => [r.evpid, r]));
    assert.equal(by['aaaaaaaa00000001']?.status, 'permfail');
    assert.equal(by['aaaaaaaa00000002']?.status, 'permfail');
    assert.equal(by['aaaaaaaa00000003']?.status, 'permfail');
    // Its action gone (removed by a reload): a permanent failure naming it, for the bounce.
    assert.equal(by['aaaaaaaa00000004']?.status, 'permfail');
    assert.match(by['aaaaaaaa00000004']!.errorline, /action "gone" no longer exists/);
    assert.equal(by['aaaaaaaa00000005']?.status, 'tempfail');
    assert.match(by['aaaaaaaa00000005']!.errorline, /Cannot retrieve smarthost/);
    const s = await actor.handle.ctl.stats();
    assert.equal(s['mta.refused'], 4);
    assert.equal(s['mta.delivery.tempfail'], 1);
  } finally {
    await actor.stop();
  }
});

test('a body sent along with its envelope is relayed without asking the queue; others are read from it', { timeout: 60_000 }, async () => {
  const dir = tempDir('kept');
  const sink = await startSink(dir.path);
  const config = relayConfig({ host: { url: `smtp+notls://127.0.0.1:${sink.port}`, proto: 'smtp+notls', hostname: '127.0.0.1', port: sink.port } });
  const reads: string[] = [];
  const text = (tag: string): string => `Subject: ${tag}\r\n\r\nbody of ${tag}\r\n`;
  const { results, started } = startMta(config, async (msgid) => {
    reads.push(msgid);
    return ok({ chunks: [new TextEncoder().encode(text('read')).buffer as ArrayBuffer], next: null });
  });
  const actor = await started;
  try {
    const sent = new TextEncoder().encode(text('kept')).buffer as ArrayBuffer;
    actor.mailbox.onRelay([envelope('bbbbbbbb00000001', 'u@x.test'), envelope('bbbbbbbb00000002', 'v@x.test')], { bbbbbbbb: [sent] });
    actor.mailbox.onRelay([envelope('cccccccc00000001', 'w@x.test')]);
    const until = Date.now() + 20_000;
    while (results.length < 3 && Date.now() < until) await sleep(20);
    assert.deepEqual(results.map((r) => r.status), ['ok', 'ok', 'ok'], JSON.stringify(results));
    assert.deepEqual(reads, ['cccccccc'], 'only the message sent without its body was read from the queue');
    const got = sink.messages().map((m) => m.text);
    assert.equal(got.filter((t) => t.includes('body of kept')).length, got.length - 1, got.join('\n---\n'));
    assert.equal(got.filter((t) => t.includes('body of read')).length, 1);
  } finally {
    await actor.stop();
    await sink.stop();
    dir.remove();
  }
});
