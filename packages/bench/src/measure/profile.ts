// V8 CPU profiles of tsmtpd (`--cpu-prof DIR`: one .cpuprofile per thread, written when the daemon
// exits): per thread over a window (profile timestamps and hrtime share CLOCK_MONOTONIC), the actor
// its samples fall in most (packages/<name>/), its busy ms, and the functions with the most self
// time. "Busy" is sampled time off the event loop, blocked synchronous calls (a commit's fsync)
// included, so it bounds the thread's CPU from above.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

interface Profile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface Window {
  startUs: number;
  endUs: number;
}

export interface ThreadProfile {
  file: string;
  actor: string;
  busy: number;
  top: [string, number][];
}

function selfTimes(p: Profile, window: Window): Map<string, number> {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let at = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    at += p.timeDeltas[i] ?? 0;
    if (at < window.startUs || at > window.endUs) continue;
    const f = byId.get(p.samples[i]!)?.callFrame;
    if (!f) continue;
    const us = p.timeDeltas[i + 1] ?? 0; // a sample's time is the gap to the next one
    const where = f.url ? ` ${f.url.replace(/^.*\/(packages|node_modules)\//, '$1/')}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName || '(anonymous)'}${where}`;
    self.set(key, (self.get(key) ?? 0) + us / 1000);
  }
  return self;
}

export function summarise(file: string, window: Window): ThreadProfile {
  const self = selfTimes(JSON.parse(readFileSync(file, 'utf8')) as Profile, window);
  const pkgs = new Map<string, number>();
  let busy = 0;
  for (const [k, ms] of self) {
    if (k === '(idle)') continue;
    busy += ms;
    const m = /packages\/([\w-]+)\//.exec(k);
    if (m && m[1] !== 'actor' && m[1] !== 'proto') pkgs.set(m[1]!, (pkgs.get(m[1]!) ?? 0) + ms);
  }
  // CPU.<date>.<time>.<pid>.<threadId>.<seq>.cpuprofile: thread 0 is a process's main thread.
  const main = /^CPU\.\d+\.\d+\.\d+\.0\./.test(path.basename(file));
  const actor = [...pkgs].sort((a, b) => b[1] - a[1])[0]?.[0] ?? (main ? 'main' : '? (idle)');
  const top = [...self].filter(([k]) => k !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, 8);
  return { file: path.basename(file), actor, busy, top };
}

/** Prints a summary of every profile in `dir` over `window` (busiest thread first) to stderr. */
export function printProfiles(dir: string, window: Window, messages: number): void {
  let files: string[] = [];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => path.join(dir, f));
  } catch {
    return;
  }
  const all = files.map((f) => summarise(f, window)).sort((a, b) => b.busy - a.busy);
  const span = window.endUs === Number.MAX_SAFE_INTEGER ? 'their whole life' : `${((window.endUs - window.startUs) / 1e6).toFixed(1)} s`;
  const lines = [`bench: CPU profiles in ${dir} (${messages} messages, ${span})`];
  for (const s of all) {
    lines.push(`  ${s.actor.padEnd(10)} ${s.busy.toFixed(0).padStart(6)} ms busy, ${(s.busy / Math.max(1, messages)).toFixed(3)} ms/msg  ${s.file}`);
    for (const [k, ms] of s.top) lines.push(`      ${ms.toFixed(0).padStart(6)} ms  ${k}`);
  }
  process.stderr.write(lines.join('\n') + '\n');
}
