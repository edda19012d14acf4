// CPU time of a server's process tree from /proc (Linux): a root PID (tsmtpd's node process, or
// Postfix's master) and every descendant, each counted as utime+stime+cutime+cstime. The c* fields
// hold children that exited and were reaped, so processes born and gone during a run still count;
// a delta of two snapshots is the CPU the tree spent in between. Also the per-thread split of one
// process (/proc/PID/task), for naming the busy thread. Read only; the bench's own processes and
// smtp-source/smtp-sink are not in these trees.
import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

let hz;
/** Clock ticks per second of the /proc times (getconf CLK_TCK, almost always 100). */
export function clockTicks() {
  if (hz === undefined) {
    try {
      hz = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
    } catch {
      hz = 100;
    }
  }
  return hz;
}

/** Fields of /proc/PID/stat after the "(comm)" (which may hold spaces and parentheses). */
function statFields(file) {
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined; // gone meanwhile
  }
  const close = text.lastIndexOf(')');
  return { comm: text.slice(text.indexOf('(') + 1, close), rest: text.slice(close + 2).split(' ') };
}

// After the comm: [0]=state [1]=ppid ... [11]=utime [12]=stime [13]=cutime [14]=cstime (proc(5)).
function ticksOf(rest, withChildren) {
  const own = Number(rest[11]) + Number(rest[12]);
  return withChildren ? own + Number(rest[13]) + Number(rest[14]) : own;
}

/** Every process as {pid, ppid, comm, ticks}. */
function processes() {
  const out = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(`/proc/${name}/stat`);
    if (f) out.push({ pid: Number(name), ppid: Number(f.rest[1]), comm: f.comm, ticks: ticksOf(f.rest, true) });
  }
  return out;
}

/** The tree's CPU now, in ms, with its process count and the CPU ms per command name. */
export function treeCpu(rootPid) {
  const all = processes();
  const children = new Map();
  for (const p of all) {
    if (!children.has(p.ppid)) children.set(p.ppid, []);
    children.get(p.ppid).push(p);
  }
  const root = all.find((p) => p.pid === rootPid);
  if (!root) return undefined;
  const tick = 1000 / clockTicks();
  const byComm = {};
  let ms = 0;
  let count = 0;
  const stack = [root];
  for (let guard = 0; stack.length > 0 && guard < 100_000; guard++) {
    const p = stack.pop();
    ms += p.ticks * tick;
    count++;
    byComm[p.comm] = (byComm[p.comm] ?? 0) + p.ticks * tick;
    for (const c of children.get(p.pid) ?? []) stack.push(c);
  }
  return { ms, processes: count, byComm };
}

/** The CPU ms spent by the tree between two `treeCpu` snapshots, and per command name. */
export function cpuDelta(before, after) {
  if (!before || !after) return undefined;
  const byComm = {};
  for (const [k, v] of Object.entries(after.byComm)) byComm[k] = v - (before.byComm[k] ?? 0);
  return { ms: after.ms - before.ms, byComm };
}

/** CPU ms per thread of one process ({tid: {comm, ms}}): threads' own times only. */
export function threadCpu(pid) {
  const out = {};
  let tids = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  const tick = 1000 / clockTicks();
  for (const tid of tids) {
    const f = statFields(`/proc/${pid}/task/${tid}/stat`);
    if (f) out[tid] = { comm: f.comm, ms: ticksOf(f.rest, false) * tick };
  }
  return out;
}

/** Per-thread CPU ms between two `threadCpu` snapshots, busiest first, idle threads left out. */
export function threadDelta(before, after) {
  return Object.entries(after)
    .map(([tid, t]) => ({ tid, comm: t.comm, ms: t.ms - (before[tid]?.ms ?? 0) }))
    .filter((t) => t.ms > 0)
    .sort((a, b) => b.ms - a.ms);
}

/**
 * Waits until the tree is quiet (at most `maxTicks` ticks in a 200 ms window), so work that
 * follows the last delivery (queue deletes, logging) is in the run's CPU. Bounded by `timeoutMs`.
 */
export async function settle(rootPid, timeoutMs = 3000, maxTicks = 1) {
  const deadline = Date.now() + timeoutMs;
  let last = treeCpu(rootPid);
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    const now = treeCpu(rootPid);
    if (!now || !last || now.ms - last.ms <= (maxTicks * 1000) / clockTicks()) return;
    last = now;
  }
}

/** Resident memory of the tree now, in bytes: the sum of every process's VmRSS (statm). */
export function treeRss(rootPid) {
  const all = processes();
  const children = new Map();
  for (const p of all) {
    if (!children.has(p.ppid)) children.set(p.ppid, []);
    children.get(p.ppid).push(p);
  }
  let bytes = 0;
  const stack = all.filter((p) => p.pid === rootPid);
  for (let guard = 0; stack.length > 0 && guard < 100_000; guard++) {
    const p = stack.pop();
    try {
      bytes += Number(readFileSync(`/proc/${p.pid}/statm`, 'utf8').split(' ')[1]) * 4096;
    } catch { /* gone meanwhile */ }
    for (const c of children.get(p.pid) ?? []) stack.push(c);
  }
  return bytes;
}
