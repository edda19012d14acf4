// Reading the queue with the daemon stopped (smtpctl show queue: runstate "offline"): the spool's
// database opened read-only, never migrated or written, envelopes decoded by their row flags
// (codec.ts) and validated as on every read. A row that cannot be read (encrypted without the
// key, damaged) is reported to the caller and skipped. Nothing here runs inside the daemon.
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { ActorError, type Envelope } from '@tsmtpd/proto';
import { parseStoredEnvelope } from './backend.js';
import { QueueCodec, type QueueCodecOptions } from './codec.js';
import { APPLICATION_ID, queueDbPath } from './schema.js';

export interface OfflineRowError {
  evpid: string;
  message: string;
}

/**
 * Every committed envelope of the spool at `spool`, in evpid order, through `onEnvelope`; rows
 * that cannot be read through `onError`. Returns false when the spool has no queue database.
 * Throws ActorError naming the file when it is not a tsmtpd queue.
 */
export function readOfflineQueue(spool: string, codecOptions: QueueCodecOptions, onEnvelope: (e: Envelope) => void, onError: (e: OfflineRowError) => void): boolean {
  const file = queueDbPath(spool);
  if (!existsSync(file)) return false;
  const db = new Database(file, { readonly: true, fileMustExist: true, timeout: 2000 });
  try {
    const appId = db.pragma('application_id', { simple: true }) as number;
    if (appId !== APPLICATION_ID && appId !== 0) throw new ActorError('ERR_QUEUE_FOREIGN', 'internal', `${file}: not a tsmtpd queue`);
    const codec = new QueueCodec(codecOptions);
    const rows = db.prepare(`SELECT e.evpid AS evpid, e.json AS json, e.enc AS enc FROM envelope e
      JOIN message m ON m.msgid = e.msgid AND m.state = 'committed' ORDER BY e.evpid`);
    for (const row of rows.iterate() as Iterable<{ evpid: string; json: string | Uint8Array; enc: number }>) {
      try {
        const json = typeof row.json === 'string' ? row.json : Buffer.from(codec.decode(row.enc, row.json, `envelope ${row.evpid}`)).toString('utf8');
        onEnvelope(parseStoredEnvelope(row.evpid, json));
      } catch (e) {
        onError({ evpid: String(row.evpid), message: e instanceof Error ? e.message : String(e) });
      }
    }
    return true;
  } finally {
    db.close();
  }
}
