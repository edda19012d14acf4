// Starting the daemon when it is expected to refuse (a spool it must not use, a wrong queue key):
// `node smtpd.js -d -f FILE --spool DIR` in its own session (no controlling terminal, as a service
// starts), optional text on stdin then EOF, and a bounded wait for its exit. If it starts instead, it is
// stopped by PID (SIGTERM, then SIGKILL of its group) and `started` says so.
import { spawn } from 'node:child_process';
import { smtpdBin } from './paths.js';
import { killQuietly, sleep, tail } from './proc.js';

export interface StartOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Everything it wrote to stderr and stdout. */
  output: string;
  /** It logged "ready" (it should not have, for a refusal) and was stopped by us. */
  started: boolean;
}

/** Runs the daemon until it exits by itself, or until it reports ready / `timeoutMs` passes. */
export async function startExpectingExit(o: { conf: string; spool: string; stdin?: string; timeoutMs?: number }): Promise<StartOutcome> {
  const child = spawn(process.execPath, [smtpdBin, '-d', '-f', o.conf, '--spool', o.spool], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  let output = '';
  child.stdout.on('data', (b: Buffer) => (output += b.toString('utf8')));
  child.stderr.on('data', (b: Buffer) => (output += b.toString('utf8')));
  child.stdin.on('error', () => {});
  child.stdin.end(o.stdin ?? ''); // then EOF: a daemon waiting for a key line sees the input end
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
  const deadline = Date.now() + (o.timeoutMs ?? 20_000);
  let started = false;
  let info: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  while (!info && Date.now() < deadline) {
    info = await Promise.race([exited, sleep(100).then(() => undefined)]);
    if (!info && /smtpd: ready/.test(output)) started = true;
    if (started) break;
  }
  if (!info && child.pid !== undefined) {
    killQuietly(child.pid, 'SIGTERM');
    info = await Promise.race([exited, sleep(5000).then(() => undefined)]);
    killQuietly(-child.pid, 'SIGKILL');
    info ??= await Promise.race([exited, sleep(5000).then(() => ({ code: null, signal: null }))]);
    started = true; // ran until stopped: not the refusal the test wanted
  }
  return { ...(info ?? { code: null, signal: null }), output, started };
}

/** For assertion messages. */
export function showOutcome(r: StartOutcome): string {
  return `exit code=${r.code} signal=${r.signal} started=${r.started}\n${tail(r.output)}`;
}
