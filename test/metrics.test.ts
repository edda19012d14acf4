// End-to-end: the Prometheus endpoint (`metrics listen on 127.0.0.1 port P`) read by an independent
// client (Python urllib) and its exposition text parsed: counters of what was sent and delivered,
// both histograms fed; statistics survive a restart (SQLite stats database in the spool); and
// `smtpctl encrypt` hashes that Python's crypt(3) verifies.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, startDaemon, type Daemon } from './lib/daemon.js';
import { buildMessage, deliverableUser, localMaildirConfig, uniqueTag, userMaildir } from './lib/conf.js';
import { header, showReply, smtpSession, transaction, waitForMessage } from './lib/python.js';
import { python3 } from './lib/paths.js';
import { run, sleep } from './lib/proc.js';
import { makeSharedDir, makeTestDir, removeTestDir } from './lib/tmp.js';
import { parseStats, smtpctl } from './lib/smtpctl.js';

const dir = makeTestDir('metrics');
makeSharedDir(`${dir}/mail`);
const user = await deliverableUser('tsmtpd-c2');
const metricsPort = await freePort();
const daemons: Daemon[] = [];
after(async () => {
  for (const d of daemons) await d.stop();
  removeTestDir(dir);
});
const config = (ctx: { port: number; dir: string }) => localMaildirConfig(ctx, { globals: [`metrics listen on 127.0.0.1 port ${metricsPort}`] });

/** GET /metrics with Python's urllib; the exposition text parsed into name{labels} -> value. */
async function scrape(): Promise<Map<string, number>> {
  const py = `import urllib.request,sys\nr=urllib.request.urlopen('http://127.0.0.1:${metricsPort}/metrics',timeout=10)\nassert r.status==200\nassert r.headers.get('Content-Type','').startswith('text/plain')\nsys.stdout.write(r.read().decode())`;
  const r = await run(python3, ['-c', py], { timeoutMs: 20_000 });
  assert.equal(r.code, 0, r.stderr);
  const m = new Map<string, number>();
  for (const line of r.stdout.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const x = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    assert.ok(x, `not an exposition line: ${line}`);
    m.set(x[1]!, Number(x[2]));
  }
  return m;
}

async function sendOne(d: Daemon, tag: string): Promise<void> {
  const s = await smtpSession(d.port, [{ op: 'ehlo' }, ...transaction('sender@client.test', [`${user}@localhost`], buildMessage([`Subject: ${tag}`], ['hello'])), { op: 'quit' }]);
  assert.equal(s.replies[3]?.code, 250, s.replies.map(showReply).join('\n'));
  const m = await waitForMessage('maildir', userMaildir(dir, user), (x) => header(x, 'Subject') === tag, 20_000);
  assert.ok(m, `${tag} not delivered\n${d.describe()}`);
}

test('the metrics endpoint exposes counters and both histograms; counters survive a restart', { timeout: 120_000 }, async () => {
  const first = await startDaemon({ dir, config });
  daemons.push(first);
  await sendOne(first, uniqueTag('m1'));
  await sendOne(first, uniqueTag('m2'));
  await sleep(1500); // counters and timings reach control once a second
  const m = await scrape();
  assert.equal(m.get('tsmtpd_smtp_message_total'), 2);
  assert.equal(m.get('tsmtpd_scheduler_delivery_ok_total'), 2);
  assert.equal(m.get('tsmtpd_smtp_data_latency_seconds_count'), 2);
  assert.equal(m.get('tsmtpd_smtp_data_latency_seconds_bucket{le="+Inf"}'), 2);
  assert.ok((m.get('tsmtpd_smtp_data_latency_seconds_sum') ?? -1) >= 0);
  assert.equal(m.get('tsmtpd_delivery_delay_seconds_count'), 2);
  assert.equal(m.get('tsmtpd_scheduler_envelope'), 0);
  assert.ok((m.get('tsmtpd_uptime_seconds') ?? -1) >= 0);
  // Buckets are cumulative.
  const buckets = [...m].filter(([k]) => k.startsWith('tsmtpd_delivery_delay_seconds_bucket')).map(([, v]) => v);
  assert.ok(buckets.length > 5 && buckets.every((v, i) => i === 0 || v >= buckets[i - 1]!), JSON.stringify(buckets));
  const stop = await first.stop();
  assert.equal(stop.code, 0, first.describe());

  const second = await startDaemon({ dir, config });
  daemons.push(second);
  await sendOne(second, uniqueTag('m3'));
  await sleep(1500);
  const stats = parseStats((await smtpctl(second.spool, ['show', 'stats'])).stdout).values;
  assert.equal(stats.get('smtp.message'), '3', 'counters of the first run kept');
  assert.equal(stats.get('scheduler.delivery.ok'), '3');
  assert.equal(stats.get('scheduler.envelope'), '0', 'levels are not carried over');
  const m2 = await scrape();
  assert.equal(m2.get('tsmtpd_smtp_message_total'), 3);
  assert.equal(m2.get('tsmtpd_smtp_data_latency_seconds_count'), 1, 'histograms are of this run');
});

test('smtpctl encrypt prints a $6$ hash that crypt(3) verifies', { timeout: 30_000 }, async () => {
  const r = await smtpctl(dir, ['encrypt', 'correct horse']);
  assert.equal(r.code, 0, r.stderr);
  const hash = r.stdout.trim();
  assert.match(hash, /^\$6\$[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{86}$/);
  const check = `import sys,warnings\nwarnings.simplefilter('ignore')\nimport crypt\nh=sys.argv[1]\nprint(crypt.crypt('correct horse',h)==h, crypt.crypt('wrong',h)==h)`;
  const v = await run(python3, ['-c', check, hash]);
  assert.equal(v.stdout.trim(), 'True False', v.stderr);
  const stdin = await smtpctl(dir, ['encrypt'], { input: 'one\ntwo\n' });
  const lines = stdin.stdout.trim().split('\n');
  assert.equal(lines.length, 2);
  for (const l of lines) assert.match(l, /^\$6\$/);
});
