// One workload against several servers in one run: each server started once per workload, warmed
// up, its idle RSS taken, then per run a probe picks each server's message count (about --seconds
// at its rate) and --rounds rounds alternate the servers (order rotated each round, so a machine
// getting busier meets each alike); a row is the median of the rounds. With halfRate, each server
// is measured again paced at half its peak rate (end-of-DATA p50/p99). Servers stopped by PID.
import { runClient } from './load/client.js';
import { measureOne, type RunResult } from './measure/run.js';
import { cpuDelta, settle, treeCpu, treeOf, treeRss } from './measure/proc.js';
import { median } from './measure/stats.js';
import { startServer } from './servers/index.js';
import { startSink, type Sink } from './servers/sink.js';
import type { Server, ServerName, Workload } from './servers/types.js';
import { label, type Run } from './workloads.js';

export interface BenchOptions {
  servers: readonly ServerName[];
  runs: readonly Run[];
  rounds: number;
  seconds: number;
  /** A fixed message count per run instead of the probe's. */
  messages?: number | undefined;
  warmup: number;
  keep: boolean;
  user: string;
  cpuProf?: string | undefined;
  timeoutMs: number;
}

export interface Row extends Omit<RunResult, 'count' | 'error' | 'arrived'> {
  run: Run;
  server: ServerName;
  count: number;
  /** The pace of a half-peak-rate row, msgs/s. */
  paced?: number | undefined;
  /** The first error of its rounds (the footer's note for a "!" row). */
  error?: string | undefined;
}

export interface IdleRow {
  workload: Workload;
  server: ServerName;
  processes: number;
  freshMb: number;
  warmMb: number;
}

const live = new Set<{ stop: () => Promise<void> }>();
let handlers = false;
function onSignalStopAll(): void {
  if (handlers) return;
  handlers = true;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => void Promise.all([...live].map((s) => s.stop().catch(() => {}))).then(() => process.exit(130)));
  }
}

function log(s: string): void {
  process.stderr.write(`bench: ${s}\n`);
}

function logResult(what: string, r: RunResult): void {
  const del = r.delivered !== undefined ? r.delivered.toFixed(0) : '-';
  log(`${what}: ${r.count} msgs ${r.accepted.toFixed(0)} acc/s ${del} del/s ${r.cpuPerMsg?.toFixed(2) ?? '-'} CPU ms/msg${r.p99 !== undefined ? ` p99 ${r.p99.toFixed(1)} ms` : ''}${r.error ? ` (${r.error})` : ''}`);
}

const measureOpts = (run: Run, o: BenchOptions, rate?: number): Parameters<typeof measureOne>[2] => ({
  client: run.client, size: run.size, sessions: run.sessions, reuse: run.mode === 'reused', timeoutMs: o.timeoutMs, rate,
});

/**
 * One measurement that cannot abort the bench: whatever throws (a load client's socket error, a
 * server that died) becomes a failed result, shown in the table with "!" and its error logged.
 */
async function measureSafe(s: Server, count: number, opts: Parameters<typeof measureOne>[2]): Promise<RunResult> {
  try {
    return await measureOne(s, count, opts);
  } catch (e) {
    return failed(count, e instanceof Error ? e.message : String(e));
  }
}

function failed(count: number, error: string): RunResult {
  return { ok: false, count, accepted: Number.NaN, delivered: undefined, arrived: 0, cpuPerMsg: undefined, machinePerMsg: Number.NaN, rssMb: 0, p50: undefined, p99: undefined, error };
}

/** Messages per run for each server: --messages, else what takes it about --seconds in a probe. */
async function countsFor(run: Run, o: BenchOptions, servers: Server[]): Promise<Map<ServerName, number>> {
  const counts = new Map<ServerName, number>();
  const probe = Math.max(30, run.sessions * 2);
  const cap = run.size >= 65536 ? 3000 : 20000;
  for (const s of servers) {
    if (o.messages) {
      counts.set(s.name, o.messages);
      continue;
    }
    const r = await measureSafe(s, probe, measureOpts(run, o));
    if (r.error) logResult(`${label(run)} ${run.client} probe ${s.name}`, r);
    const rate = Math.min(r.accepted, r.delivered ?? r.accepted);
    // A failed probe (no rate) runs the probe's count: the round shows whether it fails again.
    counts.set(s.name, rate > 0 ? Math.min(cap, Math.max(probe, Math.round((rate * o.seconds) / 10) * 10)) : probe);
  }
  return counts;
}

function rowOf(run: Run, server: ServerName, count: number, rs: RunResult[], paced?: number): Row {
  const pick = (k: 'accepted' | 'delivered' | 'cpuPerMsg' | 'machinePerMsg' | 'p50' | 'p99'): number | undefined => median(rs.map((r) => r[k]));
  return {
    run, server, count, paced, ok: rs.every((r) => r.ok), accepted: pick('accepted') ?? Number.NaN, delivered: pick('delivered'),
    cpuPerMsg: pick('cpuPerMsg'), machinePerMsg: pick('machinePerMsg') ?? Number.NaN, rssMb: Math.max(...rs.map((r) => r.rssMb)), p50: pick('p50'), p99: pick('p99'),
    error: rs.find((r) => r.error)?.error,
  };
}

/** The rounds of one run; then, if asked, each server paced at half its peak. */
async function measureRun(run: Run, o: BenchOptions, servers: Server[]): Promise<Row[]> {
  const counts = await countsFor(run, o, servers);
  const per = new Map<ServerName, RunResult[]>(servers.map((s) => [s.name, []]));
  for (let round = 0; round < o.rounds; round++) {
    for (let i = 0; i < servers.length; i++) {
      const s = servers[(i + round) % servers.length]!;
      const r = await measureSafe(s, counts.get(s.name)!, measureOpts(run, o));
      per.get(s.name)!.push(r);
      logResult(`${label(run)} ${run.client} round ${round + 1} ${s.name}`, r);
    }
  }
  const rows = servers.map((s) => rowOf(run, s.name, counts.get(s.name)!, per.get(s.name)!));
  if (!run.halfRate) return rows;
  for (const s of servers) {
    const peak = rows.find((r) => r.server === s.name)!;
    const rate = Math.min(peak.accepted, peak.delivered ?? peak.accepted) / 2;
    if (!(rate > 0)) continue;
    // At least 10 messages, about --seconds long: a server that manages 1 msg/s gets 10 s, not 30.
    const count = Math.max(10, Math.round(rate * o.seconds));
    const r = await measureSafe(s, count, measureOpts({ ...run, client: 'builtin' }, o, rate));
    logResult(`${label(run)} half-rate ${rate.toFixed(0)}/s ${s.name}`, r);
    rows.push(rowOf({ ...run, client: 'builtin' }, s.name, count, [r], rate));
  }
  return rows;
}

/**
 * Warm-up, not measured, until the server's CPU per message has settled: tsmtpd's eight isolates
 * each compile their own code, and V8's TurboFan threads still spent 0.8 ms per message after the
 * first thousand messages, 0.12 after five thousand (a server in production runs for days). Pairs
 * of rounds of `--warmup` messages (one over a connection per message, one over reused
 * connections), until a pair's CPU per message is within 10% of the pair before: at least 2 pairs,
 * at most 6, and no longer than 120 s per server. Postfix and OpenSMTPD settle in 2.
 */
async function warmUp(servers: Server[], o: BenchOptions): Promise<void> {
  if (o.warmup <= 0) return;
  for (const s of servers) {
    const until = Date.now() + 120_000;
    let previous = Infinity;
    for (let pair = 0; pair < 6 && Date.now() < until; pair++) {
      const before = treeCpu(s.pid);
      for (const reuse of [false, true]) {
        await runClient({ port: s.port, sessions: 10, size: 1024, count: o.warmup, reuse, rcpt: s.rcpt, timeoutMs: 20_000 });
        await settle(s.pid, 20_000);
      }
      const used = cpuDelta(before, treeCpu(s.pid));
      const perMsg = used ? used.ms / (2 * o.warmup) : 0;
      process.stderr.write(`bench: warm-up ${s.name} pair ${pair + 1}: ${perMsg.toFixed(2)} CPU ms/msg\n`);
      if (pair >= 1 && perMsg > previous * 0.9) break;
      previous = perMsg;
    }
  }
}

async function startAll(workload: Workload, o: BenchOptions, sink: Sink | undefined, failures: string[]): Promise<Server[]> {
  const servers: Server[] = [];
  for (const name of o.servers) {
    if (workload === 'relay' && name === 'sink') continue; // the sink is the relay target
    const ctx = { workload, user: o.user, keep: o.keep, sinkPort: sink?.port, sinkMessages: sink?.messages, cpuProf: o.cpuProf };
    try {
      const s = await startServer(name, ctx);
      servers.push(s);
      live.add(s);
    } catch (e) {
      const why = `${name} (${workload}) did not start, left out: ${e instanceof Error ? e.message : String(e)}`;
      failures.push(why.split('\n').slice(0, 3).join(' '));
      log(why);
    }
  }
  return servers;
}

/** Every run, grouped by workload; returns the table's rows and the idle RSS rows. */
export async function bench(o: BenchOptions): Promise<{ rows: Row[]; idle: IdleRow[]; failures: string[] }> {
  onSignalStopAll();
  const failures: string[] = [];
  const rows: Row[] = [];
  const idle: IdleRow[] = [];
  const workloads = [...new Set(o.runs.map((r) => r.workload))];
  for (const workload of workloads) {
    const sink = workload === 'relay' ? await startSink() : undefined;
    if (sink) live.add(sink);
    let servers: Server[] = [];
    try {
      servers = await startAll(workload, o, sink, failures);
      const fresh = new Map<Server, number>();
      for (const s of servers) await settle(s.pid, 5000), fresh.set(s, treeRss(s.pid));
      await warmUp(servers, o).catch((e: Error) => failures.push(`${workload}: warm-up failed: ${e.message}`));
      for (const s of servers) idle.push({ workload, server: s.name, processes: treeOf(s.pid).length, freshMb: fresh.get(s)! / 1048576, warmMb: treeRss(s.pid) / 1048576 });
      for (const run of o.runs.filter((r) => r.workload === workload)) {
        const got = await measureRun(run, o, servers).catch((e: Error) => {
          failures.push(`${label(run)} ${run.client}: ${e.message}`);
          return servers.map((s) => rowOf(run, s.name, 0, [failed(0, e.message)]));
        });
        for (const r of got) if (!r.ok) failures.push(`${label(run)} ${r.run.client} ${r.server}${r.paced ? ' paced' : ''}: ${r.error ?? 'failed'}`);
        rows.push(...got);
      }
    } finally {
      for (const s of servers) {
        await s.stop().catch((e: Error) => log(`stop ${s.name}: ${e.message}`));
        live.delete(s);
      }
      if (sink) await sink.stop(), live.delete(sink);
    }
  }
  return { rows, idle, failures };
}
