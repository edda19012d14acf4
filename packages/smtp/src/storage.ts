// Room left in the spool, read with statfs(2) on its file system, so that a full disk is refused
// before a client sends a body (REFERENCE 4.4: OpenSMTPD refuses a new message below 5% free
// blocks or inodes), and the reply a queue storage failure gets after DATA: 452 4.3.1 when the
// disk is full (RFC 3463 X.3.1 "mail system full"), else 451 4.3.0. Used by transaction.ts and
// data.ts; the queue itself is never asked (it only knows that a write failed).
import { statfs } from 'node:fs/promises';
import { Replies, type Reply } from '@tsmtpd/proto';

/** The statfs(2) fields this check reads (Node's StatsFs). */
export interface FsSpace {
  bsize: number;
  blocks: number;
  bavail: number;
  files: number;
  ffree: number;
}

export interface SpoolSpaceOptions {
  /** Refuse new messages below this share of free blocks or inodes, in percent (OpenSMTPD: 5). */
  minFreePercent?: number;
  /** A reading is reused this long, ms: sessions share one statfs call. */
  ttlMs?: number;
  /** The statfs call; a test passes its own. */
  statfs?: (dir: string) => Promise<FsSpace>;
}

export interface SpaceReading {
  /** False when a new message must be refused. */
  ok: boolean;
  /** Bytes free to an unprivileged writer (Infinity when statfs failed). */
  freeBytes: number;
  /** Why not ok, for the log. */
  why: string;
}

const UNKNOWN: SpaceReading = { ok: true, freeBytes: Infinity, why: '' };

export class SpoolSpace {
  private last: { at: number; reading: SpaceReading } | null = null;
  private pending: Promise<SpaceReading> | null = null;
  private readonly minFree: number;
  private readonly ttlMs: number;
  private readonly read: (dir: string) => Promise<FsSpace>;

  constructor(private readonly dir: string, opts: SpoolSpaceOptions = {}) {
    this.minFree = (opts.minFreePercent ?? 5) / 100;
    this.ttlMs = opts.ttlMs ?? 500;
    this.read = opts.statfs ?? ((d) => statfs(d));
  }

  /** The spool's free space; `fresh` skips the shared reading (after a failed write). */
  check(fresh = false): Promise<SpaceReading> {
    const last = this.last;
    if (!fresh && last && Date.now() - last.at < this.ttlMs) return Promise.resolve(last.reading);
    this.pending ??= this.measure().finally(() => {
      this.pending = null;
    });
    return this.pending;
  }

  private async measure(): Promise<SpaceReading> {
    let s: FsSpace;
    try {
      s = await this.read(this.dir);
    } catch {
      // A spool we cannot statfs is no reason to refuse mail: the queue's writes tell.
      return UNKNOWN;
    }
    const reading = judge(s, this.minFree);
    this.last = { at: Date.now(), reading };
    return reading;
  }
}

/** The verdict on one statfs reading. Inodes count only where the file system has a fixed number. */
export function judge(s: FsSpace, minFree: number): SpaceReading {
  const freeBytes = s.bavail * s.bsize;
  if (s.blocks > 0 && s.bavail < s.blocks * minFree) {
    return { ok: false, freeBytes, why: `${s.bavail} of ${s.blocks} blocks free` };
  }
  if (s.files > 0 && s.ffree < s.files * minFree) {
    return { ok: false, freeBytes, why: `${s.ffree} of ${s.files} inodes free` };
  }
  return { ok: true, freeBytes, why: '' };
}

/** Did a queue failure come from a full disk? SQLite says SQLITE_FULL, the kernel ENOSPC. */
export function isStorageFull(code: string, message: string): boolean {
  return code === 'ERR_QUEUE_FULL' || /SQLITE_FULL|database or disk is full|ENOSPC|no space left/i.test(`${code} ${message}`);
}

/**
 * The reply for a message the queue could not store: 452 4.3.1 when the disk is full (by the
 * error, or by a fresh statfs: a failed group commit may carry another error than the one that
 * caused it), else 451 4.3.0. Never a 250: the caller has rolled the message back.
 */
export async function storageFailureReply(space: SpoolSpace, code: string, message: string): Promise<Reply> {
  if (isStorageFull(code, message)) return Replies.storageFull;
  const now = await space.check(true);
  return now.ok ? Replies.tempFailure : Replies.storageFull;
}
