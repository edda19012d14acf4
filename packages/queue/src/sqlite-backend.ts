// SqliteQueueBackend: the queue's storage in one SQLite database (schema.ts) through prepared
// statements. Chunks are rows written as the body arrives; a message is visible (committed) only
// after the state flip that writes its envelopes. Envelopes are JSON, validated on every read.
import type Database from 'better-sqlite3';
import { ActorError, type Envelope } from '@tsmtpd/proto';
import { openQueueDb } from './schema.js';
import { parseStoredEnvelope, type ChunkPage, type EnvelopeDeleted, type EnvelopeScan, type QueueBackend } from './backend.js';

type Stmt = Database.Statement<unknown[], unknown>;

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
    chunkInsert: p('INSERT INTO chunk (msgid, seq, data) VALUES (?, ?, ?)'),
    chunkCount: p('SELECT count(*) FROM chunk WHERE msgid = ?').pluck(),
    chunkRange: p('SELECT data FROM chunk WHERE msgid = ? AND seq >= ? ORDER BY seq').pluck(),
    chunkDelete: p('DELETE FROM chunk WHERE msgid = ?'),
    chunkCopy: p('INSERT INTO chunk (msgid, seq, data) SELECT ?, seq + ?, data FROM chunk WHERE msgid = ? ORDER BY seq'),
    msgSize: p(`SELECT nchunks, size FROM message WHERE msgid = ? AND state = 'committed'`),
    envInsert: p('INSERT INTO envelope (evpid, msgid, type, json) VALUES (?, ?, ?, ?)'),
    envSelect: p('SELECT json FROM envelope WHERE evpid = ?').pluck(),
    envUpdate: p('UPDATE envelope SET type = ?, json = ? WHERE evpid = ?'),
    envDelete: p('DELETE FROM envelope WHERE evpid = ?'),
    envAny: p('SELECT 1 FROM envelope WHERE msgid = ? LIMIT 1').pluck(),
    envDeleteMsg: p('DELETE FROM envelope WHERE msgid = ?'),
    envScan: p('SELECT evpid, json FROM envelope WHERE evpid > ? ORDER BY evpid LIMIT ?'),
    countMsg: p(`SELECT count(*) FROM message WHERE state = 'committed'`).pluck(),
    countEnv: p('SELECT count(*) FROM envelope').pluck(),
  };
}

export class SqliteQueueBackend implements QueueBackend {
  readonly name = 'sqlite';
  readonly db: Database.Database;
  private readonly s: ReturnType<typeof prepareAll>;
  private readonly txn: Database.Transaction<(fn: () => unknown) => unknown>;

  /** Open the database in `spool` (created 0700 if missing); throws if it cannot be made durable. */
  constructor(spool: string) {
    this.db = openQueueDb(spool);
    this.s = prepareAll(this.db);
    // One wrapper serves both levels: at top level it is BEGIN IMMEDIATE ... COMMIT,
    // nested inside a batch it is a SAVEPOINT (better-sqlite3 nests transactions that way).
    this.txn = this.db.transaction((fn: () => unknown) => fn());
  }

  batch<T>(fn: () => T, durable = true): T {
    if (durable) return this.txn.immediate(fn) as T;
    // FULL syncs the WAL at every commit; NORMAL leaves it to the next FULL commit or
    // checkpoint. The WAL is appended in order, so one FULL fsync covers earlier frames.
    // FULL is restored at once: outside a lazy batch the database is always FULL.
    this.db.pragma('synchronous = NORMAL');
    try {
      return this.txn.immediate(fn) as T;
    } finally {
      this.db.pragma('synchronous = FULL');
    }
  }

  atomic<T>(fn: () => T): T {
    return this.txn(fn) as T;
  }

  purgeIncoming(): number {
    return this.batch(() => {
      const committed = `SELECT msgid FROM message WHERE state = 'committed'`;
      // A committed message always has an envelope; one without is a leftover: drop it too.
      this.db.prepare(`DELETE FROM message WHERE state = 'committed' AND msgid NOT IN (SELECT msgid FROM envelope)`).run();
      const n = this.db.prepare(`DELETE FROM message WHERE state = 'incoming'`).run().changes;
      this.db.prepare(`DELETE FROM chunk WHERE msgid NOT IN (${committed})`).run();
      this.db.prepare(`DELETE FROM envelope WHERE msgid NOT IN (${committed})`).run();
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
    this.s.chunkInsert.run(msgid, seq, data);
  }

  messageCommit(msgid: string, ctime: number, size: number, nchunks: number, envelopes: Envelope[]): void {
    const stored = this.s.chunkCount.get(msgid) as number;
    if (stored !== nchunks) throw new ActorError('ERR_QUEUE_IO', 'temp', `message ${msgid}: ${stored} of ${nchunks} chunks stored`);
    if (this.s.msgCommit.run(msgid, ctime, size, nchunks).changes !== 1) {
      throw new ActorError('ERR_QUEUE_STATE', 'internal', `message ${msgid} is already committed`);
    }
    for (const e of envelopes) this.s.envInsert.run(e.id, msgid, e.type, JSON.stringify(e));
  }

  messageDelete(msgid: string): void {
    this.s.envDeleteMsg.run(msgid);
    this.s.chunkDelete.run(msgid);
    this.s.msgDelete.run(msgid);
  }

  envelopeLoad(evpid: string): Envelope | null {
    const json = this.s.envSelect.get(evpid) as string | undefined;
    return json === undefined ? null : parseStoredEnvelope(evpid, json);
  }

  envelopeUpdate(envelope: Envelope): void {
    const r = this.s.envUpdate.run(envelope.type, JSON.stringify(envelope), envelope.id);
    if (r.changes !== 1) throw new ActorError('ERR_QUEUE_STATE', 'internal', `envelope ${envelope.id} is not stored`);
  }

  envelopeDelete(evpid: string): EnvelopeDeleted {
    if (this.s.envDelete.run(evpid).changes === 0) return { deleted: false, messageDeleted: false };
    const msgid = evpid.slice(0, 8);
    if (this.s.envAny.get(msgid) !== undefined) return { deleted: true, messageDeleted: false };
    this.s.chunkDelete.run(msgid);
    this.s.msgDelete.run(msgid);
    return { deleted: true, messageDeleted: true };
  }

  chunkCopy(from: string, to: string, seqOffset: number): { count: number; bytes: number } | null {
    const m = this.s.msgSize.get(from) as { nchunks: number; size: number } | undefined;
    if (!m) return null;
    const copied = this.s.chunkCopy.run(to, seqOffset, from).changes;
    if (copied !== m.nchunks) throw new ActorError('ERR_QUEUE_CORRUPT', 'internal', `message ${from}: ${copied} of ${m.nchunks} chunks copied`);
    return { count: copied, bytes: m.size };
  }

  bodyRead(msgid: string, from: number, maxBytes: number): ChunkPage | null {
    const nchunks = this.s.msgBody.get(msgid) as number | undefined;
    if (nchunks === undefined) return null;
    const chunks: Uint8Array[] = [];
    let bytes = 0;
    if (from < nchunks) {
      for (const data of this.s.chunkRange.iterate(msgid, from) as IterableIterator<Uint8Array>) {
        chunks.push(data);
        bytes += data.byteLength;
        if (bytes >= maxBytes) break;
      }
    }
    const next = from + chunks.length;
    return { chunks, next: next < nchunks ? next : null };
  }

  envelopesScan(after: string, limit: number): EnvelopeScan {
    const rows = this.s.envScan.all(after, limit) as { evpid: string; json: string }[];
    const envelopes: Envelope[] = [];
    const corrupt: string[] = [];
    for (const row of rows) {
      try {
        envelopes.push(parseStoredEnvelope(row.evpid, row.json));
      } catch {
        corrupt.push(row.evpid);
      }
    }
    const last = rows.length === limit ? (rows[rows.length - 1]?.evpid ?? null) : null;
    return { envelopes, corrupt, last };
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
