// `--cpu-prof DIR`: tsmtpd started with V8's --cpu-prof (which NODE_OPTIONS refuses, so the
// daemon is spawned here rather than by test/lib's startDaemon), one .cpuprofile per thread
// written when the daemon exits; then a summary per thread over the measured run only (profile
// timestamps and the bench's hrtime share CLOCK_MONOTONIC): the actor (the packages/<name>/ most
// of its samples fall in), busy ms, and the functions with the most self time. Stopped by PID.
// "Busy" is sampled time off the event loop: it includes time blocked in a synchronous call
// (fsync inside a SQLite commit), so it is an upper bound on the thread's CPU.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
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

export { printProfiles } from '../../packages/bench/dist/index.js';
