// Postfix's smtp-source as the load (unpacked into .peers/postfix by scripts/peers-install.sh,
// fetched on first use): -s sessions, -l size, -m count, -d to reuse connections. It reports no
// latencies; its wall time gives the accepted rate. Killed by PID at the load's deadline.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { peersDir, repoRoot } from '../util.js';
import type { Load, LoadResult } from './types.js';

export const smtpSourceBin = path.join(peersDir, 'postfix/bin/smtp-source');
export const smtpSinkBin = path.join(peersDir, 'postfix/bin/smtp-sink');

/** Fetches Postfix's tools when they are missing (scripts/peers-install.sh, idempotent). */
export function ensurePostfixTools(): void {
  if (existsSync(smtpSourceBin) && existsSync(smtpSinkBin)) return;
  process.stderr.write('bench: fetching smtp-source/smtp-sink (scripts/peers-install.sh)\n');
  execFileSync('bash', [path.join(repoRoot, 'scripts/peers-install.sh')], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, PEERS_OPENSMTPD: '0' } });
}

export function smtpSource(load: Load): Promise<LoadResult> {
  const args = ['-s', String(load.sessions), '-l', String(load.size), '-m', String(load.count), '-M', 'client.test',
    '-f', 'bench@client.test', '-t', load.rcpt, ...(load.reuse ? ['-d'] : []), `127.0.0.1:${load.port}`];
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(smtpSourceBin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-8000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), load.timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const ms = performance.now() - t0;
      const ok = code === 0;
      resolve({ ok, ms, error: ok ? undefined : `smtp-source ${signal ?? `exit ${code}`}: ${stderr.trim().split('\n').slice(-3).join(' | ')}` });
    });
  });
}
