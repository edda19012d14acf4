// `mda "command"` delivery (REFERENCE 8.1): /bin/sh -c with ONLY the configured string (its
// format specifiers expanded from sanitised values); envelope data reaches the command through
// the environment and the message on stdin. Exit 0 = delivered, 71/75 = temporary, else
// permanent; the last line of output is the error text. Runs as the recipient (uid/gid given
// when the daemon is root), in its own process group so a timeout kills all of it.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import type { Writable } from 'node:stream';
import { delivered, permfail, tempfail, type MethodOutcome, type Sink, type SinkOpen } from '../sink.js';

export interface CommandJob {
  /** The final command line: the admin's string with sanitised expansions only. */
  command: string;
  env: Record<string, string>;
  cwd: string;
  /** Run as this user (root daemon only). */
  uid?: number;
  gid?: number;
  timeoutMs: number;
}

export const DEFAULT_COMMAND_TIMEOUT_MS = 5 * 60_000;
/** Output kept to find the last line. */
const OUTPUT_TAIL = 4096;
const EX_OSERR = 71;
const EX_TEMPFAIL = 75;

/** Last non-empty line of the command's output. */
export function lastLine(output: string): string {
  const lines = output.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
  return lines[lines.length - 1] ?? '';
}

/** Exit status to outcome (sysexits.h: 71 EX_OSERR and 75 EX_TEMPFAIL are temporary). */
export function exitOutcome(code: number | null, signal: string | null, output: string, timedOut: boolean, timeoutMs: number): MethodOutcome {
  const line = lastLine(output);
  if (timedOut) return tempfail(`command timed out after ${Math.round(timeoutMs / 1000)} s`);
  if (code === 0) return delivered(line !== '' ? `Delivered: ${line}` : 'Delivered');
  if (code === null) return tempfail(line || `command killed by signal ${signal ?? '?'}`);
  if (code === EX_OSERR || code === EX_TEMPFAIL) return tempfail(line || `command exited with status ${code}`);
  return permfail(line || `command exited with status ${code}`);
}

function killGroup(child: ChildProcessWithoutNullStreams): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

/** Start /bin/sh -c; spawn failures (a bad cwd, EAGAIN) arrive as the 'error' event. */
function start(job: CommandJob): ChildProcessWithoutNullStreams {
  return spawn('/bin/sh', ['-c', job.command], {
    cwd: job.cwd,
    env: job.env,
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
    ...(job.uid !== undefined ? { uid: job.uid } : {}),
    ...(job.gid !== undefined ? { gid: job.gid } : {}),
  });
}

/** Watch a started command: output tail, timeout, and its outcome once it has exited. */
function watch(child: ChildProcessWithoutNullStreams, job: CommandJob): () => Promise<MethodOutcome> {
  let output = '';
  const collect = (b: Buffer): void => {
    output = (output + b.toString('utf8')).slice(-OUTPUT_TAIL);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  child.stdout.on('error', () => {});
  child.stderr.on('error', () => {});
  let spawnError: Error | null = null;
  let timedOut = false;
  const closed = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    child.on('error', (e) => {
      spawnError ??= e;
      resolve({ code: null, signal: null });
    });
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  // A command that does not read its input closes the pipe: EPIPE is not our failure.
  child.stdin.on('error', () => {});
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child);
  }, job.timeoutMs);
  return async () => {
    const { code, signal } = await closed;
    clearTimeout(timer);
    if (spawnError) return tempfail(`cannot run command: ${(spawnError as Error).message}`);
    return exitOutcome(code, signal, output, timedOut, job.timeoutMs);
  };
}

function waitWritable(stdin: Writable): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      stdin.off('drain', done);
      stdin.off('close', done);
      resolve();
    };
    stdin.once('drain', done);
    stdin.once('close', done);
  });
}

export async function openCommand(job: CommandJob): Promise<SinkOpen> {
  let child: ChildProcessWithoutNullStreams;
  try {
    child = start(job);
  } catch (e) {
    return { ok: false, outcome: tempfail(`cannot run command: ${(e as Error).message}`) };
  }
  const finish = watch(child, job);
  const sink: Sink = {
    async write(chunk) {
      if (child.stdin.destroyed || !child.stdin.writable) return;
      if (!child.stdin.write(chunk)) await waitWritable(child.stdin);
    },
    async end() {
      if (!child.stdin.destroyed) child.stdin.end();
      return finish();
    },
    async abort() {
      killGroup(child);
      child.stdin.destroy();
      await finish();
    },
  };
  return { ok: true, sink };
}
