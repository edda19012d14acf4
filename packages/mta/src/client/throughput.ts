// A throughput check, not a test: N messages of 1 KiB over one connection to smtp-sink, printing
// messages/s and the client's CPU ms per message. Run after `npx tsc -b packages/mta`:
//   node packages/mta/dist/client/throughput.js [N] [recipients]
import { createClientSession } from './index.js';
import { bodyOf, options, startSink, tempDir } from './test-peers.js';

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 2000);
  const rcpts = Number(process.argv[3] ?? 1);
  const dir = tempDir('throughput');
  const sink = await startSink(dir.path, [], false);
  try {
    const c = createClientSession(options(sink.port));
    const conn = await c.connect();
    if (!conn.ok) throw new Error(conn.reply);
    const body = `Subject: throughput\n\n${'x'.repeat(70)}\n`.repeat(14);
    const tx = {
      mailFrom: 'a@x.test',
      smtputf8: false,
      eightBit: false,
      size: body.length,
      recipients: Array.from({ length: rcpts }, (_, i) => ({ address: `r${i}@y.test`, notify: 0 })),
      body: bodyOf(body, 4096),
    };
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const r = await c.send(tx);
      if (!r.ok || r.recipients.some((o) => o.status !== 'ok')) throw new Error(JSON.stringify(r));
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const cpu = process.cpuUsage(cpu0);
    await c.quit();
    const cpuMs = (cpu.user + cpu.system) / 1000;
    console.log(`${n} messages x ${rcpts} rcpt, ${body.length} bytes, one connection: ${((n * 1000) / ms).toFixed(0)} msgs/s, ${(ms / n).toFixed(3)} ms/msg wall, ${(cpuMs / n).toFixed(3)} CPU ms/msg`);
  } finally {
    await sink.stop();
    dir.remove();
  }
}

await main();
