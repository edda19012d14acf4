#!/usr/bin/env node
// CPU ms per delivered message of several tsmtpd builds or settings, alternating round by round
// (accept + maildir as root, smtp-source, 1 KiB), split per process of the daemon's tree and per
// thread of the privsep actor process (its worker threads named by spawn order, proto's ROLES;
// v8/uv: V8's platform threads and libuv's pool).
// Warm-up messages stay in the maildir and test dirs are removed only at the end: mass deletions
// make ext4 without a journal (this machine's) skip recently freed inodes at every file creation
// for minutes after (find_inode_bit / recently_deleted), 0.4-1.4 ms of helper sys time per
// delivery depending on what was deleted just before.
//   node scripts/bench/ab-threads.mjs ROUNDS COUNT SESSIONS per|reused SPEC...
//   SPEC = TREE[|ENV=VALUE...][|ARG=--daemon-arg...]; AB_WARM=N warm-up messages (default 5000: the JIT settles after ~5,000); AB_SIZE=bytes (default 1024)
import path from 'node:path';
import { readdirSync, readFileSync } from 'node:fs';
import { settle, smtpSource, countMaildir } from '../../packages/bench/dist/index.js';

/** Polls the maildir until it holds `want` messages or `timeoutMs` passes. */
async function waitDelivered(dir, want, startedAt, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (countMaildir(dir) < want && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return { count: countMaildir(dir), ms: Date.now() - startedAt };
}

const [roundsArg, countArg, sessArg, modeArg, ...specs] = process.argv.slice(2);
const rounds = Number(roundsArg ?? 3);
const count = Number(countArg ?? 2000);
const sessions = Number(sessArg ?? 10);
const reuse = modeArg === 'reused';
const warm = Number(process.env.AB_WARM ?? 5000);
const size = Number(process.env.AB_SIZE ?? 1024);
const bin = path.resolve('.peers/postfix/bin/smtp-source');
const ROLES = ['smtp', 'lka', 'queue', 'scheduler', 'mta', 'mda', 'control'];
const TICK_MS = 10; // CLK_TCK 100

function stat(file) {
  try {
    const t = readFileSync(file, 'utf8');
    const c = t.lastIndexOf(')');
    return { comm: t.slice(t.indexOf('(') + 1, c), f: t.slice(c + 2).split(' ') };
  } catch {
    return undefined;
  }
}

/** The process tree under `root`: {pid, comm, ms} with reaped children's times included. */
function tree(root) {
  const all = [];
  for (const n of readdirSync('/proc')) {
    if (!/^\d+$/.test(n)) continue;
    const s = stat(`/proc/${n}/stat`);
    if (s) all.push({ pid: Number(n), ppid: Number(s.f[1]), comm: s.comm, ms: (Number(s.f[11]) + Number(s.f[12]) + Number(s.f[13]) + Number(s.f[14])) * TICK_MS });
  }
  const out = [];
  const stack = all.filter((p) => p.pid === root);
  for (let guard = 0; stack.length > 0 && guard < 10_000; guard++) {
    const p = stack.pop();
    out.push(p);
    for (const c of all) if (c.ppid === p.pid) stack.push(c);
  }
  return out;
}

/** CPU ms now: total, per process (by title) and per thread role. */
function snapshot(root) {
  const out = new Map();
  const add = (k, v) => out.set(k, (out.get(k) ?? 0) + v);
  for (const p of tree(root)) {
    const name = p.comm.replace('tsmtpd: ', '');
    add('total', p.ms);
    add(`proc ${name}`, p.ms);
    let tids = [];
    try {
      tids = readdirSync(`/proc/${p.pid}/task`).map(Number).sort((a, b) => a - b);
    } catch {
      continue;
    }
    const threads = tids.map((t) => ({ t, s: stat(`/proc/${p.pid}/task/${t}/stat`) })).filter((x) => x.s);
    // Worker threads carry the process title as their name; V8's and libuv's threads are "node".
    const workers = threads.filter((x) => x.t !== p.pid && x.s.comm === p.comm).map((x) => x.t);
    for (const { t, s } of threads) {
      const ms = (Number(s.f[11]) + Number(s.f[12])) * TICK_MS;
      const role = t === p.pid ? 'main' : name === 'actors' && workers.includes(t) ? ROLES[workers.indexOf(t)] ?? 'worker' : 'v8/uv';
      add(`${name}:${role}`, ms);
    }
  }
  return out;
}

async function one(spec, cleanup) {
  const [repo, ...kv] = spec.split('|');
  const env = {};
  const extraArgs = [];
  for (const e of kv) {
    const i = e.indexOf('=');
    if (e.slice(0, i) === 'ARG') extraArgs.push(e.slice(i + 1));
    else env[e.slice(0, i)] = e.slice(i + 1);
  }
  const { startDaemon } = await import(path.join(repo, 'test/dist/lib/daemon.js'));
  const { localMaildirConfig, userMaildir } = await import(path.join(repo, 'test/dist/lib/conf.js'));
  const { makeSharedDir, makeTestDir, removeTestDir } = await import(path.join(repo, 'test/dist/lib/tmp.js'));
  const dir = makeTestDir('ab-threads');
  makeSharedDir(path.join(dir, 'mail'));
  cleanup.push(() => removeTestDir(dir));
  const d = await startDaemon({ dir, config: (ctx) => localMaildirConfig(ctx, { globals: ['smtp limit max-mails 1000000'] }), env, extraArgs });
  const user = 'tsmtpd-bench';
  const md = userMaildir(dir, user);
  const rcpt = `${user}@localhost`;
  try {
    await smtpSource({ port: d.port, sessions, size, count: warm, reuse, rcpt, timeoutMs: 60000 });
    await waitDelivered(md, warm, Date.now(), 30000);
    await settle(d.pid);
    const before = snapshot(d.pid);
    const t = Date.now();
    const src = await smtpSource({ port: d.port, sessions, size, count, reuse, rcpt, timeoutMs: 120000 });
    const del = await waitDelivered(md, warm + count, t, 60000);
    await settle(d.pid);
    const per = new Map();
    for (const [k, v] of snapshot(d.pid)) per.set(k, (v - (before.get(k) ?? 0)) / count);
    return { ok: src.ok && del.count >= warm + count, secs: del.ms / 1000, per };
  } finally {
    await d.stop(10000);
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const cleanup = [];
const results = specs.map(() => []);
try {
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < specs.length; i++) {
      const x = await one(specs[i], cleanup);
      results[i].push(x.per);
      const parts = [...x.per].filter(([k, v]) => k !== 'total' && v >= 0.01).sort().map(([k, v]) => `${k}=${v.toFixed(2)}`).join(' ');
      console.log(`[${i}] round ${r}: ${x.per.get('total').toFixed(3)} ms/msg ${x.ok ? '' : 'FAILED '}${x.secs.toFixed(1)}s ${parts}`);
    }
  }
  for (let i = 0; i < specs.length; i++) {
    const tot = results[i].map((m) => m.get('total'));
    const keys = [...new Set(results[i].flatMap((m) => [...m.keys()]))].filter((k) => k !== 'total').sort();
    console.log(`== [${i}] ${specs[i]}: median ${median(tot).toFixed(3)} (${Math.min(...tot).toFixed(3)}-${Math.max(...tot).toFixed(3)}) ms/msg`);
    console.log('   ' + keys.map((k) => `${k}=${median(results[i].map((m) => m.get(k) ?? 0)).toFixed(2)}`).filter((s) => !s.endsWith('=0.00')).join(' '));
  }
} finally {
  for (const c of cleanup) c();
}
