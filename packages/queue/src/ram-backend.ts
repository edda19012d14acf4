// RamQueueBackend: the queue's storage in memory, for benchmarks and the contract suite. Nothing
// survives the process. Envelopes are kept as JSON and parsed on read, as the SQLite backend does;
// every operation checks before it mutates, so a failed one changes nothing (atomic for free).
import { ActorError, type Envelope } from '@tsmtpd/proto';
import { parseStoredEnvelope, type ChunkPage, type EnvelopeDeleted, type EnvelopeScan, type QueueBackend } from './backend.js';

interface RamMessage {
  committed: boolean;
  chunks: Uint8Array[];
  evpids: Set<string>;
}

export class RamQueueBackend implements QueueBackend {
  readonly name = 'ram';
  private readonly messages = new Map<string, RamMessage>();
  private readonly envelopes = new Map<string, string>();

  batch<T>(fn: () => T, _durable?: boolean): T {
    return fn();
  }

  inTransaction(): boolean {
    return true;
  }

  atomic<T>(fn: () => T): T {
    return fn();
  }

  purgeIncoming(): number {
    let n = 0;
    for (const [msgid, m] of this.messages) {
      if (m.committed) continue;
      this.messageDelete(msgid);
      n++;
    }
    return n;
  }

  counts(): { messages: number; envelopes: number } {
    let messages = 0;
    for (const m of this.messages.values()) if (m.committed) messages++;
    return { messages, envelopes: this.envelopes.size };
  }

  messageExists(msgid: string): boolean {
    return this.messages.has(msgid);
  }

  chunkAppend(msgid: string, seq: number, _ctime: number, data: Uint8Array): void {
    let m = this.messages.get(msgid);
    if (!m && seq === 0) this.messages.set(msgid, (m = { committed: false, chunks: [], evpids: new Set() }));
    if (!m || m.committed || m.chunks.length !== seq) throw new ActorError('ERR_QUEUE_STATE', 'internal', `chunk ${seq} of ${msgid} out of order`);
    m.chunks.push(data);
  }

  chunkCopy(from: string, to: string, seqOffset: number): { count: number; bytes: number } | null {
    const src = this.messages.get(from);
    const dst = this.messages.get(to);
    if (!src || !src.committed) return null;
    if (!dst || dst.committed || dst.chunks.length !== seqOffset) throw new ActorError('ERR_QUEUE_STATE', 'internal', `chunk copy into ${to} out of order`);
    let bytes = 0;
    for (const c of src.chunks) {
      dst.chunks.push(c);
      bytes += c.byteLength;
    }
    return { count: src.chunks.length, bytes };
  }

  messageCommit(msgid: string, _ctime: number, _size: number, nchunks: number, envelopes: Envelope[]): void {
    const m = this.messages.get(msgid) ?? { committed: false, chunks: [], evpids: new Set<string>() };
    if (m.committed) throw new ActorError('ERR_QUEUE_STATE', 'internal', `message ${msgid} is already committed`);
    if (m.chunks.length !== nchunks) throw new ActorError('ERR_QUEUE_IO', 'temp', `message ${msgid}: ${m.chunks.length} of ${nchunks} chunks stored`);
    const ids = new Set(envelopes.map((e) => e.id));
    if (ids.size !== envelopes.length || envelopes.some((e) => this.envelopes.has(e.id))) {
      throw new ActorError('ERR_QUEUE_STATE', 'internal', `message ${msgid}: duplicate envelope`);
    }
    for (const e of envelopes) this.envelopes.set(e.id, JSON.stringify(e));
    m.evpids = ids;
    m.committed = true;
    this.messages.set(msgid, m);
  }

  messageDelete(msgid: string): void {
    const m = this.messages.get(msgid);
    if (!m) return;
    for (const evpid of m.evpids) this.envelopes.delete(evpid);
    this.messages.delete(msgid);
  }

  envelopeLoad(evpid: string): Envelope | null {
    const json = this.envelopes.get(evpid);
    return json === undefined ? null : parseStoredEnvelope(evpid, json);
  }

  envelopeAdd(envelope: Envelope): void {
    const m = this.messages.get(envelope.msgid);
    if (!m || !m.committed) throw new ActorError('ERR_QUEUE_STATE', 'internal', `message ${envelope.msgid} is not committed`);
    if (this.envelopes.has(envelope.id)) throw new ActorError('ERR_QUEUE_STATE', 'internal', `envelope ${envelope.id} exists`);
    this.envelopes.set(envelope.id, JSON.stringify(envelope));
    m.evpids.add(envelope.id);
  }

  envelopeUpdate(envelope: Envelope): void {
    if (!this.envelopes.has(envelope.id)) throw new ActorError('ERR_QUEUE_STATE', 'internal', `envelope ${envelope.id} is not stored`);
    this.envelopes.set(envelope.id, JSON.stringify(envelope));
  }

  envelopeDelete(evpid: string): EnvelopeDeleted {
    if (!this.envelopes.delete(evpid)) return { deleted: false, messageDeleted: false };
    const msgid = evpid.slice(0, 8);
    const m = this.messages.get(msgid);
    m?.evpids.delete(evpid);
    if (m && m.evpids.size > 0) return { deleted: true, messageDeleted: false };
    this.messages.delete(msgid);
    return { deleted: true, messageDeleted: true };
  }

  bodyRead(msgid: string, from: number, maxBytes: number): ChunkPage | null {
    const m = this.messages.get(msgid);
    if (!m || !m.committed) return null;
    const chunks: Uint8Array[] = [];
    let bytes = 0;
    for (let i = from; i < m.chunks.length && bytes < maxBytes; i++) {
      const c = m.chunks[i] as Uint8Array;
      chunks.push(c);
      bytes += c.byteLength;
    }
    const next = from + chunks.length;
    return { chunks, next: next < m.chunks.length ? next : null };
  }

  envelopesScan(after: string, limit: number): EnvelopeScan {
    const ids = [...this.envelopes.keys()].filter((id) => id > after).sort().slice(0, limit);
    const envelopes: Envelope[] = [];
    const corrupt: string[] = [];
    for (const id of ids) {
      try {
        envelopes.push(parseStoredEnvelope(id, this.envelopes.get(id) ?? ''));
      } catch {
        corrupt.push(id);
      }
    }
    return { envelopes, corrupt, last: ids.length === limit ? (ids[ids.length - 1] ?? null) : null };
  }

  close(): void {}

  /** Test hook: store raw text as an envelope's stored form (to exercise validation on read). */
  corruptEnvelope(evpid: string, text: string): void {
    this.envelopes.set(evpid, text);
  }
}
