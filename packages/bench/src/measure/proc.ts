// What the kernel says a server costs (Linux /proc, read only): the CPU of a process tree (a root
// PID and every descendant, utime+stime+cutime+cstime, so children born and reaped during a run
// count), the machine's CPU from /proc/stat (every process, the load generator included), the
// resident memory of a tree (sum of VmRSS), and the per-thread split of one process.
import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { sleep } from '../util.js';

let hz: number | undefined;
/** Clock ticks per second of the /proc times (getconf CLK_TCK, almost always 100). */
export function clockTicks(): number {
  if (hz === undefined) {
    try {
      hz = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
    } catch {
      hz = 100;
    }
  }
  return hz;
}

interface Proc {
  pid: number;
  ppid: number;
  comm: string;
  ticks: number;
}

/** The fields of a stat file after "(comm)" (which may hold spaces), and the comm. */
function statFields(file: string): { comm: string; rest: string[] } | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined; // gone meanwhile
  }
  const close = text.lastIndexOf(')');
  return { comm: text.slice(text.indexOf('(') + 1, close), rest: text.slice(close + 2).split(' ') };
}

// After the comm: [1]=ppid, [11]=utime [12]=stime [13]=cutime [14]=cstime (proc(5)).
const n = (rest: string[], i: number): number => Number(rest[i] ?? 0);
const ticksOf = (rest: string[], children: boolean): number => n(rest, 11) + n(rest, 12) + (children ? n(rest, 13) + n(rest, 14) : 0);

function processes(): Proc[] {
  const out: Proc[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(`/proc/${name}/stat`);
    if (f) out.push({ pid: Number(name), ppid: n(f.rest, 1), comm: f.comm, ticks: ticksOf(f.rest, true) });
  }
  return out;
}

/** The processes of the tree rooted at `rootPid` (root first), empty when it is gone. */
export function treeOf(rootPid: number): Proc[] {
  const all = processes();
  const kids = new Map<number, Proc[]>();
  for (const p of all) kids.set(p.ppid, [...(kids.get(p.ppid) ?? []), p]);
  const out: Proc[] = [];
  const stack = all.filter((p) => p.pid === rootPid);
  for (let guard = 0; stack.length > 0 && guard < 100_000; guard++) {
    const p = stack.pop()!;
    out.push(p);
    stack.push(...(kids.get(p.pid) ?? []));
  }
  return out;
}

export interface TreeCpu {
  ms: number;
  processes: number;
  byComm: Record<string, number>;
}

/** The tree's CPU so far in ms, its process count and the CPU ms per command name. */
export function treeCpu(rootPid: number): TreeCpu | undefined {
  const tree = treeOf(rootPid);
  if (tree.length === 0) return undefined;
  const tick = 1000 / clockTicks();
  const byComm: Record<string, number> = {};
  let ms = 0;
  for (const p of tree) {
    ms += p.ticks * tick;
    byComm[p.comm] = (byComm[p.comm] ?? 0) + p.ticks * tick;
  }
  return { ms, processes: tree.length, byComm };
}

export function cpuDelta(before: TreeCpu | undefined, after: TreeCpu | undefined): TreeCpu | undefined {
  if (!before || !after) return undefined;
  const byComm: Record<string, number> = {};
  for (const [k, v] of Object.entries(after.byComm)) byComm[k] = v - (before.byComm[k] ?? 0);
  return { ms: after.ms - before.ms, processes: after.processes, byComm };
}

/** Machine CPU so far in ms (/proc/stat "cpu": user+nice+system+irq+softirq+steal, all cores). */
export function machineCpuMs(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith('cpu '));
  const f = (line ?? '').trim().split(/\s+/).slice(1).map(Number);
  const busy = (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
  return (busy * 1000) / clockTicks();
}

/** The 1-minute load average (/proc/loadavg). */
export function loadAverage(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return '?';
  }
}

/** Resident memory of the tree now, in bytes (sum of each process's resident pages). */
export function treeRss(rootPid: number): number {
  let bytes = 0;
  for (const p of treeOf(rootPid)) {
    try {
      bytes += Number(readFileSync(`/proc/${p.pid}/statm`, 'utf8').split(' ')[1]) * 4096;
    } catch { /* gone meanwhile */ }
  }
  return bytes;
}

/** RSS per process of the tree, for the idle row's breakdown: "comm pid: MB". */
export function treeRssByProcess(rootPid: number): { pid: number; comm: string; bytes: number }[] {
  const out: { pid: number; comm: string; bytes: number }[] = [];
  for (const p of treeOf(rootPid)) {
    try {
      out.push({ pid: p.pid, comm: p.comm, bytes: Number(readFileSync(`/proc/${p.pid}/statm`, 'utf8').split(' ')[1]) * 4096 });
    } catch { /* gone meanwhile */ }
  }
  return out;
}

/** CPU ms per thread of one process, threads' own times only. */
export function threadCpu(pid: number): Map<string, { comm: string; ms: number }> {
  const out = new Map<string, { comm: string; ms: number }>();
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    const f = statFields(`/proc/${pid}/task/${tid}/stat`);
    if (f) out.set(tid, { comm: f.comm, ms: (ticksOf(f.rest, false) * 1000) / clockTicks() });
  }
  return out;
}

/** Per-thread CPU ms between two snapshots, busiest first, idle threads left out. */
export function threadDelta(before: Map<string, { ms: number }>, after: Map<string, { comm: string; ms: number }>): { tid: string; comm: string; ms: number }[] {
  return [...after]
    .map(([tid, t]) => ({ tid, comm: t.comm, ms: t.ms - (before.get(tid)?.ms ?? 0) }))
    .filter((t) => t.ms > 0)
    .sort((a, b) => b.ms - a.ms);
}

/**
 * Waits until the tree is quiet (at most `maxTicks` ticks in a 200 ms window), so the work that
 * follows the last delivery (queue deletes, logging) is in the run's CPU. Bounded by `timeoutMs`.
 */
export async function settle(rootPid: number, timeoutMs = 3000, maxTicks = 1): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = treeCpu(rootPid);
  while (Date.now() < deadline) {
    await sleep(200);
    const now = treeCpu(rootPid);
    if (!now || !last || now.ms - last.ms <= (maxTicks * 1000) / clockTicks()) return;
    last = now;
  }
}

/** Samples the tree's RSS every 100 ms until stop(); resolves the peak in bytes. */
export function rssSampler(rootPid: number): { stop: () => Promise<number> } {
  let peak = treeRss(rootPid);
  let on = true;
  const done = (async () => {
    while (on) {
      await sleep(100);
      peak = Math.max(peak, treeRss(rootPid));
    }
    return peak;
  })();
  return { stop: () => ((on = false), done) };
}
