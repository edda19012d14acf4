#!/usr/bin/env node
// The shared-queue benchmark (`node scripts/bench/cluster.mjs`, after `npx tsc -b`): 1, 2 and 3
// tsmtpd nodes sharing one throwaway PostgreSQL queue, beside one node on its SQLite spool. Each
// run: fresh daemons (own spools) and a fresh database; Postfix's smtp-source sends the same share
// to every node at once; all deliver to one maildir. Prints messages/s accepted (until the last
// smtp-source ends) and delivered (until the maildir holds them all). Everything stopped by PID.
import os from 'node:os';
import path from 'node:path';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startDaemon } from '../../test/dist/lib/daemon.js';
import { ensureUsers } from '../../test/dist/lib/users.js';
import { makeSharedDir, makeTestDir, removeTestDir } from '../../test/dist/lib/tmp.js';
import { PgCluster } from '../../packages/queue/dist/pg-cluster.js';
import { clearMaildir, countMaildir, smtpSource } from '../../packages/bench/dist/index.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const usage = 'usage: node scripts/bench/cluster.mjs [--count N] [--sessions S] [--nodes 1,2,3] [--size BYTES]';

function parseArgs(argv) {
  const o = { count: 3000, sessions: 10, nodes: [1, 2, 3], size: 1024 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--count') o.count = Number(argv[++i]);
    else if (a === '--sessions') o.sessions = Number(argv[++i]);
    else if (a === '--size') o.size = Number(argv[++i]);
    else if (a === '--nodes') o.nodes = (argv[++i] ?? '').split(',').filter(Boolean).map(Number);
    else throw new Error(`unknown argument ${a}\n${usage}`);
  }
  if (!(o.count > 0 && o.count <= 100_000) || !(o.sessions > 0) || o.nodes.some((n) => !(n >= 1 && n <= 5))) throw new Error(usage);
  return o;
}

async function waitDelivered(dir, want, startedAt, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (countMaildir(dir) < want && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return { count: countMaildir(dir), ms: Date.now() - startedAt };
}

async function benchUser() {
  if (process.getuid?.() !== 0) return os.userInfo().username;
  const r = await ensureUsers(['tsmtpd-bench']);
  if (!r.ok) throw new Error(r.reason);
  return 'tsmtpd-bench';
}

/** One run: `nodes` daemons (queue line `queueLine`, or the SQLite spool when null). */
async function run(label, nodes, queueLine, o, bin, user, mailRoot) {
  const maildir = path.join(mailRoot, user, 'Maildir');
  clearMaildir(maildir);
  const dirs = [];
  const daemons = [];
  try {
    for (let i = 0; i < nodes; i++) {
      const dir = makeTestDir(`bench-node${i}`);
      dirs.push(dir);
      daemons.push(await startDaemon({
        dir,
        config: (ctx) => [
          ...(queueLine ? [queueLine] : []),
          'smtp limit max-mails 1000000',
          `listen on 127.0.0.1 port ${ctx.port}`,
          `action "local" maildir "${mailRoot}/%{user.username}/Maildir"`,
          'match from any for local action "local"',
        ].join('\n') + '\n',
      }));
    }
    const share = Math.floor(o.count / nodes);
    const total = share * nodes;
    const startedAt = Date.now();
    const sources = await Promise.all(daemons.map((d) => smtpSource({
      port: d.port, sessions: o.sessions, size: o.size, count: share, reuse: false, rcpt: `${user}@localhost`, timeoutMs: 300_000,
    })));
    const acceptMs = Date.now() - startedAt;
    const del = await waitDelivered(maildir, total, startedAt, 180_000);
    const failed = sources.filter((s) => !s.ok).length;
    return { label, nodes, total, accepted: (total * 1000) / acceptMs, delivered: del.count >= total ? (total * 1000) / del.ms : undefined, deliveredCount: del.count, failed };
  } finally {
    for (const d of daemons) await d.stop(10_000);
    for (const dir of dirs) removeTestDir(dir);
  }
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const bin = path.join(repo, '.peers/postfix/bin/smtp-source');
  if (!existsSync(bin)) throw new Error('smtp-source missing: run scripts/peers-install.sh');
  const user = await benchUser();
  const top = makeTestDir('bench-cluster');
  const mailRoot = makeSharedDir(path.join(top, 'mail'));
  const pg = await PgCluster.start();
  const rows = [];
  try {
    rows.push(await run('sqlite spool', 1, null, o, bin, user, mailRoot));
    process.stderr.write(`bench: ${JSON.stringify(rows.at(-1))}\n`);
    for (const n of o.nodes) {
      const db = pg.createDb(`bench${n}`);
      rows.push(await run(`postgres, ${n} node${n > 1 ? 's' : ''}`, n, `queue backend postgres "${pg.uri(db)}"`, o, bin, user, mailRoot));
      process.stderr.write(`bench: ${JSON.stringify(rows.at(-1))}\n`);
    }
  } finally {
    await pg.destroy();
    removeTestDir(top);
  }
  const f = (v) => (v === undefined ? '—' : v.toFixed(0));
  process.stdout.write(`${o.count} messages of ${o.size} B, smtp-source -s ${o.sessions} per node, a connection per message, one maildir\n`);
  process.stdout.write('| queue | nodes | accepted msg/s | delivered msg/s |\n|---|---|---|---|\n');
  for (const r of rows) process.stdout.write(`| ${r.label} | ${r.nodes} | ${f(r.accepted)} | ${f(r.delivered)}${r.delivered === undefined ? ` (${r.deliveredCount}/${r.total})` : ''}${r.failed ? ` (${r.failed} smtp-source failed)` : ''} |\n`);
  if (rows.some((r) => r.delivered === undefined || r.failed)) process.exitCode = 1;
}

main().catch((e) => {
  process.stderr.write(`bench: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
