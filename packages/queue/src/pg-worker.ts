// The PostgreSQL client thread behind PgSync (pg-sync.ts): holds the `pg` pool, runs one request
// at a time (begin/query/commit/rollback/reset) and answers on its port, waking the caller, which
// waits on a shared flag. Talks to: the queue thread that spawned it (PgSync), and PostgreSQL.
// Connection failures back off (250 ms doubling to 10 s) instead of dialing at every call.
import { parentPort, workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import pg from 'pg';
import type { PgReply, PgRequest } from './pg-sync.js';

interface WorkerInit {
  port: MessagePort;
  flag: SharedArrayBuffer;
  uri: string;
  timeoutMs: number;
}

const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 10_000;

/** Errors of the link rather than of a statement: they start the backoff. */
function isLinkError(e: unknown): boolean {
  const code = String((e as { code?: unknown } | null)?.code ?? '');
  const msg = e instanceof Error ? e.message : String(e);
  return /^(ECONN|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|EPIPE|EAI_)/.test(code) || /^(57P0[1-3]|08)/.test(code) ||
    /Connection terminated|timeout|not queryable|Client has encountered a connection error/i.test(msg);
}

class Link {
  private readonly pool: pg.Pool;
  /** The failure of a request sent without waiting, answered to the next request that waits. */
  private pending: Omit<PgReply, 'id'> | null = null;
  private txn: pg.PoolClient | null = null;
  private readonly checked = new WeakSet<pg.PoolClient>();
  private downUntil = 0;
  private backoff = BACKOFF_MIN_MS;

  constructor(uri: string, timeoutMs: number) {
    this.pool = new pg.Pool({
      connectionString: uri,
      max: 4,
      connectionTimeoutMillis: timeoutMs,
      query_timeout: timeoutMs,
      idleTimeoutMillis: 30_000,
      application_name: 'tsmtpd-queue',
      // The 250 waits for the commit's WAL flush on the server: never relaxed by its configuration.
      options: '-c synchronous_commit=on',
    });
    // An idle client that loses its server is dropped by the pool; nothing to answer.
    this.pool.on('error', () => {});
  }

  /** A request sent without waiting: run it unless an earlier one failed; keep its failure. */
  async handleNoWait(req: PgRequest): Promise<void> {
    if (this.pending) return;
    const r = await this.handle(req);
    if (!r.ok) this.pending = r;
  }

  async handle(req: PgRequest): Promise<Omit<PgReply, 'id'>> {
    if (req.op === 'reset') {
      this.pending = null;
      return this.reset();
    }
    if (this.pending) {
      const p = this.pending;
      this.pending = null;
      // A commit after a failed write must not leave the failed transaction open.
      if ((req.op === 'commit' || req.op === 'rollback') && this.txn) await this.run({ ...req, op: 'rollback' }).catch(() => this.drop(new Error('rollback failed')));
      return { ...p, txn: this.txn !== null };
    }
    const now = Date.now();
    if (this.downUntil > now) {
      return { ok: false, error: { message: `queue database unavailable (next attempt in ${Math.ceil((this.downUntil - now) / 1000)}s)`, code: 'DOWN' }, txn: false, down: true };
    }
    try {
      const r = await this.run(req);
      this.backoff = BACKOFF_MIN_MS;
      return { ok: true, rows: r.rows, rowCount: r.rowCount, txn: this.txn !== null, down: false };
    } catch (e) {
      const link = isLinkError(e);
      if (link) {
        this.downUntil = Date.now() + this.backoff;
        this.backoff = Math.min(this.backoff * 2, BACKOFF_MAX_MS);
        this.drop(e);
      }
      const err = e as { message?: string; code?: string };
      return { ok: false, error: { message: err.message ?? String(e), code: err.code ?? '' }, txn: this.txn !== null, down: link };
    }
  }

  private async run(req: PgRequest): Promise<{ rows: unknown[]; rowCount: number }> {
    switch (req.op) {
      case 'begin': {
        if (this.txn) throw new Error('a transaction is already open');
        const c = await this.client();
        this.txn = c;
        await c.query(req.durable === false ? 'BEGIN; SET LOCAL synchronous_commit = off' : 'BEGIN');
        return { rows: [], rowCount: 0 };
      }
      case 'commit':
      case 'rollback': {
        const c = this.txn;
        if (!c) throw new Error('no transaction is open');
        try {
          await c.query(req.op === 'commit' ? 'COMMIT' : 'ROLLBACK');
        } finally {
          this.txn = null;
          c.release();
        }
        return { rows: [], rowCount: 0 };
      }
      case 'query': {
        const values = (req.values ?? []).map((v) => (ArrayBuffer.isView(v) ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : v));
        const q = { text: req.text ?? '', values, ...(req.name ? { name: req.name } : {}) };
        const r = this.txn ? await this.txn.query(q) : await this.pool.query(q);
        return { rows: r.rows as unknown[], rowCount: r.rowCount ?? 0 };
      }
      default:
        throw new Error(`unknown request ${String(req.op)}`);
    }
  }

  /** A client whose session is checked once: a commit must wait for the server's WAL flush. */
  private async client(): Promise<pg.PoolClient> {
    const c = await this.pool.connect();
    if (this.checked.has(c)) return c;
    try {
      const r = await c.query('SHOW synchronous_commit');
      const v = String((r.rows[0] as { synchronous_commit?: unknown } | undefined)?.synchronous_commit);
      if (v !== 'on') throw new Error(`synchronous_commit is ${v} on the queue database: acknowledged mail could be lost`);
    } catch (e) {
      c.release(true);
      throw e;
    }
    this.checked.add(c);
    return c;
  }

  private drop(e: unknown): void {
    if (!this.txn) return;
    this.txn.release(e instanceof Error ? e : true);
    this.txn = null;
  }

  /** After the caller gave up waiting: whatever transaction is open is abandoned. */
  private reset(): Omit<PgReply, 'id'> {
    this.drop(new Error('abandoned'));
    return { ok: true, rows: [], rowCount: 0, txn: false, down: false };
  }

  async close(): Promise<void> {
    this.drop(new Error('closing'));
    await this.pool.end();
  }
}

const init = workerData as WorkerInit;
const flag = new Int32Array(init.flag);
const link = new Link(init.uri, init.timeoutMs);
let chain: Promise<void> = Promise.resolve();

function answer(reply: PgReply): void {
  init.port.postMessage(reply);
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
}

init.port.on('message', (req: PgRequest) => {
  // One at a time, in order: the caller's transaction is a sequence.
  chain = chain.then(async () => {
    if (req.op === 'close') {
      await link.close().catch(() => {});
      answer({ id: req.id, ok: true, rows: [], rowCount: 0, txn: false, down: false });
      init.port.close();
      return;
    }
    if (req.noWait) await link.handleNoWait(req);
    else answer({ id: req.id, ...(await link.handle(req)) });
  });
});
parentPort?.on('message', () => {});
