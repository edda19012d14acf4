// Test helpers for the client tests: independent receivers started on free loopback ports and
// stopped by PID (Postfix's smtp-sink from .peers/, the aiosmtpd receiver of
// test/lib/py/mta_client_receiver.py), a private CA made with openssl, and session options.
// Not a test itself; used by the *.test.ts files beside it.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClientOptions } from './types.js';

/** The repository root (this file runs from packages/mta/dist/client/). */
export const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
export const sinkBin = path.join(repoRoot, '.peers/postfix/bin/smtp-sink');
export const python3 = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
export const receiverPy = path.join(repoRoot, 'test/lib/py/mta_client_receiver.py');
const isRoot = process.getuid?.() === 0;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function tempDir(tag: string): { path: string; remove(): void } {
  const p = mkdtempSync(path.join(tmpdir(), `tsmtpd-mta-client-${tag}-`));
  return { path: p, remove: () => rmSync(p, { recursive: true, force: true }) };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const gone = new Promise((r) => child.once('exit', r));
  process.kill(child.pid, 'SIGTERM');
  const t = setTimeout(() => child.pid !== undefined && child.exitCode === null && process.kill(child.pid, 'SIGKILL'), 3000);
  await gone;
  clearTimeout(t);
}

export interface Sink {
  port: number;
  pid: number;
  /** Each message smtp-sink wrote (-d): its X-Mail-Args, X-Rcpt-Args and the text. */
  messages(): { mailArgs: string; rcptArgs: string[]; text: string }[];
  output(): string;
  stop(): Promise<void>;
}

/** smtp-sink on 127.0.0.1 and a free port; `args` are its options (`-f RCPT`, `-L`, ...). */
export async function startSink(dir: string, args: string[] = [], dump = true): Promise<Sink> {
  chmodSync(dir, 0o777); // as root it runs as nobody (-u) and writes there
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const user = isRoot ? ['-u', 'nobody'] : [];
    const d = dump ? ['-d', `${dir}/m.`] : [];
    const child = spawn(sinkBin, [...user, ...d, ...args, `127.0.0.1:${port}`, '64'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const keep = (b: Buffer): void => void (out = (out + b.toString('latin1')).slice(-100_000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    for (let i = 0; i < 50 && child.exitCode === null; i++) {
      if (await listening(port)) {
        return {
          port,
          pid: child.pid!,
          messages: () =>
            readdirSync(dir)
              .filter((f) => f.startsWith('m.'))
              .map((f) => {
                const text = readFileSync(path.join(dir, f), 'latin1');
                const lines = text.split('\n');
                return {
                  mailArgs: lines.find((l) => l.startsWith('X-Mail-Args: '))?.slice(13) ?? '',
                  rcptArgs: lines.filter((l) => l.startsWith('X-Rcpt-Args: ')).map((l) => l.slice(13)),
                  text,
                };
              }),
          output: () => out,
          stop: () => stopChild(child),
        };
      }
      await sleep(50);
    }
    await stopChild(child);
    if (!out.includes('Address already in use')) throw new Error(`smtp-sink did not start: ${out}`);
  }
  throw new Error('smtp-sink: no free port');
}

export interface ReceiverEvent {
  event: string;
  conn?: number;
  verb?: string;
  arg?: string;
  buffered?: number;
  [k: string]: unknown;
}

export interface ReceivedMessage extends ReceiverEvent {
  helo: string;
  tls: boolean;
  auth: string | null;
  client_cert: string | null;
  mail: string;
  rcpts: string[];
  accepted: string[];
  data: string;
}

export interface Receiver {
  port: number;
  pid: number;
  events(): ReceiverEvent[];
  commands(verb?: string): ReceiverEvent[];
  messages(): ReceivedMessage[];
  /** Waits (bounded) until `n` messages were recorded. */
  waitMessages(n: number): Promise<ReceivedMessage[]>;
  /** Waits (bounded) until `n` commands `verb` were recorded: the receiver reports them through a pipe, after its reply. */
  waitCommands(verb: string, n: number): Promise<ReceiverEvent[]>;
  output(): string;
  stop(): Promise<void>;
}

/** The aiosmtpd receiver with `config` (see mta_client_receiver.py). */
export async function startReceiver(dir: string, config: Record<string, unknown>): Promise<Receiver> {
  const conf = path.join(dir, `receiver-${Date.now()}-${Math.random().toString(16).slice(2)}.json`);
  writeFileSync(conf, JSON.stringify({ host: '127.0.0.1', port: 0, ...config }));
  const child = spawn(python3, [receiverPy, conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  const events: ReceiverEvent[] = [];
  let partial = '';
  let err = '';
  child.stdout!.on('data', (b: Buffer) => {
    partial += b.toString('utf8');
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) if (l.trim() !== '') events.push(JSON.parse(l) as ReceiverEvent);
  });
  child.stderr!.on('data', (b: Buffer) => void (err = (err + b.toString('utf8')).slice(-20_000)));
  for (let i = 0; i < 100 && child.exitCode === null && events.length === 0; i++) await sleep(50);
  const ready = events[0];
  if (ready?.event !== 'ready') {
    await stopChild(child);
    throw new Error(`mta_client_receiver.py did not start: ${err}`);
  }
  const messages = (): ReceivedMessage[] => events.filter((e) => e.event === 'message') as ReceivedMessage[];
  const commands = (verb?: string): ReceiverEvent[] =>
    events.filter((e) => e.event === 'cmd' && (verb === undefined || e.verb === verb));
  return {
    port: ready['port'] as number,
    pid: child.pid!,
    events: () => events,
    commands,
    messages,
    waitMessages: async (n) => {
      for (let i = 0; i < 100 && messages().length < n; i++) await sleep(20);
      return messages();
    },
    waitCommands: async (verb, n) => {
      for (let i = 0; i < 100 && commands(verb).length < n; i++) await sleep(20);
      return commands(verb);
    },
    output: () => err,
    stop: () => stopChild(child),
  };
}

export interface Pki {
  ca: string;
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
  caFile: string;
  otherCa: string;
  clientCert: string;
  clientKey: string;
}

/** A private CA, a server certificate for mx.test (and 127.0.0.1), a client one, a foreign CA. */
export function makePki(dir: string): Pki {
  const f = (n: string): string => path.join(dir, n);
  const ossl = (...args: string[]): void => void execFileSync('openssl', args, { stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ossl('req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=tsmtpd test CA');
  ossl('req', '-x509', ...ec, '-keyout', f('other.key'), '-out', f('other.pem'), '-days', '2', '-subj', '/CN=other CA');
  const issue = (name: string, cn: string, ext: string): void => {
    ossl('req', ...ec, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${cn}`);
    writeFileSync(f(`${name}.ext`), ext);
    ossl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '2', '-out', f(`${name}.pem`), '-extfile', f(`${name}.ext`));
  };
  issue('server', 'mx.test', 'subjectAltName=DNS:mx.test,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  issue('client', 'relay.client.test', 'extendedKeyUsage=clientAuth\n');
  const r = (n: string): string => readFileSync(f(n), 'utf8');
  return {
    ca: r('ca.pem'),
    cert: r('server.pem'),
    key: r('server.key'),
    certFile: f('server.pem'),
    keyFile: f('server.key'),
    caFile: f('ca.pem'),
    otherCa: r('other.pem'),
    clientCert: r('client.pem'),
    clientKey: r('client.key'),
  };
}

export function options(port: number, over: Partial<ClientOptions> = {}): ClientOptions {
  return {
    address: '127.0.0.1',
    port,
    servername: 'mx.test',
    tls: 'none',
    verify: false,
    helo: 'relay.test',
    lmtp: false,
    connectTimeoutMs: 5000,
    commandTimeoutMs: 10_000,
    ...over,
  };
}

/** A body as the queue hands it over: LF line ends, in chunks of `size` bytes. */
export function bodyOf(text: string | Buffer, size = 7): () => AsyncIterable<Uint8Array> {
  const buf = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  return async function* () {
    for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
  };
}

export interface Proxy {
  port: number;
  /** Connections made through it. */
  connections(): number;
  /** Client→server bursts that followed server bytes: the client's round trips. */
  turns(): number;
  /** What the client sent, all connections, latin1 (the first MiB). */
  clientText(): string;
  /** How many bytes the client sent. */
  clientBytes(): number;
  close(): void;
}

/** A TCP relay to 127.0.0.1:target that counts how often the client waited for the server. */
export async function startProxy(target: number): Promise<Proxy> {
  let conns = 0;
  let turns = 0;
  let text = '';
  let bytes = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((c) => {
    conns++;
    let serverSpoke = true; // the greeting: the first client bytes are a turn too
    const s = net.connect(target, '127.0.0.1');
    for (const x of [c, s]) {
      sockets.add(x);
      x.setNoDelay(true);
      x.on('error', () => {});
      x.on('close', () => (c.destroy(), s.destroy()));
    }
    c.on('data', (b: Buffer) => {
      if (serverSpoke) turns++;
      serverSpoke = false;
      bytes += b.length;
      if (text.length < 1 << 20) text += b.toString('latin1');
      s.write(b);
    });
    s.on('data', (b: Buffer) => {
      serverSpoke = true;
      c.write(b);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => conns,
    turns: () => turns,
    clientText: () => text,
    clientBytes: () => bytes,
    close: () => {
      for (const x of sockets) x.destroy();
      server.close();
    },
  };
}
