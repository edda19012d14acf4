// queue: the single SQLite writer. Served to smtp (message intake), scheduler (dispatch),
// mda/mta (bodies and results) and control. smtp holds a stock of msgids the queue reserved
// for it (msgidsReserve), so MAIL FROM costs no round trip; the queue opens a message on the
// first call naming one of them.
import type { Envelope, DeliveryResult, EnvelopeType } from '../envelope.js';
import type { Result } from '../result.js';
import type { ReloadReport } from './reload.js';

export interface MessageCommitted {
  msgid: string;
  /** Body size in bytes as stored. */
  size: number;
}

/** One body chunk; `data` is transferred, not copied. */
export interface BodyChunk {
  data: ArrayBuffer;
  /** True on the last chunk of the body. */
  last: boolean;
}

export interface DispatchItem {
  evpid: string;
  type: EnvelopeType;
}

/** Most msgids one msgidsReserve hands out. */
export const MSGID_RESERVE_MAX = 256;
/**
 * Seconds a reserved, unused msgid stays reserved; then the queue's idle sweep forgets it (an
 * smtp worker that died leaves its stock behind). smtp uses a reserved id within half of it.
 */
export const MSGID_RESERVE_TTL = 3600;

export interface QueueMailbox {
  /**
   * Reserve up to `n` fresh msgids (unique against open messages, other reservations and the
   * store) for later MAIL FROMs. The first bodyAppend, messageCommit or onMessageRollback naming
   * one opens, or frees, it; an id never named is forgotten after MSGID_RESERVE_TTL.
   */
  msgidsReserve(n: number): Promise<Result<string[]>>;
  /**
   * Append a chunk of the body (DATA). Chunks are written as they arrive so a large
   * message never sits whole in memory; they become visible only with the commit.
   */
  bodyAppend(msgid: string, chunk: ArrayBuffer): Promise<Result<void>>;
  /**
   * Make body and envelopes durable in one commit (fsync), hand the envelopes to the
   * scheduler, and only then answer: the caller may acknowledge with 250. `envelopes` are the
   * transaction's accepted recipients, all of them: one that does not belong to the message
   * (or a duplicate) fails the commit, never silently drops a recipient. `tail`, the last
   * bytes of the body (transferred), is stored in that same transaction: a small message
   * costs one call and one transaction.
   */
  messageCommit(msgid: string, envelopes: Envelope[], tail?: ArrayBuffer | null): Promise<Result<MessageCommitted>>;
  /** Drop an open message (RSET, disconnect, error). */
  onMessageRollback(msgid: string): void;

  /** Scheduler: these envelopes are due; load them and hand them to mda/mta. */
  onEnvelopesDispatch(items: DispatchItem[]): void;
  /** Scheduler: these envelopes outlived their ttl; bounce them (5.4.7) and delete them. */
  onEnvelopesExpire(evpids: string[]): void;
  /** mda/mta: read the body of a committed message, from chunk index `from` on. */
  bodyRead(msgid: string, from: number): Promise<Result<{ chunks: ArrayBuffer[]; next: number | null }>>;
  /** mda/mta: outcomes of delivery attempts. */
  onDeliveryResults(results: DeliveryResult[]): void;
  /** mta: a relay drained below its low-water mark; passed on to the scheduler. */
  onHoldRelease(holdq: string, count: number): void;

  /** Control: the stored envelopes among these evpids (absent ones are left out), in order. */
  ctlEnvelopes(evpids: string[]): Promise<Envelope[]>;
  /**
   * Control (smtpctl remove): delete these envelopes and tell the scheduler. One in flight is
   * removed when its attempt returns (unless it was delivered). Returns how many were removed
   * or marked for removal.
   */
  ctlRemove(evpids: string[]): Promise<number>;
  /** A reloaded configuration (ReloadOrder): the notifications' server name and delay warnings. */
  reload(order: unknown): Promise<ReloadReport>;
}
