// Independent receivers for relay tests, each stopped by PID: Postfix's smtp-sink (listens on
// ADDRESS:PORT, writes each message to DIR/m.<random> with X-Mail-Args/X-Rcpt-Args records of
// the envelope, counts sessions and messages with -c) and the aiosmtpd receiver of
// py/mta_receiver.py (scripted replies, TLS, AUTH, a JSON record of what it received).
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { isRoot, pyDir, python3, repoRoot } from './paths.js';
import { killQuietly, sleep, tail } from './proc.js';

export const smtpSinkBin = path.join(repoRoot, '.peers/postfix/bin/smtp-sink');

const live = new Set<number>();
process.on('exit', () => {
  for (const pid of live) killQuietly(pid, 'SIGKILL');
});

export interface SinkMessage {
  mailArgs: string;
  rcptArgs: string[];
  text: string;
}

export class SmtpSink {
  private out = '';
  constructor(
    private readonly child: ChildProcess,
    readonly address: string,
    readonly port: number,
    readonly dir: string,
  ) {
    live.add(child.pid!);
    const keep = (b: Buffer) => (this.out = (this.out + b.toString('latin1')).slice(-20_000));
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.on('exit', () => live.delete(child.pid!));
  }

  /** The last `sess=N quit=N mesg=N` counters (-c), or zeros. */
  counters(): { sessions: number; messages: number } {
    const all = [...this.out.matchAll(/sess=(\d+) quit=\d+ mesg=(\d+)/g)];
    const last = all[all.length - 1];
    return { sessions: Number(last?.[1] ?? 0), messages: Number(last?.[2] ?? 0) };
  }

  messages(): SinkMessage[] {
    return readdirSync(this.dir).filter((f) => f.startsWith('m.')).map((f) => {
      const text = readFileSync(path.join(this.dir, f), 'latin1');
      const records = text.split('\n');
      return {
        mailArgs: records.find((l) => l.startsWith('X-Mail-Args: '))?.slice(13) ?? '',
        rcptArgs: records.filter((l) => l.startsWith('X-Rcpt-Args: ')).map((l) => l.slice(13)),
        text,
      };
    });
  }

  output(): string {
    return tail(this.out);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const gone = new Promise((r) => this.child.once('exit', r));
    killQuietly(this.child.pid!, 'SIGTERM');
    if (!(await Promise.race([gone.then(() => true), sleep(3000).then(() => false)]))) killQuietly(this.child.pid!, 'SIGKILL');
  }
}

function listening(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: address, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Starts smtp-sink on `address:port`; `args` are extra options (e.g. `-L` for LMTP). */
export async function startSmtpSink(dir: string, address: string, port = 25, args: string[] = []): Promise<SmtpSink> {
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o777); // it writes as `nobody` when started as root
  const user = isRoot() ? ['-u', 'nobody'] : [];
  const child = spawn(smtpSinkBin, ['-c', ...user, '-d', `${dir}/m.`, ...args, `${address}:${port}`, '256'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const sink = new SmtpSink(child, address, port, dir);
  for (let i = 0; i < 50 && child.exitCode === null; i++) {
    // A probe connection counts as a session: counters() callers compare against a baseline.
    if (await listening(address, port)) return sink;
    await sleep(100);
  }
  await sink.stop();
  throw new Error(`smtp-sink did not listen on ${address}:${port}\n${sink.output()}`);
}

// ---------------------------------------------------------------------------------------------
// The Python receiver (py/mta_receiver.py, aiosmtpd): per-recipient replies, STARTTLS, implicit
// TLS, AUTH, client certificates, and a JSON record of every connection and message.

export interface ReceiverConfig {
  host: string;
  port: number;
  rcpt_replies?: Record<string, string>;
  tempfail_first?: number;
  starttls?: { cert: string; key: string };
  implicit_tls?: { cert: string; key: string };
  require_tls?: boolean;
  client_ca?: string;
  auth?: { user: string; password: string };
  smtputf8?: boolean;
}

export interface ReceivedMessage {
  event: 'message';
  conn: number;
  helo: string;
  tls: boolean;
  auth: string | null;
  client_cert: string | null;
  mail_from: string;
  mail_options: string[];
  rcpts: string[];
  rcpt_options: string[][];
  data: string;
}

export class PyReceiver {
  private out = '';
  constructor(
    private readonly child: ChildProcess,
    readonly config: ReceiverConfig,
    private readonly recordFile: string,
  ) {
    live.add(child.pid!);
    const keep = (b: Buffer) => (this.out = (this.out + b.toString('utf8')).slice(-20_000));
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.on('exit', () => live.delete(child.pid!));
  }

  records(): Record<string, unknown>[] {
    let text = '';
    try {
      text = readFileSync(this.recordFile, 'utf8');
    } catch {
      return [];
    }
    return text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  messages(): ReceivedMessage[] {
    return this.records().filter((r) => r['event'] === 'message') as unknown as ReceivedMessage[];
  }

  /** Connections that carried at least one message. */
  connectionsUsed(): number {
    return new Set(this.messages().map((m) => m.conn)).size;
  }

  output(): string {
    return tail(this.out);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const gone = new Promise((r) => this.child.once('exit', r));
    killQuietly(this.child.pid!, 'SIGTERM');
    if (!(await Promise.race([gone.then(() => true), sleep(5000).then(() => false)]))) killQuietly(this.child.pid!, 'SIGKILL');
  }
}

/** Starts py/mta_receiver.py with `config`; resolves once it prints READY. */
export async function startReceiver(dir: string, config: ReceiverConfig): Promise<PyReceiver> {
  mkdirSync(dir, { recursive: true });
  const name = `receiver-${config.host}-${config.port}`;
  const confFile = path.join(dir, `${name}.json`);
  const recordFile = path.join(dir, `${name}.jsonl`);
  writeFileSync(confFile, JSON.stringify({ ...config, record: recordFile }));
  const child = spawn(python3, [path.join(pyDir, 'mta_receiver.py'), confFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  const r = new PyReceiver(child, config, recordFile);
  for (let i = 0; i < 100 && child.exitCode === null; i++) {
    if (r.output().includes('READY')) return r;
    await sleep(100);
  }
  await r.stop();
  throw new Error(`mta_receiver.py did not start on ${config.host}:${config.port}\n${r.output()}`);
}
