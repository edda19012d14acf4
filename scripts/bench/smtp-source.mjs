// One load run: Postfix's smtp-source (unpacked by scripts/peers-install.sh) against a server,
// then the time until the maildir holds every message. Bounded: smtp-source is killed by PID at
// its deadline, and the delivery wait has its own limit.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';

export function countMaildir(dir) {
  let n = 0;
  for (const sub of ['new', 'cur']) {
    const p = path.join(dir, sub);
    if (existsSync(p)) n += readdirSync(p).length;
  }
  return n;
}

/** Empties a maildir's new/, cur/ and tmp/ (between runs, once everything has arrived). */
export function clearMaildir(dir) {
  for (const sub of ['new', 'cur', 'tmp']) {
    const p = path.join(dir, sub);
    if (!existsSync(p)) continue;
    for (const f of readdirSync(p)) rmSync(path.join(p, f), { force: true });
  }
}

/** Runs smtp-source; resolves {code, ms, stderr}. `timeoutMs` bounds it (SIGKILL by PID). */
export function smtpSource(bin, { port, sessions, size, count, reuse, rcpt, timeoutMs }) {
  const args = ['-s', String(sessions), '-l', String(size), '-m', String(count), '-M', 'client.test',
    '-f', 'bench@client.test', '-t', rcpt, ...(reuse ? ['-d'] : []), `127.0.0.1:${port}`];
  const started = process.hrtime.bigint();
  return new Promise((resolve) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b) => (stderr = (stderr + b.toString()).slice(-8000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      resolve({ code, signal, ms, stderr, args });
    });
  });
}

/** Polls the maildir until it holds `want` messages or `timeoutMs` passes; resolves {count, ms}. */
export async function waitDelivered(dir, want, startedAt, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let count = countMaildir(dir);
  while (count < want && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    count = countMaildir(dir);
  }
  return { count, ms: Date.now() - startedAt };
}

/**
 * One measured run: smtp-source sends `count` messages; accepted rate from its wall time, delivered
 * rate from the start until the last message is in the maildir.
 */
export async function measure(target, run, count, opts) {
  clearMaildir(target.maildir);
  const startedAt = Date.now();
  const src = await smtpSource(opts.smtpSource, {
    port: target.port, sessions: run.sessions, size: run.size, count, reuse: run.mode === 'reused',
    rcpt: target.rcpt, timeoutMs: opts.sourceTimeoutMs,
  });
  const acceptMs = src.ms;
  const waitMs = Math.min(120_000, Math.max(30_000, acceptMs * 5));
  const del = await waitDelivered(target.maildir, count, startedAt, waitMs);
  return {
    count,
    ok: src.code === 0,
    error: src.code === 0 ? undefined : `smtp-source ${src.signal ?? `exit ${src.code}`}: ${src.stderr.trim().split('\n').slice(-3).join(' | ')}`,
    acceptMs,
    accepted: (count * 1000) / acceptMs,
    delivered: del.count >= count ? (count * 1000) / del.ms : undefined,
    deliveredCount: del.count,
    deliverMs: del.ms,
  };
}
