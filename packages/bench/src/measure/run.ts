// One measured run of `count` messages against a started server: the load (smtp-source or the
// built-in client, maybe paced), then the wait until every message has arrived (maildir files or
// the sink's counter; none for accept-only), the server tree's CPU and the machine's CPU over that
// window (until the tree is quiet again), the tree's peak RSS, and the end-of-DATA latencies.
import { spawnSync } from 'node:child_process';
import { runClient } from '../load/client.js';
import { smtpSource } from '../load/smtp-source.js';
import type { ClientKind, Load } from '../load/types.js';
import type { Server } from '../servers/types.js';
import { sleep } from '../util.js';
import { cpuDelta, machineCpuMs, rssSampler, settle, treeCpu } from './proc.js';
import { quantile } from './stats.js';

export interface RunResult {
  ok: boolean;
  count: number;
  /** Messages per second the load got 250 for (client wall time). */
  accepted: number;
  /** Messages per second until the last one arrived; undefined for accept-only or when some never did. */
  delivered: number | undefined;
  arrived: number;
  /** CPU of the server's process tree per message (delivered, or accepted for accept-only), ms. */
  cpuPerMsg: number | undefined;
  /** CPU of the whole machine (/proc/stat, the load generator and everything else) per message, ms. */
  machinePerMsg: number;
  rssMb: number;
  p50: number | undefined;
  p99: number | undefined;
  error: string | undefined;
}

export interface MeasureOptions {
  client: ClientKind;
  size: number;
  sessions: number;
  reuse: boolean;
  rate?: number | undefined;
  timeoutMs: number;
}

export async function measureOne(server: Server, count: number, o: MeasureOptions): Promise<RunResult> {
  // The previous run's tail is not this one's: neither its CPU nor the dirty pages it left for
  // the kernel to write back (OpenSMTPD does not fsync its queue files; without this they are
  // written out during the next server's round, in the middle of its fsyncs).
  spawnSync('sync');
  await settle(server.pid);
  // The maildir is not emptied between runs (arrivals are counted from `base`): on this machine's
  // journal-less ext4 files created just after many were deleted cost up to ~1 ms of kernel time
  // each, which would land on whichever server runs next (scripts/bench/ab-threads.mjs).
  const base = server.arrivals();
  const cpu0 = treeCpu(server.pid);
  const m0 = machineCpuMs();
  const rss = rssSampler(server.pid);
  const t0 = performance.now();
  const load: Load = { port: server.port, sessions: o.sessions, size: o.size, count, reuse: o.reuse, rcpt: server.rcpt, timeoutMs: o.timeoutMs, rate: o.rate };
  const src = o.client === 'builtin' ? await runClient(load) : await smtpSource(load);
  let arrived = 0;
  let deliverMs: number | undefined;
  if (server.delivers) {
    const deadline = Date.now() + Math.min(120_000, Math.max(20_000, src.ms * 5));
    while ((arrived = server.arrivals() - base) < count && Date.now() < deadline) await sleep(10);
    deliverMs = performance.now() - t0;
  }
  await settle(server.pid);
  const cpu = cpuDelta(cpu0, treeCpu(server.pid));
  const machine = machineCpuMs() - m0;
  const peak = await rss.stop();
  const done = server.delivers ? arrived : src.ok ? count : (src.latencies?.length ?? 0);
  const allArrived = !server.delivers || arrived >= count;
  // Accept-only: anything in the maildir means delivery was not paused after all.
  const leaked = server.delivers ? 0 : server.arrivals() - base;
  return {
    ok: src.ok && allArrived && leaked === 0,
    count,
    accepted: (count * 1000) / src.ms,
    delivered: server.delivers && allArrived && deliverMs ? (count * 1000) / deliverMs : undefined,
    arrived,
    cpuPerMsg: cpu && done > 0 ? cpu.ms / done : undefined,
    machinePerMsg: done > 0 ? machine / done : Number.NaN,
    rssMb: peak / 1048576,
    p50: src.latencies ? quantile(src.latencies, 0.5) : undefined,
    p99: src.latencies ? quantile(src.latencies, 0.99) : undefined,
    error: !src.ok ? src.error : !allArrived ? `${arrived}/${count} arrived` : leaked ? `${leaked} delivered while paused` : undefined,
  };
}
