#!/usr/bin/env node
// The benchmarking harness (`npm run bench`): Postfix's smtp-source against tsmtpd delivering to a
// maildir (1/10/50 sessions, 1 KiB and 100 KiB, per-message and reused connections), and relaying
// to smtp-sink (relay.mjs, sink.mjs: delivered msgs/s and CPU per message); `--peer postfix` runs
// the same loads against a private Postfix (postfix.mjs). Starts and stops its own daemons by PID,
// uses temp spools, loopback only, every loop bounded.
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startDaemon } from '../../test/dist/lib/daemon.js';
import { localMaildirConfig, userMaildir } from '../../test/dist/lib/conf.js';
import { ensureUsers } from '../../test/dist/lib/users.js';
import { makeSharedDir, makeTestDir, removeTestDir } from '../../test/dist/lib/tmp.js';
import { measure } from './smtp-source.mjs';
import { postfixReference } from './reference.mjs';
import { printRelayTable, printTable } from './table.mjs';
import { benchTsmtpdRelay, relayRun } from './relay.mjs';
import { startSink } from './sink.mjs';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const usage = `usage: npm run bench -- [--quick] [--seconds N] [--sessions 1,10,50] [--sizes 1024,102400]
                        [--modes per-message,reused] [--peer postfix] [--keep] [--only local|relay]
                        [--relay-sessions 10,50] [--relay-limits default,tuned] [--cpu-prof DIR]
       npm run bench -- --compare [--servers tsmtpd,postfix,opensmtpd,sink] [--workloads maildir,relay]
                        [--rounds 3] [--client smtp-source|builtin] [--messages N] [--warmup 2000] [--sessions 1,20,100]
                        [--sizes 1024,102400] [--modes per-message,reused]
       npm run bench -- --smoke       (a few seconds: tsmtpd and smtp-sink, 20 messages; what CI runs)`;

/** The concurrency both tsmtpd's tuned rows and the Postfix relay get towards the sink. */
const RELAY_CONCURRENCY = 20;
/** tsmtpd's relay variants: OpenSMTPD's defaults, and limits lifted to Postfix's way of relaying. */
const RELAY_LIMITS = {
  default: [],
  tuned: [`mta limit max-conn-per-host ${RELAY_CONCURRENCY} max-conn-per-route ${RELAY_CONCURRENCY} conn-delay-route 0 conn-delay-relay 0 reconn-delay-route 0 session-mail-max 1000`],
};

function parseArgs(argv) {
  const o = {
    seconds: 6, sessions: [1, 10, 50], sizes: [1024, 102400], modes: ['per-message', 'reused'], peer: undefined, keep: false,
    only: undefined, relaySessions: [10, 50], relayLimits: ['default', 'tuned'], cpuProf: undefined,
    compare: false, servers: ['tsmtpd', 'postfix', 'opensmtpd', 'sink'], workloads: ['maildir', 'relay'], rounds: 3,
    client: 'smtp-source', messages: undefined, explicitSessions: false, warmup: 2000,
  };
  const list = (v, f) => (v ?? '').split(',').filter(Boolean).map(f);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') Object.assign(o, { seconds: 1.5, sessions: [1, 10], sizes: [1024] });
    else if (a === '--seconds') o.seconds = Number(argv[++i]);
    else if (a === '--sessions') (o.sessions = list(argv[++i], Number)), (o.explicitSessions = true);
    else if (a === '--compare') o.compare = true;
    else if (a === '--smoke') Object.assign(o, { compare: true, smoke: true, servers: ['tsmtpd', 'sink'], workloads: ['maildir'], rounds: 1, messages: 20, warmup: 0, sizes: [1024], modes: ['per-message'], sessions: [2], explicitSessions: true, client: 'builtin' });
    else if (a === '--servers') o.servers = list(argv[++i], String);
    else if (a === '--workloads') o.workloads = list(argv[++i], String);
    else if (a === '--rounds') o.rounds = Number(argv[++i]);
    else if (a === '--client') o.client = argv[++i];
    else if (a === '--messages') o.messages = Number(argv[++i]);
    else if (a === '--warmup') o.warmup = Number(argv[++i]);
    else if (a === '--sizes') o.sizes = list(argv[++i], Number);
    else if (a === '--modes') o.modes = list(argv[++i], String);
    else if (a === '--peer') o.peer = argv[++i];
    else if (a === '--keep') o.keep = true;
    else if (a === '--only') o.only = argv[++i];
    else if (a === '--relay-sessions') o.relaySessions = list(argv[++i], Number);
    else if (a === '--relay-limits') o.relayLimits = list(argv[++i], String);
    else if (a === '--cpu-prof') o.cpuProf = path.resolve(argv[++i] ?? '');
    else if (a === '--help') throw new Error(`${usage}\ntuned: ${RELAY_LIMITS.tuned.join(' ')}`);
    else throw new Error(`unknown argument ${a}\n${usage}`);
  }
  if (!(o.seconds > 0 && o.seconds <= 60)) throw new Error('--seconds must be in (0, 60]');
  if (o.peer !== undefined && o.peer !== 'postfix') throw new Error(`--peer: only "postfix" is supported`);
  if (o.only !== undefined && o.only !== 'local' && o.only !== 'relay') throw new Error('--only: "local" or "relay"');
  if (o.client !== 'smtp-source' && o.client !== 'builtin') throw new Error('--client: "smtp-source" or "builtin"');
  if (!(o.rounds >= 1 && o.rounds <= 20)) throw new Error('--rounds must be 1..20');
  for (const v of o.relayLimits) if (!(v in RELAY_LIMITS)) throw new Error(`--relay-limits: ${v}? (default, tuned)`);
  return o;
}

function smtpSourceBin() {
  const bin = path.join(repo, '.peers/postfix/bin/smtp-source');
  if (!existsSync(bin)) {
    process.stderr.write('bench: fetching smtp-source (scripts/peers-install.sh)\n');
    execFileSync('bash', [path.join(repo, 'scripts/peers-install.sh')], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  return bin;
}

async function benchUser() {
  if (process.getuid?.() !== 0) return os.userInfo().username;
  const r = await ensureUsers(['tsmtpd-bench']);
  if (!r.ok) throw new Error(r.reason);
  return 'tsmtpd-bench';
}

/** Chooses a message count that takes about `seconds` at the rate a short probe run shows. */
async function calibrate(target, run, opts) {
  const probeCount = Math.max(50, run.sessions * 4);
  const probe = await measure(target, run, probeCount, opts);
  if (!probe.ok) return { probe, count: 0 };
  const cap = run.size >= 65536 ? 5000 : 30000;
  const count = Math.min(cap, Math.max(probeCount, Math.round((probe.accepted * opts.seconds) / 10) * 10));
  return { probe, count };
}

/** Measures every run against a fresh tsmtpd (new spool, empty maildir) each time. */
async function benchTsmtpd(runs, opts, user) {
  const results = [];
  for (const run of runs) {
    const dir = makeTestDir('bench');
    makeSharedDir(path.join(dir, 'mail'));
    // smtp-source -d sends all of a session's messages over one connection: lift the per-session
    // message limit (OpenSMTPD's default is 100) as Postfix has none.
    const d = await startDaemon({ dir, config: (ctx) => localMaildirConfig(ctx, { globals: ['smtp limit max-mails 1000000'] }) });
    const target = { port: d.port, rcpt: `${user}@localhost`, maildir: userMaildir(dir, user) };
    try {
      const { probe, count } = await calibrate(target, run, opts);
      const r = count > 0 ? await measure(target, run, count, opts) : probe;
      results.push({ ...run, ...r });
      process.stderr.write(`bench: tsmtpd ${label(run)}: ${count} msgs, ${r.accepted.toFixed(0)} accepted/s${r.error ? ` (${r.error})` : ''}\n`);
    } finally {
      const stop = await d.stop(10_000);
      if (stop.forced || stop.code !== 0) process.stderr.write(`bench: daemon stop: ${JSON.stringify(stop)}\n${d.describe()}\n`);
      if (opts.keep) process.stderr.write(`bench: kept ${dir}\n`);
      else removeTestDir(dir);
    }
  }
  return results;
}

function label(run) {
  return `s=${run.sessions} ${run.size >= 1024 ? `${run.size / 1024} KiB` : `${run.size} B`} ${run.mode}`;
}

/** The local rows (maildir): tsmtpd, then the same against Postfix when asked. */
async function localRows(o, opts) {
  const user = await benchUser();
  const runs = [];
  for (const size of o.sizes) for (const mode of o.modes) for (const sessions of o.sessions) runs.push({ size, mode, sessions });
  const ours = await benchTsmtpd(runs, opts, user);
  let peer;
  if (o.peer === 'postfix') {
    const { benchPostfix } = await import('./postfix.mjs');
    peer = await benchPostfix(runs, opts, user, calibrate);
  }
  printTable(ours, peer, postfixReference);
  return ours.every((r) => r.ok && r.delivered !== undefined);
}

/**
 * The relay rows, all relaying to one smtp-sink: per session count, tsmtpd in each limits variant
 * (a fresh daemon each), then the one private Postfix, so the two meet the same machine load.
 */
async function relayRows(o, opts) {
  const base = { size: 1024, mode: 'per-message' };
  const sink = await startSink();
  const ropts = { ...opts, cpuProf: o.cpuProf };
  let pf;
  const ours = [];
  const peer = o.peer === 'postfix' ? [] : undefined;
  try {
    if (peer) pf = await (await import('./postfix.mjs')).startPostfixRelay(sink, RELAY_CONCURRENCY);
    for (const sessions of o.relaySessions) {
      const runs = o.relayLimits.map((variant) => ({ ...base, sessions, variant, limits: RELAY_LIMITS[variant] }));
      ours.push(...(await benchTsmtpdRelay(runs, ropts, sink)));
      if (pf) peer.push(await relayRun('postfix', pf.target, { ...base, sessions }, ropts, sink));
    }
  } finally {
    await pf?.stop();
    await sink.stop();
  }
  printRelayTable(ours, pf ? peer : undefined, `tuned = ${RELAY_LIMITS.tuned.join(' ')}; Postfix: default_destination_concurrency_limit ${RELAY_CONCURRENCY}.`);
  return ours.every((r) => r.ok && r.delivered !== undefined);
}

/** `--compare`: every server on the same workloads, alternating round by round (compare.mjs). */
async function compareRows(o) {
  const { compare, printCompare } = await import('./compare.mjs');
  let servers = o.servers;
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench: postfix and opensmtpd need root; comparing tsmtpd and smtp-sink only\n');
    servers = servers.filter((s) => s === 'tsmtpd' || s === 'sink');
  } else if (servers.includes('opensmtpd')) {
    const { openSmtpdAvailable } = await import('./opensmtpd.mjs');
    if (!openSmtpdAvailable()) servers = servers.filter((s) => s !== 'opensmtpd');
  }
  const sessions = o.explicitSessions ? o.sessions : [1, 20, 100];
  const co = { ...o, servers, sessions, user: await benchUser(), smtpSource: smtpSourceBin(), timeoutMs: 120_000 };
  const rows = await compare(co);
  printCompare(rows, co);
  return rows.every((r) => r.ok);
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.compare) {
    if (!(await compareRows(o))) process.exitCode = 1;
    return;
  }
  const opts = { smtpSource: smtpSourceBin(), seconds: o.seconds, sourceTimeoutMs: Math.max(60_000, o.seconds * 10_000), keep: o.keep };
  let ok = true;
  if (o.only !== 'relay') ok = (await localRows(o, opts)) && ok;
  if (o.only !== 'local') {
    if (o.only === undefined) process.stdout.write('\n');
    ok = (await relayRows(o, opts)) && ok;
  }
  if (!ok) process.exitCode = 1;
}

main().catch((e) => {
  process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
