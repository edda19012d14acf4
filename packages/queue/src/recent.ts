// What the SQLite backend just committed, kept in memory for the first reads that follow: the
// dispatch loads each envelope (row, JSON, schema) and the delivery agent reads the body back,
// a second or less after the commit wrote them. Filled only once a transaction has committed,
// emptied by every write to the same rows, bounded in entries and bytes; a miss reads the disk.
import type { Envelope } from '@tsmtpd/proto';

/**
 * Bodies larger than this are not kept (read from disk). smtp's chunk size: a message of one
 * chunk (100 KiB ones included) travels to its delivery agent without a read back.
 */
export const RECENT_BODY_MAX = 256 * 1024;
const MAX_MESSAGES = 4096;
const MAX_BYTES = 8 * 1024 * 1024;

interface Entry {
  /** Envelopes not yet loaded since the commit; each is handed out once. */
  envelopes: Map<string, Envelope>;
  /** The body's chunks as given to chunkAppend, or null when too big or incomplete. */
  chunks: Uint8Array[] | null;
  bytes: number;
}

export class RecentCommits {
  private readonly committed = new Map<string, Entry>();
  /** Chunks of messages still incoming (small ones only), by msgid. */
  private readonly incoming = new Map<string, { chunks: Uint8Array[]; bytes: number } | null>();
  /** Commits of the open transaction: they become visible when it commits. */
  private pending: [string, Entry][] = [];
  private bytes = 0;
  /** Bytes held for incoming messages: bounded as the committed ones are. */
  private incomingBytes = 0;

  /** A chunk written for an incoming message (seq in order from 0). */
  chunk(msgid: string, seq: number, data: Uint8Array): void {
    let body = this.incoming.get(msgid);
    if (seq === 0) {
      this.dropIncoming(msgid);
      body = { chunks: [], bytes: 0 };
      if (this.incoming.size >= MAX_MESSAGES) this.dropIncoming(this.incoming.keys().next().value as string);
    } else if (!body || body.chunks.length !== seq) body = null;
    const fits = body && body.bytes + data.byteLength <= RECENT_BODY_MAX && this.incomingBytes + data.byteLength <= MAX_BYTES;
    if (body && fits) {
      body.chunks.push(data);
      body.bytes += data.byteLength;
      this.incomingBytes += data.byteLength;
      this.incoming.set(msgid, body);
    } else {
      this.dropIncoming(msgid);
      this.incoming.set(msgid, null);
    }
  }

  private dropIncoming(msgid: string): void {
    const body = this.incoming.get(msgid);
    if (body) this.incomingBytes -= body.bytes;
    this.incoming.delete(msgid);
  }

  /** The message is committed in the open transaction (or now, outside one). */
  commit(msgid: string, nchunks: number, envelopes: Envelope[], inTransaction: boolean): void {
    const body = this.incoming.get(msgid);
    this.dropIncoming(msgid);
    const chunks = body && body.chunks.length === nchunks ? body.chunks : null;
    const entry: Entry = { envelopes: new Map(envelopes.map((e) => [e.id, e])), chunks, bytes: chunks ? body!.bytes : 0 };
    if (inTransaction) this.pending.push([msgid, entry]);
    else this.add(msgid, entry);
  }

  /** Where the open transaction stands, for a savepoint (atomic) that may roll back. */
  mark(): number {
    return this.pending.length;
  }

  /** A savepoint rolled back: forget what was committed inside it. */
  rollbackTo(mark: number): void {
    for (const [msgid] of this.pending.splice(mark)) this.dropIncoming(msgid);
  }

  /** The open transaction committed: what it committed may be served. */
  transactionCommitted(): void {
    const p = this.pending;
    this.pending = [];
    for (const [msgid, entry] of p) this.add(msgid, entry);
  }

  /** The open transaction rolled back: forget its commits. */
  transactionRolledBack(): void {
    for (const [msgid] of this.pending) this.dropIncoming(msgid);
    this.pending = [];
  }

  /** The committed envelope, once; undefined when not kept. */
  takeEnvelope(evpid: string): Envelope | undefined {
    const e = this.committed.get(evpid.slice(0, 8));
    const env = e?.envelopes.get(evpid);
    if (env) e!.envelopes.delete(evpid);
    return env;
  }

  /** The committed body's chunks (not copies: the caller must not hand them on), or undefined. */
  body(msgid: string): Uint8Array[] | undefined {
    return this.committed.get(msgid)?.chunks ?? undefined;
  }

  /**
   * The committed body's chunks for a delivery agent to own. Once every envelope of the message
   * has been handed out no later dispatch is expected to find the body here, so the chunks
   * themselves leave (a later read goes to disk); before that, copies.
   */
  takeBody(msgid: string): Uint8Array[] | undefined {
    const e = this.committed.get(msgid);
    if (!e?.chunks) return undefined;
    if (e.envelopes.size > 0) return e.chunks.map((c) => c.slice());
    const chunks = e.chunks;
    e.chunks = null;
    this.bytes -= e.bytes;
    e.bytes = 0;
    return chunks;
  }

  /** The envelope's row changed or went: its kept copy is stale. */
  forgetEnvelope(evpid: string): void {
    this.committed.get(evpid.slice(0, 8))?.envelopes.delete(evpid);
  }

  /** The message went (rollback, last envelope delivered), or its chunks changed. */
  forgetMessage(msgid: string): void {
    this.dropIncoming(msgid);
    const e = this.committed.get(msgid);
    if (!e) return;
    this.bytes -= e.bytes;
    this.committed.delete(msgid);
  }

  private add(msgid: string, entry: Entry): void {
    this.forgetMessage(msgid);
    this.committed.set(msgid, entry);
    this.bytes += entry.bytes;
    // Oldest first out: a message not delivered soon is read from disk like any other.
    for (let guard = 0; (this.committed.size > MAX_MESSAGES || this.bytes > MAX_BYTES) && guard < MAX_MESSAGES; guard++) {
      const oldest = this.committed.keys().next().value as string | undefined;
      if (oldest === undefined) break;
      this.forgetMessage(oldest);
    }
  }
}
