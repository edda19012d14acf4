#!/usr/bin/env node
// A/B CPU per message: accept + maildir against tsmtpd built in two trees (a copy of the tree
// before a change, and after), alternating round by round, CPU of the daemon's process tree (/proc)
// per delivered message and per thread (tid - pid: smtp, lka, queue, scheduler, mta, mda in spawn
// order). For one change on a shared machine where throughput is noise:
//   node scripts/bench/ab.mjs A_TREE[|ENV=V] B_TREE [rounds] [messages] [sessions] [reused]
// AB_WARM=N warm-up messages first (default 200; the JIT settles after a few thousand), AB_PROF=DIR
// V8 profiles per thread. Delivers to tsmtpd-bench (root). Daemons stopped by PID.
import path from 'node:path';
import { cpuDelta, settle, treeCpu, threadCpu, threadDelta, smtpSource, clearMaildir, countMaildir } from '../../packages/bench/dist/index.js';

const [a, b, roundsArg, countArg, sessArg, modeArg] = process.argv.slice(2);
const rounds = Number(roundsArg ?? 3);
const count = Number(countArg ?? 2000);
const sessions = Number(sessArg ?? 10);
const reuse = modeArg === 'reused';

/** Polls the maildir until it holds `want` messages or `timeoutMs` passes. */
async function waitDelivered(dir, want, startedAt, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (countMaildir(dir) < want && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return { count: countMaildir(dir), ms: Date.now() - startedAt };
}

async function one(spec) {
  const [repo, ...envs] = spec.split('|');
  const env = Object.fromEntries(envs.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
  const { startDaemon } = await import(path.join(repo, 'test/dist/lib/daemon.js'));
  const { localMaildirConfig, userMaildir } = await import(path.join(repo, 'test/dist/lib/conf.js'));
  const { makeSharedDir, makeTestDir, removeTestDir } = await import(path.join(repo, 'test/dist/lib/tmp.js'));
  const dir = makeTestDir('ab');
  makeSharedDir(path.join(dir, 'mail'));
  const config = (ctx) => localMaildirConfig(ctx, { globals: ['smtp limit max-mails 1000000'] });
  const profDir = process.env.AB_PROF;
  const d = profDir ? await (await import('./prof.mjs')).startProfiledDaemon({ dir, config, profDir }) : await startDaemon({ dir, config, env });
  const user = 'tsmtpd-bench';
  const md = userMaildir(dir, user);
  try {
    // warm-up
    await smtpSource({ port: d.port, sessions, size: 1024, count: Number(process.env.AB_WARM ?? 200), reuse, rcpt: `${user}@localhost`, timeoutMs: 60000 });
    await waitDelivered(md, Number(process.env.AB_WARM ?? 200), Date.now(), 30000);
    await settle(d.pid);
    clearMaildir(md);
    const c0 = treeCpu(d.pid);
    const t0 = threadCpu(d.pid);
    const t = Date.now();
    const startUs = Number(process.hrtime.bigint() / 1000n);
    const src = await smtpSource({ port: d.port, sessions, size: 1024, count, reuse, rcpt: `${user}@localhost`, timeoutMs: 120000 });
    const del = await waitDelivered(md, count, t, 60000);
    await settle(d.pid);
    const cpu = cpuDelta(c0, treeCpu(d.pid));
    const window = { startUs, endUs: Number(process.hrtime.bigint() / 1000n) };
    if (profDir) { await d.stop(10000); (await import('./prof.mjs')).printProfiles(profDir, window, count); }
    const th = threadDelta(t0, threadCpu(d.pid)).slice(0, 14).map((x) => `${x.tid - d.pid}:${(x.ms / count).toFixed(2)}`).join(' ');
    const kids = Object.entries(cpu.byComm).filter(([k, v]) => v > 0).map(([k, v]) => `${k}:${(v / count).toFixed(2)}`).join(' ');
    return { ms: cpu.ms / count, ok: src.ok && del.count >= count, secs: del.ms / 1000, th, kids };
  } finally {
    await d.stop(10000);
    removeTestDir(dir);
  }
}

const res = { A: [], B: [] };
for (let i = 0; i < rounds; i++) {
  for (const [k, repo] of [['A', a], ['B', b]]) {
    if (!repo) continue;
    const r = await one(repo);
    res[k].push(r.ms);
    process.stdout.write(`${k} round ${i}: ${r.ms.toFixed(3)} ms/msg ${r.ok ? '' : 'FAILED '}${r.secs.toFixed(1)}s  procs[${r.kids}]  threads[${r.th}]\n`);
  }
}
const med = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
process.stdout.write(`median A ${med(res.A)?.toFixed(3)}  B ${res.B.length ? med(res.B).toFixed(3) : '-'} ms/msg\n`);
