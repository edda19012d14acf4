#!/usr/bin/env node
// Idle memory of the whole daemon (issue 10's "idle RSS of all the daemon's processes"): starts
// tsmtpd from a tree (as root: privileged + actor process + delivery helpers), prints RSS and PSS
// (/proc/PID/smaps_rollup) of every process right after start, and after N messages delivered
// to a maildir then S seconds idle. The target sums RSS (shared pages counted in each process);
// PSS splits them. Daemon stopped by its PID.
//   node scripts/idle-rss.mjs [TREE] [--messages 1000] [--idle 30] [--sessions 10] [--json]
import path from 'node:path';
import { readdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values: o, positionals } = parseArgs({ allowPositionals: true, options: {
  messages: { type: 'string', default: '1000' }, idle: { type: 'string', default: '30' },
  sessions: { type: 'string', default: '10' }, json: { type: 'boolean', default: false },
} });
const repo = path.resolve(positionals[0] ?? '.');
const { smtpSource, countMaildir } = await import(path.join(repo, 'packages/bench/dist/index.js'));

/** Polls the maildir until it holds `want` messages or `timeoutMs` passes. */
async function waitDelivered(dir, want, startedAt, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (countMaildir(dir) < want && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return { count: countMaildir(dir), ms: Date.now() - startedAt };
}
const { startDaemon } = await import(path.join(repo, 'test/dist/lib/daemon.js'));
const { localMaildirConfig, userMaildir } = await import(path.join(repo, 'test/dist/lib/conf.js'));
const { makeSharedDir, makeTestDir, removeTestDir } = await import(path.join(repo, 'test/dist/lib/tmp.js'));

/** pid -> {ppid, comm, cmd} of every process now. */
function procs() {
  const out = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const st = readFileSync(`/proc/${name}/stat`, 'utf8');
      const close = st.lastIndexOf(')');
      const ppid = Number(st.slice(close + 2).split(' ')[1]);
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0+$/, '').split('\0');
      out.set(Number(name), { ppid, comm: st.slice(st.indexOf('(') + 1, close), cmd });
    } catch { /* gone meanwhile */ }
  }
  return out;
}

/** kB fields of smaps_rollup (Rss, Pss, Anonymous, ...) and the thread count of one process. */
function memOf(pid) {
  const m = {};
  for (const line of readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8').split('\n')) {
    const x = /^(\w+):\s+(\d+) kB/.exec(line);
    if (x) m[x[1]] = Number(x[2]);
  }
  m.threads = readdirSync(`/proc/${pid}/task`).length;
  return m;
}

/** The daemon's processes (the root pid and its descendants), each with its memory. */
function snapshot(rootPid) {
  const all = procs();
  const rows = [];
  const stack = [rootPid];
  for (let guard = 0; stack.length > 0 && guard < 10_000; guard++) {
    const pid = stack.pop();
    const p = all.get(pid);
    if (!p) continue;
    try {
      const m = memOf(pid);
      const title = p.cmd.join(' ');
      const name = title.startsWith('tsmtpd') ? title : /helper/.test(title) ? `helper ${p.cmd.slice(1).join(' ').slice(-40)}` : title.slice(0, 60);
      rows.push({ pid, name, rssMb: m.Rss / 1024, pssMb: m.Pss / 1024, anonMb: m.Anonymous / 1024, threads: m.threads });
    } catch { /* gone meanwhile */ }
    for (const [cpid, c] of all) if (c.ppid === pid) stack.push(cpid);
  }
  return rows;
}

function print(label, rows) {
  const sum = (k) => rows.reduce((n, r) => n + r[k], 0);
  process.stdout.write(`${label}\n`);
  for (const r of rows) process.stdout.write(`  ${String(r.pid).padStart(7)} ${r.name.padEnd(48)} RSS ${r.rssMb.toFixed(1).padStart(6)} MB  PSS ${r.pssMb.toFixed(1).padStart(6)} MB  anon ${r.anonMb.toFixed(1).padStart(6)} MB  ${r.threads} threads\n`);
  process.stdout.write(`  total: RSS ${sum('rssMb').toFixed(1)} MB  PSS ${sum('pssMb').toFixed(1)} MB (${rows.length} processes)\n`);
}

const dir = makeTestDir('idle-rss');
makeSharedDir(path.join(dir, 'mail'));
const d = await startDaemon({ dir, config: (ctx) => localMaildirConfig(ctx, { globals: ['smtp limit max-mails 1000000'] }) });
const user = process.getuid?.() === 0 ? 'tsmtpd-bench' : (await import('node:os')).userInfo().username;
const out = {};
try {
  await new Promise((r) => setTimeout(r, 2000));
  out.start = snapshot(d.pid);
  print('right after start (2 s)', out.start);
  const count = Number(o.messages);
  if (count > 0) {
    const t = Date.now();
    const src = await smtpSource({ port: d.port, sessions: Number(o.sessions), size: 1024, count, reuse: false, rcpt: `${user}@localhost`, timeoutMs: 120_000 });
    const del = await waitDelivered(userMaildir(dir, user), count, t, 120_000);
    if (!src.ok || del.count < count) process.stderr.write(`idle-rss: only ${del.count}/${count} delivered (${src.error ?? "smtp-source ok"})\n`);
    out.busy = snapshot(d.pid);
    print(`after ${del.count} messages (${(del.ms / 1000).toFixed(1)} s)`, out.busy);
    await new Promise((r) => setTimeout(r, Number(o.idle) * 1000));
    out.idle = snapshot(d.pid);
    print(`then ${o.idle} s idle`, out.idle);
  }
} finally {
  await d.stop(10_000);
  removeTestDir(dir);
}
if (o.json) process.stdout.write(`${JSON.stringify(out)}\n`);
