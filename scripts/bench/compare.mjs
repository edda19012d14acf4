// `npm run bench -- --compare`: one workload against several servers in one run, alternating
// them round by round (the order rotates each round, so a machine that gets busier meets each the
// same), the median of the rounds in one table: msgs/s accepted and delivered, MiB/s, end-of-DATA
// latency p50/p99 (built-in client only), CPU ms per delivered message of the server's process
// tree (/proc), its peak RSS, and tsmtpd/peer ratios. Servers are started once, stopped by PID.
import path from 'node:path';
import { startDaemon } from '../../test/dist/lib/daemon.js';
import { localMaildirConfig, userMaildir } from '../../test/dist/lib/conf.js';
import { makeSharedDir, makeTestDir, removeTestDir } from '../../test/dist/lib/tmp.js';
import { cpuDelta, settle, treeCpu, treeRss } from './cpu.mjs';
import { clearMaildir, countMaildir, smtpSource } from './smtp-source.mjs';
import { runClient, quantile } from './client.mjs';
import { startSink } from './sink.mjs';
import { relayDomain } from './relay.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** What each server does on disk before its 250 (seen with strace -f -e fsync,fdatasync,rename,link). */
export const DURABILITY = {
  tsmtpd: 'fsync of the SQLite WAL (synchronous=FULL, group commit) before 250; maildir: fsync file, rename, fsync dir',
  postfix: 'fsync of the queue file (cleanup) before 250; maildir: fsync file, link into new/',
  opensmtpd: 'no fsync before 250 (queue file written and renamed only); maildir: fsync file, rename',
  sink: 'nothing: smtp-sink discards (no queue: the protocol ceiling)',
};

const TUNED = 'mta limit max-conn-per-host 20 max-conn-per-route 20 conn-delay-route 0 conn-delay-relay 0 reconn-delay-route 0 session-mail-max 1000';

/** Starts server `name` for `workload` ('maildir' | 'relay'); `sink` is the relay target. */
async function startServer(name, workload, ctx) {
  if (name === 'tsmtpd') {
    const dir = makeTestDir('cmp');
    makeSharedDir(path.join(dir, 'mail'));
    const config = workload === 'maildir'
      ? (c) => localMaildirConfig(c, { globals: ['smtp limit max-mails 1000000'] })
      : (c) => [TUNED, 'smtp limit max-mails 1000000', `listen on 127.0.0.1 port ${c.port}`, `action "out" relay host smtp://127.0.0.1:${ctx.sink.port}`, `match from any for domain "${relayDomain}" action "out"`].join('\n') + '\n';
    const d = await startDaemon({ dir, config });
    return { name, port: d.port, pid: d.pid, maildir: (u) => userMaildir(dir, u), stop: async () => (await d.stop(15_000), removeTestDir(dir)) };
  }
  if (name === 'postfix') {
    const pf = await import('./postfix.mjs');
    const p = await pf.startPostfix(workload === 'relay' ? { port: ctx.sink.port, concurrency: 20 } : undefined);
    return { name, port: p.port, pid: p.pid, maildir: (u) => path.join(p.dir, 'mail', u), stop: () => pf.stopPostfix(p) };
  }
  if (name === 'opensmtpd') {
    const { startOpenSmtpd } = await import('./opensmtpd.mjs');
    const o = await startOpenSmtpd(workload === 'relay' ? { relay: ctx.sink.port } : 'maildir'); // stock limits: 6.8 has no `mta limit`
    return { name, port: o.port, pid: o.pid, maildir: o.maildir, stop: () => o.stop() };
  }
  if (name === 'sink') {
    const s = await startSink();
    return { name, port: s.port, pid: s.pid, sinkOf: s, stop: () => s.stop() };
  }
  throw new Error(`--servers: unknown server ${name}`);
}

/** How many have arrived: the maildir's count, or the relay sink's / the sink's own message counter. */
function arrivals(server, workload, ctx, user) {
  if (server.sinkOf) return () => server.sinkOf.messages();
  if (workload === 'relay') return () => ctx.sink.messages();
  const md = server.maildir(user);
  return () => countMaildir(md);
}

/** Samples the tree's RSS every 100 ms until stop(); resolves the peak in bytes. */
function rssSampler(pid) {
  let peak = treeRss(pid);
  let on = true;
  const done = (async () => {
    while (on) {
      await sleep(100);
      peak = Math.max(peak, treeRss(pid));
    }
    return peak;
  })();
  return { stop: () => ((on = false), done) };
}

/** One measured run of `count` messages against a started server. */
async function measureOne(server, run, count, o, ctx) {
  const rcpt = run.workload === 'relay' ? `bench@${relayDomain}` : `${o.user}@localhost`;
  if (run.workload === 'maildir' && server.maildir) clearMaildir(server.maildir(o.user));
  await settle(server.pid);
  const got = arrivals(server, run.workload, ctx, o.user);
  const base = server.sinkOf || run.workload === 'relay' ? got() : 0;
  const cpu0 = treeCpu(server.pid);
  const rss = rssSampler(server.pid);
  const t0 = Date.now();
  const load = { port: server.port, sessions: run.sessions, size: run.size, count, reuse: run.mode === 'reused', rcpt, timeoutMs: o.timeoutMs };
  const src = o.client === 'builtin' ? await runClient(load) : await smtpSource(o.smtpSource, load);
  const ok = o.client === 'builtin' ? src.ok : src.code === 0;
  const acceptMs = src.ms;
  const deadline = Date.now() + Math.min(120_000, Math.max(30_000, acceptMs * 5));
  while (got() - base < count && Date.now() < deadline) await sleep(10);
  const deliveredCount = got() - base;
  const deliverMs = Date.now() - t0;
  await settle(server.pid);
  const cpu = cpuDelta(cpu0, treeCpu(server.pid));
  const peak = await rss.stop();
  return {
    ok: ok && deliveredCount >= count,
    accepted: (count * 1000) / acceptMs,
    delivered: deliveredCount >= count ? (count * 1000) / deliverMs : undefined,
    deliveredCount,
    cpuPerMsg: cpu && deliveredCount > 0 ? cpu.ms / deliveredCount : undefined,
    rssMb: peak / 1048576,
    p50: src.latencies ? quantile(src.latencies, 0.5) : undefined,
    p99: src.latencies ? quantile(src.latencies, 0.99) : undefined,
    error: ok ? undefined : (src.lastError ?? src.stderr?.trim().split('\n').slice(-2).join(' | ')),
  };
}

const median = (xs) => {
  const v = xs.filter((x) => x !== undefined).sort((a, b) => a - b);
  return v.length ? v[Math.floor(v.length / 2)] : undefined;
};

/**
 * Messages per run for each server: `--messages`, else what takes it about `--seconds` at its rate
 * in a short probe (a slow peer must not make the others' runs too short to measure).
 */
async function countsFor(run, o, servers, ctx) {
  const counts = new Map();
  const probe = Math.max(30, run.sessions * 2);
  const cap = run.size >= 65536 ? 3000 : 20000;
  for (const s of servers) {
    if (o.messages) {
      counts.set(s.name, o.messages);
      continue;
    }
    const r = await measureOne(s, run, probe, o, ctx);
    const rate = Math.min(r.accepted, r.delivered ?? r.accepted);
    counts.set(s.name, Math.min(cap, Math.max(probe, Math.round((rate * o.seconds) / 10) * 10)));
  }
  return counts;
}

/** Servers started and not yet stopped: stopped by PID if the bench is interrupted. */
const live = new Set();
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    void Promise.all([...live].map((s) => s.stop().catch(() => {}))).then(() => process.exit(130));
  });
}

/** Every workload × server × round; returns the rows (medians) for the table. */
export async function compare(o) {
  const runs = [];
  for (const workload of o.workloads) for (const size of o.sizes) for (const mode of o.modes) for (const sessions of o.sessions) {
    if (workload === 'relay' && size > 1024) continue;
    runs.push({ workload, size, mode, sessions });
  }
  const rows = [];
  for (const workload of o.workloads) {
    const ctx = { sink: workload === 'relay' ? await startSink() : undefined };
    const sinkEntry = ctx.sink ? { stop: () => ctx.sink.stop() } : null;
    if (sinkEntry) live.add(sinkEntry);
    const servers = [];
    try {
      for (const name of o.servers) {
        if (workload === 'relay' && name === 'sink') continue;
        const started = await startServer(name, workload, ctx);
        servers.push(started);
        live.add(started);
      }
      // Warm-up, not measured: tsmtpd's JIT is still compiling through its first thousands of
      // messages (~1 ms/msg on the V8 platform threads), which a long-running daemon never pays.
      if (o.warmup > 0) {
        const rcpt = workload === 'relay' ? `bench@${relayDomain}` : `${o.user}@localhost`;
        for (const s of servers) {
          // Bounded in time, not only in count: a slow peer gets what it takes in 20 s.
          await runClient({ port: s.port, sessions: 10, size: 1024, count: o.warmup, reuse: true, rcpt, timeoutMs: 20_000 });
          await settle(s.pid, 20_000);
        }
      }
      for (const run of runs.filter((r) => r.workload === workload)) {
        const counts = await countsFor(run, o, servers, ctx);
        const per = new Map(servers.map((s) => [s.name, []]));
        for (let round = 0; round < o.rounds; round++) {
          const order = servers.map((_, i) => servers[(i + round) % servers.length]);
          for (const s of order) {
            const count = counts.get(s.name);
            const r = await measureOne(s, run, count, o, ctx);
            per.get(s.name).push(r);
            process.stderr.write(`bench: ${label(run)} round ${round + 1} ${s.name}: ${r.accepted.toFixed(0)} acc/s ${r.delivered?.toFixed(0) ?? `${r.deliveredCount}/${count}`} del/s ${r.cpuPerMsg?.toFixed(2) ?? '-'} CPU ms/msg${r.error ? ` (${r.error})` : ''}\n`);
          }
        }
        for (const s of servers) {
          const rs = per.get(s.name);
          const pick = (k) => median(rs.map((r) => r[k]));
          rows.push({ ...run, server: s.name, count: counts.get(s.name), ok: rs.every((r) => r.ok), accepted: pick('accepted'), delivered: pick('delivered'), cpuPerMsg: pick('cpuPerMsg'), rssMb: Math.max(...rs.map((r) => r.rssMb)), p50: pick('p50'), p99: pick('p99') });
        }
      }
    } finally {
      for (const s of servers) {
        await s.stop().catch((e) => process.stderr.write(`bench: stop ${s.name}: ${e.message}\n`));
        live.delete(s);
      }
      await ctx.sink?.stop();
      if (sinkEntry) live.delete(sinkEntry);
    }
  }
  return rows;
}

export function label(run) {
  return `${run.workload} ${run.size >= 1024 ? `${run.size / 1024}K` : `${run.size}B`} ${run.mode} s=${run.sessions}`;
}

const f = (n, d = 0) => (n === undefined || Number.isNaN(n) ? '-' : n.toFixed(d));

/** The table: one line per workload and server, ratios against tsmtpd's line of the workload. */
export function printCompare(rows, o) {
  const head = ['workload', 'server', 'msgs', 'acc/s', 'del/s', 'MiB/s', 'p50 ms', 'p99 ms', 'CPU ms/msg', 'RSS MB', 'del ratio', 'CPU ratio'];
  const lines = rows.map((r) => {
    const ours = rows.find((x) => x.server === 'tsmtpd' && label(x) === label(r));
    const del = r.delivered ?? (r.server === 'sink' ? r.accepted : undefined);
    const ratio = ours && r.server !== 'tsmtpd' && ours.delivered && del ? `${f(ours.delivered / del, 2)}x` : '-';
    const cratio = ours && r.server !== 'tsmtpd' && ours.cpuPerMsg && r.cpuPerMsg ? `${f(ours.cpuPerMsg / r.cpuPerMsg, 2)}x` : '-';
    return [label(r), r.server, r.count, `${f(r.accepted)}${r.ok ? '' : '!'}`, f(del), f(del && (del * r.size) / 1048576, 1), f(r.p50, 1), f(r.p99, 1), f(r.cpuPerMsg, 2), f(r.rssMb), ratio, cratio];
  });
  const w = head.map((h, i) => Math.max(h.length, ...lines.map((l) => String(l[i]).length)));
  const fmt = (cells) => cells.map((c, i) => (i < 2 ? String(c).padEnd(w[i]) : String(c).padStart(w[i]))).join('  ');
  const out = [fmt(head), w.map((n) => '-'.repeat(n)).join('  '), ...lines.map(fmt), ''];
  out.push(`Median of ${o.rounds} rounds, servers alternating (order rotated each round); load: ${o.client === 'builtin' ? 'built-in pipelining client (latency = end of DATA to its reply)' : 'smtp-source (no latency figures)'}.`);
  out.push('acc/s: messages / client wall time; del/s: until the last one is in the maildir (relay: counted by smtp-sink);');
  out.push('CPU ms/msg: user+sys of the server\'s whole process tree (/proc, reaped children included) per delivered message;');
  out.push('RSS MB: peak sum over the tree; ratios: tsmtpd / server (del: higher is better for tsmtpd, CPU: lower). "!" = failures.');
  out.push('Before its 250 each server:');
  for (const s of o.servers) out.push(`  ${s.padEnd(10)} ${DURABILITY[s] ?? '?'}`);
  process.stdout.write(out.join('\n') + '\n');
}
