// tsmtpd for the queue-scale runs: started with NODE_OPTIONS=--inspect=127.0.0.1:0 so that every
// node process of the daemon (as root: the privileged parent and the actor process) opens an
// inspector on loopback; the one whose worker threads include the scheduler is kept for heap
// readings. Log lines are kept with their time since spawn. Stopped by PID (SIGTERM, bounded).
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { kill, sleep, smtpdBin } from '../util.js';
import { Cdp } from './cdp.js';

export interface ScaleDaemon {
  child: ChildProcess;
  pid: number;
  t0: number;
  port: number;
  lines: { at: number; line: string }[];
  exited: Promise<unknown>;
  inspector?: Cdp | undefined;
  others: Cdp[];
}

export function writeConf(dir: string, port: number, failCommand: string): string {
  const file = path.join(dir, 'smtpd.conf');
  writeFileSync(file, [
    `listen on 127.0.0.1 port ${port}`,
    `action "fail" mda "${failCommand}"`,
    `action "ok" maildir "${dir}/mail/%{user.username}/Maildir"`,
    'match from any for domain "ok.test" action "ok"',
    'match from any for local action "fail"', '',
  ].join('\n'));
  return file;
}

export async function waitLine(d: ScaleDaemon, re: RegExp, ms: number): Promise<{ at: number; line: string; match: RegExpExecArray }> {
  const end = Date.now() + ms;
  for (;;) {
    for (const l of d.lines) {
      const match = re.exec(l.line);
      if (match) return { ...l, match };
    }
    if (Date.now() > end) throw new Error(`no log line ${re} in ${ms} ms`);
    await sleep(20);
  }
}

/** Connects to every inspector the daemon's processes opened; keeps the one with the scheduler. */
async function attach(d: ScaleDaemon, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const seen = new Set<string>();
  while (Date.now() < deadline && !d.inspector) {
    for (const l of d.lines) {
      const url = /Debugger listening on (ws:\S+)/.exec(l.line)?.[1];
      if (!url || seen.has(url)) continue;
      seen.add(url);
      d.others.push(await Cdp.connect(url));
    }
    // attachedToWorker events follow NodeWorker.enable, and the actors start after the inspector.
    const i = d.others.findIndex((c) => c.workers.has('scheduler'));
    if (i >= 0) d.inspector = d.others.splice(i, 1)[0];
    else await sleep(200);
  }
  if (!d.inspector) throw new Error(`no inspector with a scheduler worker among ${seen.size}: workers ${d.others.map((c) => [...c.workers.keys()].join(",")).join(" / ")}`);
}

export async function startScaleDaemon(conf: string, spool: string, port: number): Promise<ScaleDaemon> {
  const t0 = performance.now();
  const env = { ...process.env, NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} --inspect=127.0.0.1:0`.trim() };
  const child = spawn(process.execPath, [smtpdBin, '-d', '-f', conf, '--spool', spool], { stdio: ['ignore', 'ignore', 'pipe'], env });
  if (child.pid === undefined) throw new Error('smtpd did not start');
  const d: ScaleDaemon = { child, pid: child.pid, t0, port, lines: [], exited: new Promise((r) => child.once('exit', r)), others: [] };
  let buf = '';
  child.stderr!.on('data', (b: Buffer) => {
    buf += b.toString();
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    for (const line of parts) d.lines.push({ at: performance.now() - t0, line });
  });
  try {
    await attach(d, 15_000);
  } catch (e) {
    await stopScaleDaemon(d);
    throw new Error(`${e instanceof Error ? e.message : String(e)}\n${d.lines.slice(-10).map((l) => l.line).join('\n')}`);
  }
  return d;
}

/** Time from spawn until the SMTP banner (220) is read, polling the port. */
export async function bannerAt(d: ScaleDaemon, ms: number): Promise<number> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(d.port, '127.0.0.1');
      s.setTimeout(2000, () => s.destroy());
      s.once('data', (b) => (s.end('QUIT\r\n'), resolve(b.toString().startsWith('220'))));
      s.once('error', () => resolve(false));
      s.once('close', () => resolve(false));
    });
    if (ok) return performance.now() - d.t0;
    await sleep(20);
  }
  throw new Error('no banner');
}

/** One message over SMTP; resolves the time since spawn at which its DATA got the 250. */
export function sendOne(d: ScaleDaemon, rcpt: string): Promise<number> {
  const steps = ['EHLO client.test', 'MAIL FROM:<a@client.test>', `RCPT TO:<${rcpt}>`, 'DATA', 'Subject: during load\r\n\r\nhello\r\n.', 'QUIT'];
  return new Promise((resolve, reject) => {
    const s = net.connect(d.port, '127.0.0.1');
    let i = 0;
    let at: number | null = null;
    let acc = '';
    s.setTimeout(60_000, () => s.destroy(new Error('timeout')));
    s.on('data', (b) => {
      acc += b.toString();
      for (let nl = acc.indexOf('\r\n'); nl >= 0; nl = acc.indexOf('\r\n')) {
        const line = acc.slice(0, nl);
        acc = acc.slice(nl + 2);
        if (line[3] === '-') continue;
        if (i === 5 && line.startsWith('250')) at = performance.now() - d.t0;
        if (!/^[23]/.test(line)) return void s.destroy(new Error(`refused: ${line}`));
        if (i < steps.length) s.write(steps[i++] + '\r\n');
      }
    });
    s.on('error', reject);
    s.on('close', () => (at === null ? reject(new Error('no 250 for DATA')) : resolve(at)));
  });
}

/** SIGTERM by PID, wait (bounded), SIGKILL if need be; resolves the time it took. */
export async function stopScaleDaemon(d: ScaleDaemon): Promise<number> {
  const t = performance.now();
  d.inspector?.close();
  for (const c of d.others) c.close();
  if (d.child.exitCode !== null || d.child.signalCode !== null) return 0;
  kill(d.pid, 'SIGTERM');
  if (!(await Promise.race([d.exited.then(() => true), sleep(120_000).then(() => false)]))) {
    kill(d.pid, 'SIGKILL');
    await Promise.race([d.exited, sleep(5000)]);
  }
  return performance.now() - t;
}
