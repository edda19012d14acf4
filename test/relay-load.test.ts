// End-to-end relaying under load: 300 messages from Postfix's smtp-source to one domain, relayed
// to Postfix's smtp-sink over a few reused connections (counted by smtp-sink itself), with the
// relay's back-pressure (`hold` above task-hiwat, released at task-lowat) on the way.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { startDaemon, type Daemon } from './lib/daemon.js';
import { startDnsmasq, type Dnsmasq } from './lib/dnsmasq.js';
import { smtpSourceBin } from './lib/paths.js';
import { describeRun, run, waitFor } from './lib/proc.js';
import { smtpSinkBin, startSmtpSink, type SmtpSink } from './lib/smtp-sink.js';
import { makeTestDir, removeTestDir } from './lib/tmp.js';

const dir = makeTestDir('relay-load');
const skip = existsSync(smtpSourceBin) && existsSync(smtpSinkBin) ? false : 'smtp-source/smtp-sink missing: run scripts/peers-install.sh (as .ci/run does)';
let dns: Dnsmasq | undefined;
let sink: SmtpSink | undefined;
let d: Daemon | undefined;
after(async () => {
  await d?.stop();
  await sink?.stop();
  await dns?.stop();
  removeTestDir(dir);
});

test('300 messages to one domain go over a few reused connections', { skip, timeout: 180_000 }, async (t) => {
  const N = 300;
  dns = await startDnsmasq(dir, { mx: [['load.test', 'mx.load.test', 10]], hosts: [['mx.load.test', '127.0.0.29']] });
  sink = await startSmtpSink(path.join(dir, 'sink'), '127.0.0.29', 25);
  await waitFor(() => (sink!.counters().sessions >= 1 ? true : undefined), 5000);
  const probeSessions = sink.counters().sessions;
  d = await startDaemon({
    dir,
    env: { SMTPD_NAMESERVERS: dns.server },
    config: (ctx) => `listen on 127.0.0.1 port ${ctx.port}\naction "out" relay\nmatch from any for domain "load.test" action "out"\n`,
  });
  const r = await run(smtpSourceBin, ['-s', '10', '-m', String(N), '-M', 'client.test', '-f', 'load@client.test', '-t', 'rcpt@load.test', `127.0.0.1:${d.port}`], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, describeRun('smtp-source', r));
  const done = await waitFor(() => (sink!.counters().messages >= N ? true : undefined), 120_000, 250);
  const c = sink.counters();
  assert.ok(done, `smtp-sink got ${c.messages} of ${N} messages\n${d.describe()}`);
  const okLines = () => d!.output().split('\n').filter((l) => /^mta: delivery .*result=Ok/.test(l)).length;
  await waitFor(() => (okLines() >= N ? true : undefined), 10_000); // log lines trail the replies
  const ok = okLines();
  assert.equal(ok, N, `every envelope delivered once by the mta\n${d.describe()}`);
  assert.equal(sink.messages().length, N);
  // Sessions end after 100 messages each (session-mail-max) or when idle; at most 5 at a time
  // per route, opened 5 s apart (conn-delay-route): a handful, far fewer than messages.
  await waitFor(() => (sink!.counters().sessions - probeSessions >= 3 ? true : undefined), 30_000, 250);
  const sessions = sink.counters().sessions - probeSessions;
  assert.ok(sessions >= 3 && sessions <= 12, `${sessions} connections for ${N} messages\n${d.describe()}`);
  const holds = d.output().split('\n').filter((l) => /hiwat reached/.test(l)).length;
  t.diagnostic(`${N} messages over ${sessions} connections; the relay reached task-hiwat ${holds} time(s)`);
});
