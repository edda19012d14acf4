// The relay rows: smtp-source sends 1 KiB messages, a connection per message, to a server that
// relays them to the shared smtp-sink (sink.mjs). Measures accepted msgs/s (smtp-source wall time),
// delivered msgs/s (until the sink has counted every message) and the CPU the server's process
// tree spent per delivered message (cpu.mjs). tsmtpd runs here, a fresh daemon per run; the private
// Postfix runs through postfix.mjs with the same measure(). Every wait is bounded.
import path from 'node:path';
import { startDaemon } from '../../test/dist/lib/daemon.js';
import { makeTestDir, removeTestDir } from '../../test/dist/lib/tmp.js';
import { cpuDelta, settle, threadCpu, threadDelta, treeCpu } from './cpu.mjs';
import { startProfiledDaemon, printProfiles } from './prof.mjs';
import { smtpSource } from './smtp-source.mjs';

export const relayDomain = 'relay.test';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Samples the sink's open connections every 100 ms until stop(); resolves the peak. */
function connSampler(sink) {
  let peak = 0;
  let on = true;
  const done = (async () => {
    while (on) {
      peak = Math.max(peak, sink.connections() ?? 0);
      await sleep(100);
    }
    return peak;
  })();
  return { stop: () => ((on = false), done) };
}

/** Polls the sink until it counted `want` more than `base`, or `timeoutMs` passed. */
async function waitSink(sink, base, want, startedAt, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let got = sink.messages() - base;
  while (got < want && Date.now() < deadline) {
    await sleep(10);
    got = sink.messages() - base;
  }
  return { count: got, ms: Date.now() - startedAt };
}

/**
 * One measured relay run of `count` messages against `target` ({port, rcpt, pid}: pid is the root
 * of the server's process tree). CPU is taken from just before smtp-source starts until the tree
 * is quiet again after the last delivery.
 */
export async function measureRelay(target, run, count, opts, sink) {
  await settle(target.pid); // the previous run's tail (idle sessions, queue cleanup) is not ours
  const base = sink.messages();
  const baseSessions = sink.sessions();
  const cpu0 = treeCpu(target.pid);
  const threads0 = threadCpu(target.pid);
  const startedAt = Date.now();
  const startUs = process.hrtime.bigint() / 1000n; // CLOCK_MONOTONIC, as V8's profile timestamps
  const conns = connSampler(sink);
  const src = await smtpSource(opts.smtpSource, {
    port: target.port, sessions: run.sessions, size: run.size, count, reuse: false, rcpt: target.rcpt,
    timeoutMs: opts.sourceTimeoutMs,
  });
  const waitMs = Math.min(120_000, Math.max(30_000, src.ms * 5));
  const del = await waitSink(sink, base, count, startedAt, waitMs);
  const peakConns = await conns.stop();
  await settle(target.pid);
  const cpu = cpuDelta(cpu0, treeCpu(target.pid));
  const threads = threadDelta(threads0, threadCpu(target.pid));
  const window = { startUs: Number(startUs), endUs: Number(process.hrtime.bigint() / 1000n) };
  return {
    count,
    ok: src.code === 0,
    error: src.code === 0 ? undefined : `smtp-source ${src.signal ?? `exit ${src.code}`}: ${src.stderr.trim().split('\n').slice(-3).join(' | ')}`,
    acceptMs: src.ms,
    accepted: (count * 1000) / src.ms,
    delivered: del.count >= count ? (count * 1000) / del.ms : undefined,
    deliveredCount: del.count,
    deliverMs: del.ms,
    sinkClosed: sink.sessions() - baseSessions,
    peakConns,
    cpuMs: cpu?.ms,
    cpuPerMsg: cpu && del.count > 0 ? cpu.ms / del.count : undefined,
    cpuByComm: cpu?.byComm,
    threads,
    window,
  };
}

/** A count that takes about `seconds` at the slower of the accept and delivery rates of a probe. */
export async function calibrateRelay(target, run, opts, sink) {
  // Larger than one mta session's 100 messages, so a default-limits probe sees the reconnect delay.
  const probeCount = Math.max(200, run.sessions * 10);
  const probe = await measureRelay(target, run, probeCount, opts, sink);
  if (!probe.ok || probe.delivered === undefined) return { probe, count: 0 };
  const rate = Math.min(probe.accepted, probe.delivered);
  return { probe, count: Math.min(30000, Math.max(probeCount, Math.round((rate * opts.seconds) / 10) * 10)) };
}

/** smtpd.conf for the relay rows: mail for relayDomain goes to the sink as a smarthost. */
function relayConfig(ctx, sinkPort, limits) {
  return [
    ...limits,
    `listen on 127.0.0.1 port ${ctx.port}`,
    `action "out" relay host smtp://127.0.0.1:${sinkPort}`,
    `match from any for domain "${relayDomain}" action "out"`,
  ].join('\n') + '\n';
}

export function relayLabel(run) {
  return `relay${run.variant ? ` ${run.variant}` : ''} s=${run.sessions} ${run.size / 1024} KiB`;
}

function logRun(who, run, count, r) {
  const d = r.delivered !== undefined ? `${r.delivered.toFixed(0)} delivered/s` : `${r.deliveredCount}/${count} delivered`;
  const cpu = r.cpuPerMsg !== undefined ? `, ${r.cpuPerMsg.toFixed(2)} CPU ms/msg` : '';
  const busy = r.threads.length > 1 ? ` (busiest threads ms/msg: ${r.threads.slice(0, 4).map((t) => (t.ms / count).toFixed(2)).join(' ')})` : '';
  process.stderr.write(`bench: ${who} ${relayLabel(run)}: ${count} msgs, ${r.accepted.toFixed(0)} accepted/s, ${d}${cpu}${busy}, ${r.peakConns} conns at most, ${r.sinkClosed} closed${r.error ? ` (${r.error})` : ''}\n`);
}

/** Calibrates and measures one run against a target, logging it. */
export async function relayRun(who, target, run, opts, sink) {
  const { probe, count } = await calibrateRelay(target, run, opts, sink);
  const r = count > 0 ? await measureRelay(target, run, count, opts, sink) : probe;
  logRun(who, run, count || probe.count, r);
  return { ...run, ...r, probeCount: count > 0 ? probe.count : 0 };
}

/**
 * The relay runs against a fresh tsmtpd each; a run's `limits` are its `mta limit` lines.
 * `opts.cpuProf`: a directory for V8 CPU profiles of every thread (written when the daemon exits).
 */
export async function benchTsmtpdRelay(runs, opts, sink) {
  const results = [];
  for (const run of runs) {
    const dir = makeTestDir('bench-relay');
    const config = (ctx) => relayConfig(ctx, sink.port, run.limits);
    const profDir = opts.cpuProf ? path.join(opts.cpuProf, `${run.variant}-s${run.sessions}`) : undefined;
    const d = profDir ? await startProfiledDaemon({ dir, config, profDir }) : await startDaemon({ dir, config });
    let r;
    try {
      r = await relayRun('tsmtpd', { port: d.port, rcpt: `bench@${relayDomain}`, pid: d.pid }, run, opts, sink);
      results.push(r);
    } finally {
      const stop = await d.stop(15_000);
      if (stop.forced || stop.code !== 0) process.stderr.write(`bench: daemon stop: ${JSON.stringify(stop)}\n${d.describe()}\n`);
      if (opts.keep) process.stderr.write(`bench: kept ${dir}\n`);
      else removeTestDir(dir);
    }
    if (profDir && r) printProfiles(profDir, r.window, r.count);
  }
  return results;
}
