// The queue backend: durable storage of messages, envelopes and body chunks. The queue actor
// (queue.ts) is its only user and calls it synchronously; GroupCommit wraps the writes of one
// event-loop turn in one `batch`. Backends: SqliteQueueBackend (the real one), RamQueueBackend.
import { ActorError, EnvelopeSchema, type Envelope } from '@tsmtpd/proto';

/** A page of a committed message's body. */
export interface ChunkPage {
  chunks: Uint8Array[];
  /** Index of the next chunk to read, or null when the body is complete. */
  next: number | null;
}

/** A page of the start-up scan over committed envelopes. */
export interface EnvelopeScan {
  envelopes: Envelope[];
  /** Evpids whose stored form failed validation (kept on disk, not scheduled). */
  corrupt: string[];
  /** Cursor for the next page, or null after the last one. */
  last: string | null;
}

export interface EnvelopeDeleted {
  /** False when no such envelope was stored. */
  deleted: boolean;
  /** True when it was the message's last envelope: the message and its body went too. */
  messageDeleted: boolean;
}

export interface QueueBackend {
  readonly name: string;
  /**
   * Run `fn` as one transaction: all its writes share one commit. `durable` (default true)
   * makes the commit reach the disk (fsync) before returning; a non-durable commit survives a
   * process crash, and the next durable commit makes it durable too (the WAL is one file).
   */
  batch<T>(fn: () => T, durable?: boolean): T;
  /** True while a batch's transaction is open (false if the database rolled it back itself). */
  inTransaction(): boolean;
  /** Inside a batch: run `fn` so that if it throws, only its own writes are undone. */
  atomic<T>(fn: () => T): T;
  /** Drop every message not committed, with its chunks and envelopes; returns messages dropped. */
  purgeIncoming(): number;
  /** Committed messages and envelopes stored (a full count: start-up only). */
  counts(): { messages: number; envelopes: number };
  messageExists(msgid: string): boolean;
  /** Store chunk `seq` of an uncommitted message; the first chunk creates the message (incoming). */
  chunkAppend(msgid: string, seq: number, ctime: number, data: Uint8Array): void;
  /** Store the envelopes and make the message committed; throws if the chunks are not all there. */
  messageCommit(msgid: string, ctime: number, size: number, nchunks: number, envelopes: Envelope[]): void;
  /** Delete a message with its envelopes and chunks (rollback, cleanup). */
  messageDelete(msgid: string): void;
  /** A committed envelope, null when absent; throws ERR_QUEUE_CORRUPT when its row is invalid. */
  envelopeLoad(evpid: string): Envelope | null;
  /** Add an envelope to a committed message (a bounce report under its original); throws if the message is not committed. */
  envelopeAdd(envelope: Envelope): void;
  /** Replace a stored envelope (after a temporary failure); throws if absent. */
  envelopeUpdate(envelope: Envelope): void;
  /** Delete an envelope; its message and body go with the last one. */
  envelopeDelete(evpid: string): EnvelopeDeleted;
  /**
   * Inside a batch: copy every chunk of committed message `from` into uncommitted message `to`
   * (which must already have its chunk 0), numbered from `seqOffset` on. A bounce returning the
   * full original this way costs no body bytes in JS. Returns the chunks copied and their size
   * in bytes as the original was stored (its message size); null when `from` is not committed.
   */
  chunkCopy(from: string, to: string, seqOffset: number): { count: number; bytes: number } | null;
  /** Chunks of a committed message from index `from`, up to about `maxBytes`; null if no such message. */
  bodyRead(msgid: string, from: number, maxBytes: number): ChunkPage | null;
  /**
   * A committed body still held in memory (small ones, just committed), the caller's to move
   * to another thread (never shared with the backend's own reads); else null.
   */
  bodyKept?(msgid: string): Uint8Array[] | null;
  /** Committed envelopes with evpid > `after`, in evpid order, at most `limit` rows. */
  envelopesScan(after: string, limit: number): EnvelopeScan;
  close(): void;
}

/** Every envelope read back from storage passes the schema (STYLE: zod parses rows from disk). */
export function parseStoredEnvelope(evpid: string, json: string): Envelope {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new ActorError('ERR_QUEUE_CORRUPT', 'internal', `envelope ${evpid}: not JSON`);
  }
  const r = EnvelopeSchema.safeParse(value);
  if (!r.success || r.data.id !== evpid) {
    throw new ActorError('ERR_QUEUE_CORRUPT', 'internal', `envelope ${evpid}: invalid stored envelope`);
  }
  return r.data;
}

