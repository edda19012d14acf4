// The command-recording aiosmtpd receiver of py/mta_client_receiver.py for end-to-end relay tests:
// every command as the daemon sent it (EHLO name, MAIL/RCPT with their parameters, STARTTLS),
// each connection's peer address, its open and close, and the messages; SMTP or LMTP, implicit
// TLS or STARTTLS, DSN, SIZE, SMTPUTF8 and scripted replies as configured. Stopped by PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { pyDir, python3 } from './paths.js';
import { killQuietly, sleep, tail } from './proc.js';

const live = new Set<number>();
process.on('exit', () => {
  for (const pid of live) killQuietly(pid, 'SIGKILL');
});

/** The configuration keys of mta_client_receiver.py (see its header). */
export interface RecorderConfig {
  host?: string;
  /** 0: a free port, read back from its `ready` line. */
  port?: number;
  lmtp?: boolean;
  pipelining?: boolean;
  dsn?: boolean;
  smtputf8?: boolean;
  /** Advertised SIZE (aiosmtpd's data_size_limit). */
  size?: number;
  starttls?: { cert: string; key: string };
  implicit?: { cert: string; key: string };
  rcpt_replies?: Record<string, string>;
  eod_replies?: Record<string, string>;
}

export interface RecorderEvent {
  event: 'ready' | 'connect' | 'close' | 'cmd' | 'message';
  conn?: number;
  peer?: string;
  verb?: string;
  arg?: string;
  [k: string]: unknown;
}

export interface RecordedMessage extends RecorderEvent {
  helo: string;
  tls: boolean;
  /** MAIL and RCPT arguments as received, parameters included. */
  mail: string;
  rcpts: string[];
  accepted: string[];
  data: string;
}

export class Recorder {
  private readonly events: RecorderEvent[] = [];
  private partial = '';
  private err = '';
  port = 0;

  constructor(
    private readonly child: ChildProcess,
    readonly host: string,
  ) {
    live.add(child.pid!);
    child.stdout!.on('data', (b: Buffer) => {
      this.partial += b.toString('utf8');
      const lines = this.partial.split('\n');
      this.partial = lines.pop() ?? '';
      for (const l of lines) if (l.trim() !== '') this.events.push(JSON.parse(l) as RecorderEvent);
    });
    child.stderr!.on('data', (b: Buffer) => (this.err = (this.err + b.toString('utf8')).slice(-20_000)));
    child.on('exit', () => live.delete(child.pid!));
  }

  all(): RecorderEvent[] {
    return [...this.events];
  }

  commands(verb?: string): RecorderEvent[] {
    return this.events.filter((e) => e.event === 'cmd' && (verb === undefined || e.verb === verb));
  }

  messages(): RecordedMessage[] {
    return this.events.filter((e) => e.event === 'message') as RecordedMessage[];
  }

  /** The messages whose data contains `needle` (a subject tag). */
  with(needle: string): RecordedMessage[] {
    return this.messages().filter((m) => Buffer.from(m.data, 'base64').toString('utf8').includes(needle));
  }

  /** The peer address of connection `conn`. */
  peerOf(conn: number | undefined): string | undefined {
    return this.events.find((e) => e.event === 'connect' && e.conn === conn)?.peer;
  }

  /** The most connections open at once among `conns` (from the connect/close order). */
  maxConcurrent(conns: ReadonlySet<number>): number {
    let open = 0;
    let max = 0;
    for (const e of this.events) {
      if (e.conn === undefined || !conns.has(e.conn)) continue;
      if (e.event === 'connect') max = Math.max(max, ++open);
      else if (e.event === 'close') open--;
    }
    return max;
  }

  output(): string {
    return tail(this.err);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const gone = new Promise((r) => this.child.once('exit', r));
    killQuietly(this.child.pid!, 'SIGTERM');
    if (!(await Promise.race([gone.then(() => true), sleep(3000).then(() => false)]))) killQuietly(this.child.pid!, 'SIGKILL');
  }
}

/** Starts the receiver (default 127.0.0.1 and a free port); resolves once it listens. */
export async function startRecorder(dir: string, config: RecorderConfig): Promise<Recorder> {
  const host = config.host ?? '127.0.0.1';
  const conf = path.join(dir, `recorder-${host}-${config.port ?? 0}-${Math.random().toString(16).slice(2)}.json`);
  writeFileSync(conf, JSON.stringify({ host, port: 0, ...config }));
  const child = spawn(python3, [path.join(pyDir, 'mta_client_receiver.py'), conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  const r = new Recorder(child, host);
  for (let i = 0; i < 100 && child.exitCode === null; i++) {
    const ready = r.all().find((e) => e.event === 'ready');
    if (ready) {
      r.port = ready['port'] as number;
      return r;
    }
    await sleep(50);
  }
  await r.stop();
  throw new Error(`mta_client_receiver.py did not start on ${host}:${config.port ?? 0}\n${r.output()}`);
}
