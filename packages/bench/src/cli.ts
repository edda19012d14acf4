// `npm run bench` / `scripts/bench`: parses the flags, picks the runs (a selection, `--matrix` for
// issue 10's whole list, `--smoke` for CI's few seconds, `--queue-scale [N]` for the restart at
// scale), runs them and prints the markdown tables. Exit code 1 when a run failed.
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { bench, type BenchOptions } from './compare.js';
import type { ClientKind } from './load/types.js';
import { ensurePostfixTools } from './load/smtp-source.js';
import { loadAverage } from './measure/proc.js';
import { runnable } from './servers/index.js';
import { SERVER_NAMES, WORKLOADS, type ServerName, type Workload } from './servers/types.js';
import { footer, idleTable, resultsTable } from './table.js';
import { benchUser, repoRoot } from './util.js';
import { expand, matrix, MODES, type Mode, type Run } from './workloads.js';

export const USAGE = `usage: npm run bench -- [--servers tsmtpd,postfix,opensmtpd,sink | --peer postfix[,opensmtpd,sink]] [--workloads accept,maildir,relay]
         [--sizes 1024,102400] [--modes per-message,reused] [--sessions 1,20,100] [--client smtp-source,builtin]
         [--half-rate] [--rounds 3] [--seconds 4] [--messages N] [--warmup 1000] [--keep] [--cpu-prof DIR]
       npm run bench -- --quick       (short: accept, maildir, relay; 1 KiB; 1 and 20 sessions; 2 rounds of ~2 s)
       npm run bench -- --matrix      (issue 10's whole list: every workload, size, mode and session count)
       npm run bench -- --smoke       (a few seconds: tsmtpd and smtp-sink, 20 messages; what CI runs)
       npm run bench -- --queue-scale [N] [--burst M | --no-burst] [--no-load] [--keep]`;

const options = {
  servers: { type: 'string' }, workloads: { type: 'string' }, sizes: { type: 'string' }, modes: { type: 'string' },
  sessions: { type: 'string' }, client: { type: 'string' }, 'half-rate': { type: 'boolean' }, rounds: { type: 'string' },
  seconds: { type: 'string' }, messages: { type: 'string' }, warmup: { type: 'string' }, keep: { type: 'boolean' },
  'cpu-prof': { type: 'string' }, matrix: { type: 'boolean' }, full: { type: 'boolean' }, smoke: { type: 'boolean' },
  'queue-scale': { type: 'boolean' }, burst: { type: 'string' }, 'no-burst': { type: 'boolean' }, 'no-load': { type: 'boolean' },
  quick: { type: 'boolean' }, peer: { type: 'string' }, help: { type: 'boolean' },
} as const;

function list<T extends string>(v: string | undefined, allowed: readonly T[], what: string, dflt: readonly T[]): T[] {
  if (v === undefined) return [...dflt];
  const out = v.split(',').filter(Boolean);
  for (const x of out) if (!allowed.includes(x as T)) throw new Error(`--${what}: ${x}? (${allowed.join(', ')})`);
  return out as T[];
}

function numbers(v: string | undefined, what: string, dflt: number[], min: number, max: number): number[] {
  if (v === undefined) return dflt;
  const out = v.split(',').filter(Boolean).map(Number);
  for (const x of out) if (!(Number.isInteger(x) && x >= min && x <= max)) throw new Error(`--${what}: ${x}? (an integer in ${min}..${max})`);
  return out;
}

function num(v: string | undefined, what: string, dflt: number, min: number, max: number): number {
  const x = v === undefined ? dflt : Number(v);
  if (!(x >= min && x <= max)) throw new Error(`--${what} must be in ${min}..${max}`);
  return x;
}

/** Peers that --peer names (tsmtpd is always there). */
export const PEERS: readonly ServerName[] = SERVER_NAMES.filter((s) => s !== 'tsmtpd');

/** --servers, or tsmtpd plus --peer's list (relay's target smtp-sink is started anyway), or every server. */
function serversOf(v: { servers?: string | undefined; peer?: string | undefined }, smoke: boolean): ServerName[] {
  if (v.servers !== undefined && v.peer !== undefined) throw new Error('--servers and --peer: one or the other');
  if (v.peer !== undefined) {
    const peers = list<ServerName>(v.peer, PEERS, 'peer', []);
    if (peers.length === 0) throw new Error(`--peer: which? (${PEERS.join(', ')})`);
    return ['tsmtpd', ...new Set(peers)];
  }
  return list<ServerName>(v.servers, SERVER_NAMES, 'servers', smoke ? ['tsmtpd', 'sink'] : SERVER_NAMES);
}

export interface Parsed {
  kind: 'bench' | 'queue-scale';
  bench: Omit<BenchOptions, 'user'>;
  queueScale: { count: number; burst: number; load: boolean; keep: boolean };
}

export function parse(argv: string[]): Parsed {
  const { values: v, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  if (v.help) throw new Error(USAGE);
  const qsCount = positionals.length === 1 && v['queue-scale'] ? Number(positionals[0]) : 1_000_000;
  if (positionals.length > (v['queue-scale'] ? 1 : 0) || !(Number.isInteger(qsCount) && qsCount > 0 && qsCount <= 10_000_000)) throw new Error(`unexpected ${positionals.join(' ')}\n${USAGE}`);
  const smoke = v.smoke === true;
  // --quick: every workload at 1 KiB, 1 and 20 sessions, a connection per message, 2 rounds of
  // about 2 s each (warm-up as usual); any flag given explicitly still wins.
  const quick = v.quick === true;
  if ([smoke, quick, v.matrix === true || v.full === true].filter(Boolean).length > 1) throw new Error('--smoke, --quick and --matrix: one at a time');
  const clients = list<ClientKind>(v.client, ['smtp-source', 'builtin'], 'client', [smoke ? 'builtin' : 'smtp-source']);
  // The half-rate rows need the built-in client's latencies.
  if (v['half-rate'] && !clients.includes('builtin')) clients.push('builtin');
  const sel = {
    workloads: list<Workload>(v.workloads, WORKLOADS, 'workloads', smoke ? ['accept', 'maildir'] : ['accept', 'maildir', 'relay']),
    sizes: numbers(v.sizes, 'sizes', [1024], 100, 10 * 1048576),
    modes: list<Mode>(v.modes, MODES, 'modes', ['per-message']),
    sessions: numbers(v.sessions, 'sessions', smoke ? [2] : quick ? [1, 20] : [20], 1, 1000),
    clients,
    halfRate: v['half-rate'] === true,
  };
  const runs: Run[] = v.matrix || v.full ? matrix() : expand(sel);
  return {
    kind: v['queue-scale'] ? 'queue-scale' : 'bench',
    bench: {
      servers: serversOf(v, smoke),
      runs,
      rounds: num(v.rounds, 'rounds', smoke ? 1 : quick ? 2 : 3, 1, 20),
      seconds: num(v.seconds, 'seconds', quick ? 2 : 4, 0.5, 60),
      messages: v.messages !== undefined ? num(v.messages, 'messages', 0, 1, 1_000_000) : smoke ? 20 : undefined,
      warmup: num(v.warmup, 'warmup', smoke ? 0 : 1000, 0, 100_000),
      keep: v.keep === true,
      cpuProf: v['cpu-prof'],
      timeoutMs: smoke ? 60_000 : 120_000,
    },
    queueScale: { count: qsCount, burst: v['no-burst'] ? 0 : num(v.burst, 'burst', 100_000, 1, 1_000_000), load: v['no-load'] !== true, keep: v.keep === true },
  };
}

function commit(): string {
  try {
    const id = execFileSync('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['-C', repoRoot, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim() !== '';
    return dirty ? `${id}+changes` : id;
  } catch {
    return 'unknown';
  }
}

export function machine(): string {
  return `${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${os.release()}, Node ${process.version}`;
}

export async function main(argv: string[]): Promise<number> {
  const p = parse(argv);
  if (p.kind === 'queue-scale') return (await import('./queue-scale/index.js')).queueScaleMain(p.queueScale);
  ensurePostfixTools();
  const { servers, notes } = runnable(p.bench.servers);
  const before = loadAverage();
  const { rows, idle, failures } = await bench({ ...p.bench, servers, user: benchUser() });
  const f = footer({
    servers, rounds: p.bench.rounds, date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC', commit: commit(),
    load: { before, after: loadAverage() }, machine: machine(), accept: p.bench.runs.some((r) => r.workload === 'accept'), notes: [...notes, ...failures],
  });
  process.stdout.write(`${resultsTable(rows)}\n\n${idleTable(idle)}\n\n${f}\n`);
  if (p.bench.cpuProf) {
    // Written as each daemon exited: the whole life of every tsmtpd of this run, warm-up included.
    const { printProfiles } = await import('./measure/profile.js');
    const n = rows.filter((r) => r.server === 'tsmtpd').reduce((a, r) => a + r.count * (p.bench.rounds + 1), 0);
    printProfiles(p.bench.cpuProf, { startUs: 0, endUs: Number.MAX_SAFE_INTEGER }, n);
  }
  return failures.length === 0 && rows.length > 0 && rows.every((r) => r.ok) ? 0 : 1;
}
