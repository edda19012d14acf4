// PgSync: synchronous calls to PostgreSQL for the queue thread, as better-sqlite3 is for SQLite.
// The `pg` pool runs in a thread of its own (pg-worker.ts); a call posts its request and blocks
// on a shared flag (Atomics.wait) until the answer is on the port, bounded by a timeout. This
// keeps the QueueBackend interface synchronous: the SQLite path pays nothing for PostgreSQL.
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { ActorError } from '@tsmtpd/proto';

export interface PgRequest {
  id: number;
  op: 'begin' | 'query' | 'commit' | 'rollback' | 'reset' | 'close';
  text?: string;
  values?: unknown[];
  /** A prepared statement's name (the server keeps its plan per connection). */
  name?: string;
  durable?: boolean;
  /** No answer: a failure is answered to the next request that waits (and later ones are skipped). */
  noWait?: boolean;
}

export interface PgReply {
  id: number;
  ok: boolean;
  rows?: unknown[];
  rowCount?: number;
  error?: { message: string; code: string };
  /** A transaction is open on the worker's client after this request. */
  txn: boolean;
  /** The failure was of the link (server down, connection lost): the worker backs off. */
  down: boolean;
}

export interface PgResult<R> {
  rows: R[];
  rowCount: number;
}

/** A PostgreSQL error thrown to the queue: `code` is SQLSTATE (or DOWN); always temporary. */
export class PgError extends ActorError {
  constructor(message: string, readonly sqlState: string, readonly link: boolean) {
    super('ERR_QUEUE_IO', 'temp', message);
  }
}

/** The URI with its password masked, for logs and errors. */
export function redactUri(uri: string): string {
  try {
    const u = new URL(uri);
    if (u.password !== '') u.password = '****';
    if (u.searchParams.has('password')) u.searchParams.set('password', '****');
    return u.toString();
  } catch {
    return 'postgresql://(unparsable URI)';
  }
}

export class PgSync {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly flag = new Int32Array(new SharedArrayBuffer(4));
  private nextId = 1;
  private open = true;
  /** True while a transaction is open on the server side (as the worker last said). */
  txn = false;
  /** Called when the link goes down or comes back (the backend logs it once per change). */
  onLink: ((up: boolean, why: string) => void) | null = null;
  private up = true;

  constructor(uri: string, private readonly timeoutMs = 5000) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.port.unref();
    this.worker = new Worker(new URL('./pg-worker.js', import.meta.url), {
      workerData: { port: port2, flag: this.flag.buffer, uri, timeoutMs },
      transferList: [port2],
    });
    // The thread must not keep a stopping process alive, nor crash it with an error event.
    this.worker.unref();
    this.worker.on('error', () => {});
  }

  /** One request, answered synchronously; throws PgError on failure. */
  call<R = Record<string, unknown>>(req: Omit<PgRequest, 'id'>): PgResult<R> {
    if (!this.open) throw new PgError('queue database connection closed', 'CLOSED', true);
    const id = this.nextId++;
    Atomics.store(this.flag, 0, 0);
    this.port.postMessage({ ...req, id });
    // The worker's own query timeout comes first; this bound only catches a wedged worker.
    const deadline = Date.now() + this.timeoutMs * 2 + 1000;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) {
        this.txn = false;
        this.port.postMessage({ op: 'reset', id: this.nextId++ });
        this.link(false, 'no answer from the PostgreSQL client thread');
        throw new PgError('queue database: no answer in time', 'TIMEOUT', true);
      }
      Atomics.wait(this.flag, 0, 0, Math.min(left, 100));
      const m = receiveMessageOnPort(this.port);
      if (!m) {
        // The flag was set for an answer already taken (a stale one): wait again.
        Atomics.store(this.flag, 0, 0);
        continue;
      }
      const reply = m.message as PgReply;
      if (reply.id !== id) continue;
      this.txn = reply.txn;
      if (!reply.ok) {
        const err = reply.error ?? { message: 'unknown error', code: '' };
        if (reply.down) this.link(false, err.message);
        throw new PgError(`queue database: ${err.message}`, err.code, reply.down);
      }
      this.link(true, '');
      return { rows: (reply.rows ?? []) as R[], rowCount: reply.rowCount ?? 0 };
    }
  }

  /**
   * Send without waiting (inside a transaction: the statement's failure surfaces at the next
   * waited call, so a savepoint's RELEASE reports every write since its SAVEPOINT).
   */
  send(req: Omit<PgRequest, 'id' | 'noWait'>): void {
    if (!this.open) throw new PgError('queue database connection closed', 'CLOSED', true);
    this.port.postMessage({ ...req, id: this.nextId++, noWait: true });
    if (req.op === 'begin') this.txn = true;
  }

  query<R = Record<string, unknown>>(text: string, values: unknown[] = [], name?: string): PgResult<R> {
    return this.call<R>({ op: 'query', text, values, ...(name ? { name } : {}) });
  }

  private link(up: boolean, why: string): void {
    if (up === this.up) return;
    this.up = up;
    this.onLink?.(up, why);
  }

  close(): void {
    if (!this.open) return;
    try {
      this.call({ op: 'close' });
    } catch {
      // closing anyway
    }
    this.open = false;
    this.port.close();
    void this.worker.terminate();
  }
}
