// SqliteQueueBackend: the queue's storage in one SQLite database (schema.ts) through prepared
// statements. Chunks are rows written as the body arrives; a message is visible (committed) only
// after the state flip that writes its envelopes. Envelopes are JSON, validated on every read.
// Every chunk and envelope row passes the codec (codec.ts: `queue compression`/`encryption`),
// its `enc` column saying how it was written; with neither option rows are stored as given.
// What a transaction committed is served from memory to the reads that follow (recent.ts).
import type Database from 'better-sqlite3';
import { ActorError, type Envelope } from '@tsmtpd/proto';
import { checkSpoolKey, openQueueDb, queueDbPath } from './schema.js';
import { ENC_AES, QueueCodec, type QueueCodecOptions } from './codec.js';
import { RecentCommits } from './recent.js';
import { envelopeFromStored, envelopeStoredForm } from './envelope-row.js';
import { type ChunkPage, type EnvelopeDeleted, type EnvelopeScan, type QueueBackend } from './backend.js';

type Stmt = Database.Statement<unknown[], unknown>;
interface ChunkRow { seq: number; data: Uint8Array; enc: number }
interface EnvelopeRow { evpid: string; json: string | Uint8Array; enc: number }

function prepareAll(db: Database.Database) {
  const p = (sql: string): Stmt => db.prepare(sql);
  return {
    msgExists: p('SELECT 1 FROM message WHERE msgid = ?').pluck(),
    msgIncoming: p(`INSERT INTO message (msgid, state, ctime) VALUES (?, 'incoming', ?) ON CONFLICT (msgid) DO NOTHING`),
    msgCommit: p(`INSERT INTO message (msgid, state, ctime, size, nchunks) VALUES (?, 'committed', ?, ?, ?)
      ON CONFLICT (msgid) DO UPDATE SET state = 'committed', size = excluded.size, nchunks = excluded.nchunks
      WHERE message.state = 'incoming'`),
    msgDelete: p('DELETE FROM message WHERE msgid = ?'),
    msgBody: p(`SELECT nchunks FROM message WHERE msgid = ? AND state = 'committed'`).pluck(),
    chunkInsert: p('INSERT INTO chunk (msgid, seq, data, enc) VALUES (?, ?, ?, ?)'),
    chunkCount: p('SELECT count(*) FROM chunk WHERE msgid = ?').pluck(),
    chunkRange: p('SELECT seq, data, enc FROM chunk WHERE msgid = ? AND seq >= ? ORDER BY seq'),
    chunkDelete: p('DELETE FROM chunk WHERE msgid = ?'),
    // Each row is encoded on its own (its own IV and flags): a copied row stays decodable.
    chunkCopy: p('INSERT INTO chunk (msgid, seq, data, enc) SELECT ?, seq + ?, data, enc FROM chunk WHERE msgid = ? ORDER BY seq'),
    msgSize: p(`SELECT nchunks, size FROM message WHERE msgid = ? AND state = 'committed'`),
    envInsert: p('INSERT INTO envelope (evpid, msgid, type, json, enc) VALUES (?, ?, ?, ?, ?)'),
    envSelect: p('SELECT evpid, json, enc FROM envelope WHERE evpid = ?'),
    envUpdate: p('UPDATE envelope SET type = ?, json = ?, enc = ? WHERE evpid = ?'),
    envDelete: p('DELETE FROM envelope WHERE evpid = ?'),
    envAny: p('SELECT 1 FROM envelope WHERE msgid = ? LIMIT 1').pluck(),
    envDeleteMsg: p('DELETE FROM envelope WHERE msgid = ?'),
    envScan: p('SELECT evpid, json, enc FROM envelope WHERE evpid > ? ORDER BY evpid LIMIT ?'),
    countMsg: p(`SELECT count(*) FROM message WHERE state = 'committed'`).pluck(),
    countEnv: p('SELECT count(*) FROM envelope').pluck(),
  };
}

export class SqliteQueueBackend implements QueueBackend {
  readonly name = 'sqlite';
  readonly db: Database.Database;
  private readonly s: ReturnType<typeof prepareAll>;
  private readonly txn: Database.Transaction<(fn: () => unknown) => unknown>;
  private readonly codec: QueueCodec;
  private readonly recent = new RecentCommits();

  /**
   * Open the database in `spool` (created 0700 if missing) with the configuration's `queue`
   * options. Throws, naming the file, if it is not ours, is damaged, cannot be made durable, or
   * holds encrypted envelopes the configured key (or its absence) does not fit (schema.ts).
   */
  constructor(spool: string, options: QueueCodecOptions = {}) {
    this.codec = new QueueCodec(options);
    this.db = openQueueDb(spool);
    try {
      checkSpoolKey(this.db, queueDbPath(spool), this.codec, ENC_AES);
    } catch (e) {
      this.db.close();
      throw e;
    }
    this.s = prepareAll(this.db);
    // One wrapper serves both levels: at top level it is BEGIN IMMEDIATE ... COMMIT,
    // nested inside a batch it is a SAVEPOINT (better-sqlite3 nests transactions that way).
    this.txn = this.db.transaction((fn: () => unknown) => fn());
  }

  batch<T>(fn: () => T, durable = true): T {
    if (durable) return this.transaction(fn);
    // FULL syncs the WAL at every commit; NORMAL leaves it to the next FULL commit or
    // checkpoint. The WAL is appended in order, so one FULL fsync covers earlier frames.
    // FULL is restored at once: outside a lazy batch the database is always FULL.
    this.db.pragma('synchronous = NORMAL');
    try {
      return this.transaction(fn);
    } finally {
      this.db.pragma('synchronous = FULL');
    }
  }

  /** BEGIN IMMEDIATE ... COMMIT; what it committed is served from memory only once it has. */
  private transaction<T>(fn: () => T): T {
    const outer = !this.db.inTransaction;
    let value: T;
    try {
      value = this.txn.immediate(fn) as T;
    } catch (e) {
      if (outer) this.recent.transactionRolledBack();
      throw e;
    }
    if (outer) this.recent.transactionCommitted();
    return value;
  }

  inTransaction(): boolean {
    return this.db.inTransaction;
  }

  atomic<T>(fn: () => T): T {
    const mark = this.recent.mark();
    try {
      return this.txn(fn) as T;
    } catch (e) {
      this.recent.rollbackTo(mark);
      throw e;
    }
  }

  purgeIncoming(): number {
    return this.batch(() => {
      // Each statement walks an index (msgid keys only), never the wide envelope or chunk rows:
      // with a million queued envelopes this runs before the daemon answers its first client.
      const notCommitted = (t: string) => `NOT EXISTS (SELECT 1 FROM message m WHERE m.msgid = ${t}.msgid AND m.state = 'committed')`;
      // A committed message always has an envelope; one without is a leftover: drop it too.
      this.db.prepare(`DELETE FROM message WHERE state = 'committed' AND NOT EXISTS (SELECT 1 FROM envelope e WHERE e.msgid = message.msgid)`).run();
      const n = this.db.prepare(`DELETE FROM message WHERE state = 'incoming'`).run().changes;
      this.db.prepare(`DELETE FROM chunk WHERE msgid IN (SELECT DISTINCT c.msgid FROM chunk c WHERE ${notCommitted('c')})`).run();
      this.db.prepare(`DELETE FROM envelope WHERE msgid IN (SELECT DISTINCT e.msgid FROM envelope e WHERE ${notCommitted('e')})`).run();
      return n;
    });
  }

  counts(): { messages: number; envelopes: number } {
    return { messages: this.s.countMsg.get() as number, envelopes: this.s.countEnv.get() as number };
  }

  messageExists(msgid: string): boolean {
    return this.s.msgExists.get(msgid) !== undefined;
  }

  chunkAppend(msgid: string, seq: number, ctime: number, data: Uint8Array): void {
    if (seq === 0) this.s.msgIncoming.run(msgid, ctime);
    const row = this.codec.encode(data);
    this.s.chunkInsert.run(msgid, seq, row.data, row.flags);
    this.recent.chunk(msgid, seq, data);
  }

  messageCommit(msgid: string, ctime: number, size: number, nchunks: number, envelopes: Envelope[]): void {
    const stored = this.s.chunkCount.get(msgid) as number;
    if (stored !== nchunks) throw new ActorError('ERR_QUEUE_IO', 'temp', `message ${msgid}: ${stored} of ${nchunks} chunks stored`);
    if (this.s.msgCommit.run(msgid, ctime, size, nchunks).changes !== 1) {
      throw new ActorError('ERR_QUEUE_STATE', 'internal', `message ${msgid} is already committed`);
    }
    for (const e of envelopes) {
      const row = this.envelopeRow(e);
      this.s.envInsert.run(e.id, msgid, e.type, row.value, row.flags);
    }
    this.recent.commit(msgid, nchunks, envelopes, this.db.inTransaction);
  }

  messageDelete(msgid: string): void {
    this.recent.forgetMessage(msgid);
    this.s.envDeleteMsg.run(msgid);
    this.s.chunkDelete.run(msgid);
    this.s.msgDelete.run(msgid);
  }

  envelopeLoad(evpid: string): Envelope | null {
    // The dispatch right after the commit: the object smtp built and the queue stored.
    const kept = this.recent.takeEnvelope(evpid);
    if (kept) return kept;
    const row = this.s.envSelect.get(evpid) as EnvelopeRow | undefined;
    return row === undefined ? null : this.envelopeParse(row);
  }

  envelopeAdd(envelope: Envelope): void {
    if (this.s.msgBody.get(envelope.msgid) === undefined) throw new ActorError('ERR_QUEUE_STATE', 'internal', `message ${envelope.msgid} is not committed`);
    const row = this.envelopeRow(envelope);
    this.s.envInsert.run(envelope.id, envelope.msgid, envelope.type, row.value, row.flags);
  }

  envelopeUpdate(envelope: Envelope): void {
    this.recent.forgetEnvelope(envelope.id);
    const row = this.envelopeRow(envelope);
    const r = this.s.envUpdate.run(envelope.type, row.value, row.flags, envelope.id);
    if (r.changes !== 1) throw new ActorError('ERR_QUEUE_STATE', 'internal', `envelope ${envelope.id} is not stored`);
  }

  envelopeDelete(evpid: string): EnvelopeDeleted {
    this.recent.forgetEnvelope(evpid);
    if (this.s.envDelete.run(evpid).changes === 0) return { deleted: false, messageDeleted: false };
    const msgid = evpid.slice(0, 8);
    if (this.s.envAny.get(msgid) !== undefined) return { deleted: true, messageDeleted: false };
    this.s.chunkDelete.run(msgid);
    this.s.msgDelete.run(msgid);
    this.recent.forgetMessage(msgid);
    return { deleted: true, messageDeleted: true };
  }

  chunkCopy(from: string, to: string, seqOffset: number): { count: number; bytes: number } | null {
    const m = this.s.msgSize.get(from) as { nchunks: number; size: number } | undefined;
    if (!m) return null;
    this.recent.forgetMessage(to); // its chunks do not all pass chunkAppend
    const copied = this.s.chunkCopy.run(to, seqOffset, from).changes;
    if (copied !== m.nchunks) throw new ActorError('ERR_QUEUE_CORRUPT', 'internal', `message ${from}: ${copied} of ${m.nchunks} chunks copied`);
    return { count: copied, bytes: m.size };
  }

  bodyKept(msgid: string): Uint8Array[] | null {
    return this.recent.takeBody(msgid) ?? null;
  }

  bodyRead(msgid: string, from: number, maxBytes: number): ChunkPage | null {
    const kept = this.recent.body(msgid);
    if (kept) return pageOf(kept, from, maxBytes);
    const nchunks = this.s.msgBody.get(msgid) as number | undefined;
    if (nchunks === undefined) return null;
    const chunks: Uint8Array[] = [];
    let bytes = 0;
    if (from < nchunks) {
      for (const row of this.s.chunkRange.iterate(msgid, from) as IterableIterator<ChunkRow>) {
        const data = row.enc === 0 ? row.data : this.codec.decode(row.enc, row.data, `message ${msgid} chunk ${row.seq}`);
        chunks.push(data);
        bytes += data.byteLength;
        if (bytes >= maxBytes) break;
      }
    }
    const next = from + chunks.length;
    return { chunks, next: next < nchunks ? next : null };
  }

  envelopesScan(after: string, limit: number): EnvelopeScan {
    const rows = this.s.envScan.all(after, limit) as EnvelopeRow[];
    const envelopes: Envelope[] = [];
    const corrupt: string[] = [];
    for (const row of rows) {
      try {
        envelopes.push(this.envelopeParse(row));
      } catch {
        corrupt.push(row.evpid);
      }
    }
    const last = rows.length === limit ? (rows[rows.length - 1]?.evpid ?? null) : null;
    return { envelopes, corrupt, last };
  }

  /** An envelope's stored form: JSON text when not encoded (spools stay readable), else a BLOB. */
  private envelopeRow(e: Envelope): { value: string | Uint8Array; flags: number } {
    return envelopeStoredForm(this.codec, e);
  }

  /** The envelope of a row, decoded and validated; throws ERR_QUEUE_CORRUPT. */
  private envelopeParse(row: EnvelopeRow): Envelope {
    return envelopeFromStored(this.codec, row.evpid, row.json, row.enc);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

/** A page of kept chunks, as copies (the caller transfers them to another thread). */
function pageOf(all: Uint8Array[], from: number, maxBytes: number): ChunkPage {
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for (let i = from; i < all.length && bytes < maxBytes; i++) {
    const c = all[i] as Uint8Array;
    chunks.push(c.slice());
    bytes += c.byteLength;
  }
  const next = from + chunks.length;
  return { chunks, next: next < all.length ? next : null };
}
