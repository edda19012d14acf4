// Test support for the smtp actor's tests: fake lka and queue peers that record every call
// (served from the test thread by the test kit), a starter for the real smtp worker, and a
// raw-socket SMTP client for exact wire checks. Not part of the package's public face.
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestActor, type TestActor } from '@tsmtpd/actor';
import { defaultConfig, socketListener, type Listener, type SmtpdConfig } from '@tsmtpd/config';
import { DEFAULT_SETTINGS, Replies, fail, ok, type Envelope, type LkaMailbox, type QueueMailbox, type RcptRequest, type RcptResolution, type Settings } from '@tsmtpd/proto';
import { workerUrl } from './index.js';

export interface FakeQueue {
  fake: Partial<QueueMailbox>;
  /** Every msgid handed to smtp's stock (msgidsReserve), in order. */
  reserved: string[];
  /** Msgids in the order a call first named them: the transactions that reached the queue. */
  created: string[];
  envelopes: Map<string, Envelope[]>;
  bodies: Map<string, Buffer[]>;
  committed: string[];
  rolledBack: string[];
  /** The stored body of a message, chunks joined. */
  body(msgid: string): Buffer;
  /** Methods that never answer (a hung queue), changeable at any time. */
  hang: Set<keyof QueueMailbox>;
  /** Methods that answer with a Result failure. */
  fail: Set<keyof QueueMailbox>;
  /** Refuse the envelopes of the next commits, as the queue does those of another message. */
  refuseEnvelopes: boolean;
}

/** A queue that stores everything in memory. */
export function fakeQueue(): FakeQueue {
  let n = 0;
  const q: FakeQueue = {
    reserved: [], created: [], envelopes: new Map(), bodies: new Map(), committed: [], rolledBack: [],
    body: (msgid) => Buffer.concat(q.bodies.get(msgid) ?? []),
    fake: {}, hang: new Set(), fail: new Set(), refuseEnvelopes: false,
  };
  const never = new Promise<never>(() => undefined);
  const failure = fail('ERR_TEST', 'temp', 'injected failure');
  const hang = { includes: (m: keyof QueueMailbox) => q.hang.has(m) };
  const named = (msgid: string): void => {
    if (!q.created.includes(msgid)) q.created.push(msgid);
  };
  q.fake = {
    async msgidsReserve(count) {
      if (hang.includes('msgidsReserve')) return never;
      if (q.fail.has('msgidsReserve')) return failure;
      const ids = Array.from({ length: count }, () => (0x10000000 + ++n).toString(16));
      q.reserved.push(...ids);
      return ok(ids);
    },
    async bodyAppend(msgid, chunk) {
      named(msgid);
      if (hang.includes('bodyAppend')) return never;
      if (q.fail.has('bodyAppend')) return failure;
      const list = q.bodies.get(msgid) ?? [];
      list.push(Buffer.from(chunk));
      q.bodies.set(msgid, list);
      return ok(undefined);
    },
    async messageCommit(msgid, envs, tail) {
      named(msgid);
      if (hang.includes('messageCommit')) return never;
      if (q.fail.has('messageCommit')) return failure;
      // As the queue: envelopes that are not all the message's fail the commit.
      if (q.refuseEnvelopes || envs.length === 0 || envs.some((e) => e.msgid !== msgid)) return fail('ERR_QUEUE_BAD_ENVELOPE', 'internal', 'envelopes refused');
      q.envelopes.set(msgid, envs);
      if (tail && tail.byteLength > 0) {
        const list = q.bodies.get(msgid) ?? [];
        list.push(Buffer.from(tail));
        q.bodies.set(msgid, list);
      }
      q.committed.push(msgid);
      return ok({ msgid, size: q.body(msgid).length });
    },
    onMessageRollback(msgid) {
      named(msgid);
      q.rolledBack.push(msgid);
    },
  };
  return q;
}

export interface FakeLka {
  fake: Partial<LkaMailbox>;
  requests: RcptRequest[];
  /** Generations smtp released after a reload (releaseGeneration). */
  released: number[];
}

/**
 * Ruleset of the tests: example.org is ours (unknown@ is an unknown user, list@ expands to
 * two local users, slow@ never answers), every other domain is refused as relaying.
 */
export function fakeLka(): FakeLka {
  const l: FakeLka = { requests: [], released: [], fake: {} };
  const local = (user: string) => ({ dispatcher: 'local', type: 'mda' as const, dest: `${user}@example.org`, mdaUser: user, ttl: 345_600 });
  l.fake = {
    releaseGeneration(gen) {
      l.released.push(gen);
    },
    async rcptResolve(req): Promise<RcptResolution> {
      l.requests.push(req);
      const [user = '', domain = ''] = req.rcpt.split('@');
      if (domain !== 'example.org') return { ok: false, reply: Replies.relayDenied };
      if (user === 'unknown') return { ok: false, reply: Replies.unknownUser };
      if (user === 'slow') return new Promise<never>(() => undefined);
      if (user === 'list') return { ok: true, recipients: [local('alice'), local('bob')] };
      return { ok: true, recipients: [local(user)] };
    },
  };
  return l;
}

export interface SmtpUnderTest {
  actor: TestActor<'smtp'>;
  port: number;
  spool: string;
  queue: FakeQueue;
  lka: FakeLka;
  config: SmtpdConfig;
  stop(): Promise<void>;
}

export interface StartOptions {
  queue?: FakeQueue;
  lka?: FakeLka;
  deadlineMs?: number;
  settings?: Partial<Settings>;
  /** Changes to the inet listener. */
  listener?: Partial<Listener>;
  /** Changes to the configuration (after the listener is added). */
  config?: (c: SmtpdConfig) => void;
  /** Leave the queue unwired (a topology without the edge). */
  noQueue?: boolean;
  /** Use this spool directory (it is still removed by stop()). */
  spool?: string;
  /** Let the worker log (to its stderr, readable on `actor.handle.worker.stderr`). */
  logs?: boolean;
}

/** A 127.0.0.1 port-0 listener with no options. */
export function inetListener(over: Partial<Listener> = {}): Listener {
  return { ...socketListener(), kind: 'inet', target: '127.0.0.1', addresses: [{ address: '127.0.0.1', family: 4 }], ...over };
}

/** Start the real smtp worker with fake peers and one inet listener on 127.0.0.1. */
export async function startSmtp(opts: StartOptions = {}): Promise<SmtpUnderTest> {
  const spool = opts.spool ?? (await mkdtemp(join(tmpdir(), 'tsmtpd-smtp-')));
  const config = defaultConfig('mx.test.example');
  config.listeners.push(inetListener(opts.listener));
  opts.config?.(config);
  const queue = opts.queue ?? fakeQueue();
  const lka = opts.lka ?? fakeLka();
  const settings: Settings = { ...DEFAULT_SETTINGS, reverseDns: false, ...opts.settings };
  const actor = await startTestActor({
    role: 'smtp', entry: workerUrl, init: { config, spool, settings },
    fakes: opts.noQueue ? { lka: lka.fake } : { queue: queue.fake, lka: lka.fake },
    ...(opts.deadlineMs !== undefined ? { deadlineMs: opts.deadlineMs } : {}),
    ...(opts.logs ? { quiet: false } : {}),
  });
  const bound = await actor.mailbox.listening();
  const port = Number((bound[0] ?? '').split(':').pop());
  return {
    actor, port, spool, queue, lka, config,
    async stop() {
      try {
        await actor.stop();
      } finally {
        await rm(spool, { recursive: true, force: true });
      }
    },
  };
}

export interface WireReply {
  code: number;
  /** Each line without the code and separator. */
  lines: string[];
  /** The reply lines exactly as received, CRLF removed. */
  raw: string[];
}

/** A raw SMTP client: bytes out exactly as given, replies parsed line by line. */
export class WireClient {
  private buf = '';
  private waiters: (() => void)[] = [];
  closed = false;

  private constructor(readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.buf += d;
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  /** Connect to a TCP port (on `host`) or to a unix socket path. */
  static open(port: number | string, timeoutMs = 5000, host = '127.0.0.1'): Promise<WireClient> {
    return new Promise((resolve, reject) => {
      const sock = typeof port === 'number' ? connect(port, host) : connect(port);
      const t = setTimeout(() => reject(new Error('connect timeout')), timeoutMs);
      sock.once('connect', () => {
        clearTimeout(t);
        resolve(new WireClient(sock));
      });
      sock.once('error', (e) => {
        clearTimeout(t);
        reject(e);
      });
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Next complete reply (all its lines), or an error after `timeoutMs`. */
  async reply(timeoutMs = 5000): Promise<WireReply> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = this.parse();
      if (r) return r;
      if (this.closed) throw new Error(`connection closed; pending: ${JSON.stringify(this.buf)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no reply within ${timeoutMs} ms; pending: ${JSON.stringify(this.buf)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  private parse(): WireReply | null {
    const raw: string[] = [];
    let pos = 0;
    for (;;) {
      const nl = this.buf.indexOf('\r\n', pos);
      if (nl < 0) return null;
      const line = this.buf.slice(pos, nl);
      raw.push(line);
      pos = nl + 2;
      if (line[3] !== '-') {
        this.buf = this.buf.slice(pos);
        return { code: Number(line.slice(0, 3)), lines: raw.map((l) => l.slice(4)), raw };
      }
    }
  }

  /** Write bytes; a string is taken byte for byte (latin1), for exact wire tests. */
  write(data: string | Buffer): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** Send one command line (UTF-8) and return its reply's lines, joined by LF. */
  async cmd(line: string, timeoutMs = 5000): Promise<string> {
    this.write(Buffer.from(`${line}\r\n`, 'utf8'));
    const r = await this.reply(timeoutMs);
    return r.raw.join('\n');
  }

  /** Bytes received and not yet parsed as replies. */
  get pending(): string {
    return this.buf;
  }

  /** Resolves when the server has closed the connection (or after `timeoutMs`: false). */
  async waitClosed(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    return this.closed;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Poll `check` until true or `timeoutMs` passed. */
export async function eventually(check: () => boolean, timeoutMs = 3000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

/** Open a session up to an accepted MAIL FROM and one RCPT. */
export async function openTransaction(port: number, rcpt = 'alice@example.org', sender = 'sender@remote.example'): Promise<WireClient> {
  const c = await WireClient.open(port);
  await c.reply();
  await c.cmd('EHLO client.example');
  const m = await c.cmd(`MAIL FROM:<${sender}>`);
  if (!m.startsWith('250')) throw new Error(`MAIL refused: ${m}`);
  const r = await c.cmd(`RCPT TO:<${rcpt}>`);
  if (!r.startsWith('250')) throw new Error(`RCPT refused: ${r}`);
  return c;
}
