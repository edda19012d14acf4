// `--cpu-prof DIR`: tsmtpd started with V8's --cpu-prof (which NODE_OPTIONS refuses, so the
// daemon is spawned here rather than by test/lib's startDaemon), one .cpuprofile per thread
// written when the daemon exits; then a summary per thread over the measured run only (profile
// timestamps and the bench's hrtime share CLOCK_MONOTONIC): the actor (the packages/<name>/ most
// of its samples fall in), busy ms, and the functions with the most self time. Stopped by PID.
// "Busy" is sampled time off the event loop: it includes time blocked in a synchronous call
// (fsync inside a SQLite commit), so it is an upper bound on the thread's CPU.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort, readBanner } from '../../test/dist/lib/daemon.js';
import { smtpdBin } from '../../test/dist/lib/paths.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Starts tsmtpd under --cpu-prof; the object has the pid/port/stop/describe that relay.mjs uses. */
export async function startProfiledDaemon({ dir, config, profDir }) {
  const port = await freePort();
  const confPath = path.join(dir, 'smtpd.conf');
  writeFileSync(confPath, config({ port, dir }));
  const args = ['--cpu-prof', `--cpu-prof-dir=${profDir}`, smtpdBin, '-d', '-f', confPath, '--spool', path.join(dir, 'spool')];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  let out = '';
  const keep = (b) => (out = (out + b.toString()).slice(-200_000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exit;
  const exited = new Promise((r) => child.once('exit', (code, signal) => r((exit = { code, signal }))));
  const d = {
    pid: child.pid,
    port,
    describe: () => `smtpd pid=${child.pid} port=${port}; output:\n${out.split('\n').slice(-20).join('\n')}`,
    async stop(timeoutMs = 10_000) {
      const started = Date.now();
      if (!exit) try { process.kill(child.pid, 'SIGTERM'); } catch { /* gone */ }
      let forced = false;
      if (!(await Promise.race([exited, sleep(timeoutMs).then(() => undefined)]))) {
        forced = true;
        try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
        await Promise.race([exited, sleep(5000)]);
      }
      return { code: exit?.code ?? null, signal: exit?.signal ?? null, ms: Date.now() - started, forced };
    },
  };
  for (let i = 0; i < 200 && !exit; i++) {
    const banner = await readBanner(port, 1000);
    if (banner?.startsWith('220')) return d;
    await sleep(100);
  }
  await d.stop(2000);
  throw new Error(`profiled smtpd did not greet on ${port}\n${d.describe()}`);
}

/** Self time per call frame of one profile within `window`, its actor, and its busy ms. */
function summarise(file, window) {
  const p = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map();
  let at = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    at += p.timeDeltas[i] ?? 0;
    if (at < window.startUs || at > window.endUs) continue;
    const n = byId.get(p.samples[i]);
    const us = p.timeDeltas[i + 1] ?? 0; // a sample's time is the gap to the next one
    const f = n.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url ? `${f.url.replace(/^.*\/(packages|node_modules)\//, '$1/')}:${f.lineNumber + 1}` : ''}`.trim();
    self.set(key, (self.get(key) ?? 0) + us / 1000);
  }
  const pkgs = new Map();
  let busy = 0;
  for (const [k, ms] of self) {
    if (k === '(idle)') continue;
    busy += ms;
    const m = /packages\/([\w-]+)\//.exec(k);
    if (m && m[1] !== 'actor' && m[1] !== 'proto') pkgs.set(m[1], (pkgs.get(m[1]) ?? 0) + ms);
  }
  // CPU.<date>.<time>.<pid>.<threadId>.<seq>.cpuprofile: thread 0 is the parent (main thread).
  const main = /^CPU\.\d+\.\d+\.\d+\.0\./.test(path.basename(file));
  const actor = [...pkgs].sort((a, b) => b[1] - a[1])[0]?.[0] ?? (main ? 'main' : '? (idle)');
  const top = [...self].filter(([k]) => k !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, 8);
  return { file: path.basename(file), actor, busy, top };
}

/** Prints a summary of every profile in `dir` over `window` (busiest thread first) to stderr. */
export function printProfiles(dir, window, messages) {
  let files = [];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => path.join(dir, f));
  } catch {
    return;
  }
  const all = files.map((f) => summarise(f, window)).sort((a, b) => b.busy - a.busy);
  const secs = ((window.endUs - window.startUs) / 1e6).toFixed(1);
  const lines = [`bench: CPU profiles in ${dir}, the measured run only (${messages} messages, ${secs} s)`];
  for (const s of all) {
    lines.push(`  ${s.actor.padEnd(10)} ${s.busy.toFixed(0).padStart(6)} ms busy, ${(s.busy / messages).toFixed(3)} ms/msg  ${s.file}`);
    for (const [k, ms] of s.top) lines.push(`      ${ms.toFixed(0).padStart(6)} ms  ${k}`);
  }
  process.stderr.write(lines.join('\n') + '\n');
}
