// PgQueueBackend: the queue's storage in a PostgreSQL database shared by several nodes (schema in
// pg-schema.ts), through PgSync's synchronous calls. Bodies are chunk rows; a message is visible
// once its commit wrote its envelopes, each leased to this node (see lease.ts for renewal and
// take-over). A batch is one server transaction; a durable one returns after the WAL flush.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { ActorError, type Envelope } from '@tsmtpd/proto';
import { QueueCodec, type QueueCodecOptions } from './codec.js';
import { PgError, PgSync, redactUri } from './pg-sync.js';
import { ensurePgSchema } from './pg-schema.js';
import { envelopeFromStored, envelopeStoredForm } from './envelope-row.js';
import { type ChunkPage, type EnvelopeDeleted, type EnvelopeScan, type QueueBackend } from './backend.js';

export interface PgBackendOptions extends QueueCodecOptions {
  uri: string;
  /** Seconds a lease lasts without renewal (default 60). */
  leaseSeconds?: number;
  /** This node's id in the cluster (default: host name, pid and a random tag). */
  node?: string;
  /** Per-request time limit, ms (default 5000). */
  timeoutMs?: number;
}

interface ChunkRow { seq: number; data: Uint8Array; enc: number }
interface EnvelopeRow { evpid: string; json: string | null; blob: Uint8Array | null; enc: number }

const T = { msg: 'tsmtpd_message', chunk: 'tsmtpd_chunk', env: 'tsmtpd_envelope', node: 'tsmtpd_node' };
/** Body bytes per bodyRead query when reading a page (rows are about 64 KiB). */
const ROWS_PER_READ = 64;

export class PgQueueBackend implements QueueBackend {
  readonly name = 'postgres';
  readonly node: string;
  readonly leaseSeconds: number;
  readonly where: string;
  readonly db: PgSync;
  private readonly codec: QueueCodec;
  private depth = 0;
  private sp = 0;
  private ready = false;

  /**
   * Connects, checks durability settings and the schema (creating it when missing). A server
   * that cannot be reached is not fatal unless `mustConnect`: every call fails temporarily until
   * it answers, and the first call that reaches it sets up the schema then.
   */
  constructor(opts: PgBackendOptions, mustConnect = true) {
    this.codec = new QueueCodec(opts);
    this.leaseSeconds = opts.leaseSeconds ?? 60;
    this.node = opts.node ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    this.where = redactUri(opts.uri);
    this.db = new PgSync(opts.uri, opts.timeoutMs ?? 5000);
    try {
      this.setup();
    } catch (e) {
      if (mustConnect || !(e instanceof PgError && e.link)) {
        this.db.close();
        throw e;
      }
    }
  }

  /** Schema check (and creation) once per process, before the first statement of ours. */
  private setup(): void {
    if (this.ready) return;
    ensurePgSchema(this.db, this.where);
    this.ready = true;
    this.heartbeat();
  }

  batch<T>(fn: () => T, durable = true): T {
    if (this.depth > 0) return this.atomic(fn);
    if (!this.ready) this.setup();
    this.db.send({ op: 'begin', durable });
    this.depth++;
    this.sp = 0;
    let value: T;
    try {
      value = fn();
    } catch (e) {
      this.depth--;
      if (this.db.txn) this.rollbackQuietly();
      throw e;
    }
    this.depth--;
    // Returns once the server has the commit in its WAL, flushed (synchronous_commit = on).
    try {
      this.db.call({ op: 'commit' });
    } catch (e) {
      if (this.db.txn) this.rollbackQuietly();
      throw e;
    }
    return value;
  }

  inTransaction(): boolean {
    return this.db.txn;
  }

  atomic<T>(fn: () => T): T {
    if (this.depth === 0) return this.batch(fn);
    const name = `a${this.sp++}`;
    this.db.send({ op: 'query', text: `SAVEPOINT ${name}` });
    this.depth++;
    try {
      const value = fn();
      this.db.query(`RELEASE SAVEPOINT ${name}`);
      return value;
    } catch (e) {
      if (this.db.txn) this.db.query(`ROLLBACK TO SAVEPOINT ${name}`);
      throw e;
    } finally {
      this.depth--;
    }
  }

  private rollbackQuietly(): void {
    try {
      this.db.call({ op: 'rollback' });
    } catch {
      // the server drops the transaction with the connection
    }
  }

  /** This node's unfinished messages, and those of nodes whose heartbeat stopped. */
  purgeIncoming(): number {
    return this.batch(() => this.purgeWhere(`node = $1 OR node NOT IN (SELECT id FROM ${T.node} WHERE heartbeat > now() - make_interval(secs => $2 * 2))`, [this.node, this.leaseSeconds]));
  }

  /** Only dead nodes' unfinished messages (run now and then while serving). */
  purgeDead(): number {
    return this.batch(() => this.purgeWhere(`node <> $1 AND node NOT IN (SELECT id FROM ${T.node} WHERE heartbeat > now() - make_interval(secs => $2 * 2))`, [this.node, this.leaseSeconds]));
  }

  private purgeWhere(cond: string, values: unknown[]): number {
    const gone = this.db.query<{ msgid: string }>(`DELETE FROM ${T.msg} WHERE state = 'incoming' AND (${cond}) RETURNING msgid`, values);
    const ids = gone.rows.map((r) => r.msgid);
    if (ids.length > 0) this.db.query(`DELETE FROM ${T.chunk} WHERE msgid = ANY($1)`, [ids]);
    this.db.query(`DELETE FROM ${T.node} WHERE heartbeat < now() - make_interval(secs => $1 * 10)`, [this.leaseSeconds]);
    return ids.length;
  }

  counts(): { messages: number; envelopes: number } {
    const r = this.db.query<{ m: string; e: string }>(
      `SELECT (SELECT count(*) FROM ${T.msg} WHERE state = 'committed') AS m, (SELECT count(*) FROM ${T.env}) AS e`);
    return { messages: Number(r.rows[0]?.m ?? 0), envelopes: Number(r.rows[0]?.e ?? 0) };
  }

  /** This node's leased envelopes (handed to the scheduler again after the link came back). */
  leasedByMe(): EnvelopeScan {
    if (!this.ready) this.setup();
    const rows = this.db.query<EnvelopeRow>(`SELECT evpid, json, blob, enc FROM ${T.env} WHERE lease_node = $1 ORDER BY evpid`, [this.node], 'env_mine').rows;
    return this.parseRows(rows, null);
  }

  messageExists(msgid: string): boolean {
    if (!this.ready) this.setup();
    return this.db.query(`SELECT 1 FROM ${T.msg} WHERE msgid = $1`, [msgid], 'msg_exists').rowCount > 0;
  }

  chunkAppend(msgid: string, seq: number, ctime: number, data: Uint8Array): void {
    if (seq === 0) {
      this.write(`INSERT INTO ${T.msg} (msgid, state, ctime, node) VALUES ($1, 'incoming', $2, $3) ON CONFLICT (msgid) DO NOTHING`, [msgid, ctime, this.node], 'msg_incoming');
    }
    const row = this.codec.encode(data);
    this.write(`INSERT INTO ${T.chunk} (msgid, seq, data, enc) VALUES ($1, $2, $3, $4)`, [msgid, seq, row.data, row.flags], 'chunk_insert');
  }

  /**
   * A write whose result nobody reads: inside a transaction it is sent without waiting (the
   * enclosing savepoint's RELEASE, or the COMMIT, reports its failure); outside, it waits.
   */
  private write(text: string, values: unknown[], name: string): void {
    if (this.depth > 0) this.db.send({ op: 'query', text, values, name });
    else this.db.query(text, values, name);
  }

  messageCommit(msgid: string, ctime: number, size: number, nchunks: number, envelopes: Envelope[]): void {
    const stored = Number(this.db.query<{ n: string }>(`SELECT count(*) AS n FROM ${T.chunk} WHERE msgid = $1`, [msgid], 'chunk_count').rows[0]?.n ?? 0);
    if (stored !== nchunks) throw new ActorError('ERR_QUEUE_IO', 'temp', `message ${msgid}: ${stored} of ${nchunks} chunks stored`);
    const r = this.db.query(`INSERT INTO ${T.msg} (msgid, state, ctime, size, nchunks, node) VALUES ($1, 'committed', $2, $3, $4, $5)
      ON CONFLICT (msgid) DO UPDATE SET state = 'committed', size = excluded.size, nchunks = excluded.nchunks
      WHERE ${T.msg}.state = 'incoming'`, [msgid, ctime, size, nchunks, this.node], 'msg_commit');
    if (r.rowCount !== 1) throw new ActorError('ERR_QUEUE_STATE', 'internal', `message ${msgid} is already committed`);
    this.envelopesInsert(envelopes);
  }

  /** Envelopes in one statement, leased to this node. */
  private envelopesInsert(envelopes: Envelope[]): void {
    if (envelopes.length === 0) return;
    const cols: unknown[][] = [[], [], [], [], [], []];
    for (const e of envelopes) {
      const row = this.envelopeRow(e);
      cols[0]?.push(e.id); cols[1]?.push(e.msgid); cols[2]?.push(e.type);
      cols[3]?.push(typeof row.value === 'string' ? row.value : null);
      cols[4]?.push(typeof row.value === 'string' ? null : Buffer.from(row.value).toString('base64'));
      cols[5]?.push(row.flags);
    }
    this.write(`INSERT INTO ${T.env} (evpid, msgid, type, json, blob, enc, lease_node, lease_until)
      SELECT u.evpid, u.msgid, u.type, u.json, decode(u.blob, 'base64'), u.enc, $7, now() + make_interval(secs => $8)
      FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::smallint[]) AS u(evpid, msgid, type, json, blob, enc)`,
    [...cols, this.node, this.leaseSeconds], 'env_insert');
  }

  messageDelete(msgid: string): void {
    this.write(`DELETE FROM ${T.env} WHERE msgid = $1`, [msgid], 'env_delete_msg');
    this.write(`DELETE FROM ${T.chunk} WHERE msgid = $1`, [msgid], 'chunk_delete');
    this.write(`DELETE FROM ${T.msg} WHERE msgid = $1`, [msgid], 'msg_delete');
  }

  /** An envelope this node may handle: leased by it, or by nobody alive. */
  envelopeLoad(evpid: string): Envelope | null {
    if (!this.ready) this.setup();
    const r = this.db.query<EnvelopeRow>(`SELECT evpid, json, blob, enc FROM ${T.env} WHERE evpid = $1 AND (lease_node = $2 OR lease_until < now())`, [evpid, this.node], 'env_load');
    const row = r.rows[0];
    return row === undefined ? null : this.envelopeParse(row);
  }

  envelopeAdd(envelope: Envelope): void {
    const m = this.db.query(`SELECT 1 FROM ${T.msg} WHERE msgid = $1 AND state = 'committed'`, [envelope.msgid], 'msg_committed');
    if (m.rowCount === 0) throw new ActorError('ERR_QUEUE_STATE', 'internal', `message ${envelope.msgid} is not committed`);
    this.envelopesInsert([envelope]);
  }

  envelopeUpdate(envelope: Envelope): void {
    const row = this.envelopeRow(envelope);
    const text = typeof row.value === 'string' ? row.value : null;
    const blob = typeof row.value === 'string' ? null : row.value;
    const r = this.db.query(`UPDATE ${T.env} SET type = $1, json = $2, blob = $3, enc = $4 WHERE evpid = $5`, [envelope.type, text, blob, row.flags, envelope.id], 'env_update');
    if (r.rowCount !== 1) throw new ActorError('ERR_QUEUE_STATE', 'internal', `envelope ${envelope.id} is not stored`);
  }

  envelopeDelete(evpid: string): EnvelopeDeleted {
    if (this.db.query(`DELETE FROM ${T.env} WHERE evpid = $1`, [evpid], 'env_delete').rowCount === 0) return { deleted: false, messageDeleted: false };
    const msgid = evpid.slice(0, 8);
    // The message goes with its last envelope, whichever node deletes that one.
    const gone = this.db.query(`DELETE FROM ${T.msg} m WHERE m.msgid = $1 AND NOT EXISTS (SELECT 1 FROM ${T.env} e WHERE e.msgid = $1)`, [msgid], 'msg_delete_last');
    if (gone.rowCount === 0) return { deleted: true, messageDeleted: false };
    this.write(`DELETE FROM ${T.chunk} WHERE msgid = $1`, [msgid], 'chunk_delete');
    return { deleted: true, messageDeleted: true };
  }

  chunkCopy(from: string, to: string, seqOffset: number): { count: number; bytes: number } | null {
    const m = this.db.query<{ nchunks: number; size: string }>(`SELECT nchunks, size FROM ${T.msg} WHERE msgid = $1 AND state = 'committed'`, [from], 'msg_size').rows[0];
    if (!m) return null;
    const copied = this.db.query(`INSERT INTO ${T.chunk} (msgid, seq, data, enc) SELECT $1, seq + $2, data, enc FROM ${T.chunk} WHERE msgid = $3`, [to, seqOffset, from], 'chunk_copy').rowCount;
    if (copied !== m.nchunks) throw new ActorError('ERR_QUEUE_CORRUPT', 'internal', `message ${from}: ${copied} of ${m.nchunks} chunks copied`);
    return { count: copied, bytes: Number(m.size) };
  }

  bodyRead(msgid: string, from: number, maxBytes: number): ChunkPage | null {
    if (!this.ready) this.setup();
    const m = this.db.query<{ nchunks: number }>(`SELECT nchunks FROM ${T.msg} WHERE msgid = $1 AND state = 'committed'`, [msgid], 'msg_body').rows[0];
    if (!m) return null;
    const chunks: Uint8Array[] = [];
    let bytes = 0;
    let seq = from;
    while (seq < m.nchunks && bytes < maxBytes) {
      const rows = this.db.query<ChunkRow>(`SELECT seq, data, enc FROM ${T.chunk} WHERE msgid = $1 AND seq >= $2 ORDER BY seq LIMIT $3`, [msgid, seq, ROWS_PER_READ], 'chunk_range').rows;
      if (rows.length === 0) break;
      for (const row of rows) {
        const data = row.enc === 0 ? row.data : this.codec.decode(row.enc, row.data, `message ${msgid} chunk ${row.seq}`);
        chunks.push(data);
        bytes += data.byteLength;
        seq = row.seq + 1;
        if (bytes >= maxBytes) break;
      }
    }
    const next = from + chunks.length;
    return { chunks, next: next < m.nchunks ? next : null };
  }

  envelopesScan(after: string, limit: number): EnvelopeScan {
    const rows = this.db.query<EnvelopeRow>(`SELECT evpid, json, blob, enc FROM ${T.env} WHERE evpid > $1 ORDER BY evpid LIMIT $2`, [after, limit], 'env_scan').rows;
    return this.parseRows(rows, rows.length === limit ? (rows[rows.length - 1]?.evpid ?? null) : null);
  }

  /** Renew every lease this node holds and its heartbeat; returns the leases renewed. */
  leaseRenew(): number {
    if (!this.ready) this.setup();
    this.heartbeat();
    return this.db.query(`UPDATE ${T.env} SET lease_until = now() + make_interval(secs => $2) WHERE lease_node = $1`, [this.node, this.leaseSeconds], 'lease_renew').rowCount;
  }

  /**
   * Take up to `limit` envelopes whose lease ran out (a dead node's, or never renewed), skipping
   * rows another node is taking at this moment; returns them, now leased to this node.
   */
  leaseTake(limit: number): EnvelopeScan {
    const rows = this.batch(() => this.db.query<EnvelopeRow>(`WITH free AS (
        SELECT evpid FROM ${T.env} WHERE lease_until < now() ORDER BY evpid LIMIT $2 FOR UPDATE SKIP LOCKED)
      UPDATE ${T.env} e SET lease_node = $1, lease_until = now() + make_interval(secs => $3)
      FROM free WHERE e.evpid = free.evpid RETURNING e.evpid, e.json, e.blob, e.enc`, [this.node, limit, this.leaseSeconds], 'lease_take').rows);
    rows.sort((a, b) => (a.evpid < b.evpid ? -1 : 1));
    return this.parseRows(rows, null);
  }

  /** Envelopes with the node holding each lease (smtpctl show queue on a cluster). */
  leases(): { evpid: string; node: string | null; until: string }[] {
    return this.db.query<{ evpid: string; node: string | null; until: Date }>(`SELECT evpid, lease_node AS node, lease_until AS until FROM ${T.env} ORDER BY evpid`)
      .rows.map((r) => ({ evpid: r.evpid, node: r.node, until: new Date(r.until).toISOString() }));
  }

  private heartbeat(): void {
    this.db.query(`INSERT INTO ${T.node} (id, hostname) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET heartbeat = now()`, [this.node, hostname()], 'heartbeat');
  }

  private parseRows(rows: EnvelopeRow[], last: string | null): EnvelopeScan {
    const envelopes: Envelope[] = [];
    const corrupt: string[] = [];
    for (const row of rows) {
      try {
        envelopes.push(this.envelopeParse(row));
      } catch {
        corrupt.push(row.evpid);
      }
    }
    return { envelopes, corrupt, last };
  }

  private envelopeRow(e: Envelope): { value: string | Uint8Array; flags: number } {
    return envelopeStoredForm(this.codec, e);
  }

  private envelopeParse(row: EnvelopeRow): Envelope {
    return envelopeFromStored(this.codec, row.evpid, row.json ?? row.blob, row.enc);
  }

  close(): void {
    this.db.close();
  }
}
