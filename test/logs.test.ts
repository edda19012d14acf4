// End-to-end: the daemon's log. Under parallel load (Python smtplib sessions) every message's
// `smtp: message` line comes before its delivery line although the smtp and mda workers flush on
// their own timers; each line starts with its ISO 8601 time (stderr is a pipe, not the journal); `--log-format json` gives one JSON object a line that a log shipper can read.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, type Daemon } from './lib/daemon.js';
import { deliverableUser, localMaildirConfig } from './lib/conf.js';
import { smtpLoad, smtpSession, transaction } from './lib/python.js';
import { waitFor } from './lib/proc.js';
import { makeSharedDir, makeTestDir, removeTestDir } from './lib/tmp.js';

const STAMP = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) /;

describe('log lines', () => {
  const dirs: string[] = [];
  const daemons: Daemon[] = [];
  after(async () => {
    for (const d of daemons) await d.stop();
    for (const d of dirs) removeTestDir(d);
  });

  test('causal order under load, and a timestamp on every line', async () => {
    const dir = makeTestDir('logs');
    dirs.push(dir);
    makeSharedDir(`${dir}/mail`);
    const user = await deliverableUser('tsmtpd-e1');
    const d = await startDaemon({ dir, config: (ctx) => localMaildirConfig(ctx) });
    daemons.push(d);
    const n = 8 * 5;
    const load = await smtpLoad(d.port, { sessions: 8, perSession: 5, rcpt: `${user}@localhost`, killPgid: 0, timeoutMs: 120_000 });
    assert.equal(load.acked.length, n, JSON.stringify(load.failed));
    const delivered = () => (d.output().match(/^mda: delivery .*result=Ok/gm) ?? []).length;
    assert.ok(await waitFor(() => (delivered() >= n ? true : undefined), 60_000), `${delivered()} of ${n} delivered\n${d.describe()}`);
    await new Promise((r) => setTimeout(r, 300)); // the last lines' ordering window
    const raw = d.rawOutput().trimEnd().split('\n');
    // (The times need not be monotonic: a line that reaches the parent after its ordering window
    // is written when it arrives, with the time it was made.)
    for (const l of raw) assert.ok(STAMP.test(l), `a line without its time: ${JSON.stringify(l)}`);
    const lines = raw.map((l) => l.replace(STAMP, ''));
    const accepted = new Map<string, number>();
    lines.forEach((l, i) => {
      const m = /^smtp: message session=\S+ msgid=([0-9a-f]{8}) /.exec(l);
      if (m) accepted.set(m[1]!, i);
    });
    assert.equal(accepted.size, n);
    let checked = 0;
    lines.forEach((l, i) => {
      const m = /^mda: delivery evpid=([0-9a-f]{8})[0-9a-f]{8} /.exec(l);
      if (!m) return;
      const at = accepted.get(m[1]!);
      assert.ok(at !== undefined && at < i, `delivery of ${m[1]} (line ${i}) before its smtp: message (line ${at})\n${lines.slice(Math.max(0, i - 5), i + 2).join('\n')}`);
      checked++;
    });
    assert.equal(checked, n);
  });

  test('--log-format json: one object a line, with the time, role, event and fields', async () => {
    const dir = makeTestDir('logs-json');
    dirs.push(dir);
    makeSharedDir(`${dir}/mail`);
    const user = await deliverableUser('tsmtpd-e1');
    const d = await startDaemon({ dir, config: (ctx) => localMaildirConfig(ctx), extraArgs: ['--log-format', 'json'] });
    daemons.push(d);
    const msg = Buffer.from('Subject: json\r\n\r\nx\r\n');
    const s = await smtpSession(d.port, [{ op: 'ehlo' }, ...transaction('a@client.test', [`${user}@localhost`], msg), { op: 'quit' }]);
    assert.equal(s.replies[3]?.code, 250);
    assert.ok(await waitFor(() => (d.output().includes('"event":"delivery"') ? true : undefined), 30_000), d.describe());
    await new Promise((r) => setTimeout(r, 300));
    const objs = d.output().trimEnd().split('\n').map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        throw new Error(`not JSON: ${l}`);
      }
    });
    for (const o of objs) {
      assert.ok(!Number.isNaN(Date.parse(String(o['time']))), JSON.stringify(o));
      assert.match(String(o['role']), /^(smtpd|smtp|lka|queue|scheduler|mta|mda|control)$/);
      assert.equal(typeof o['event'], 'string');
    }
    const message = objs.find((o) => o['role'] === 'smtp' && o['event'] === 'message');
    assert.ok(message, d.describe());
    assert.match(String(message['msgid']), /^[0-9a-f]{8}$/);
    assert.equal(typeof message['size'], 'number');
    const delivery = objs.find((o) => o['role'] === 'mda' && o['event'] === 'delivery');
    assert.equal(String(delivery?.['evpid']).slice(0, 8), message['msgid']);
    assert.ok(objs.indexOf(message) < objs.indexOf(delivery!));
  });
});
