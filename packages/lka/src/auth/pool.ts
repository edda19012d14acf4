// The crypt pool: a piscina pool of one worker thread (two cores are shared by every actor)
// that verifies password hashes, so a bcrypt at cost 10-12 (70-250 ms in pure JS) never stalls
// the lka's lookups. The queue is bounded: beyond it an attempt is a temporary failure.
import { Piscina } from 'piscina';

/** Attempts waiting for the worker beyond which new ones are refused (temporary failure). */
export const CRYPT_MAX_QUEUE = 64;
/** An idle pool lets its thread go after this long. */
const IDLE_MS = 60_000;

export type CryptOutcome = 'match' | 'mismatch' | 'busy';

export class CryptPool {
  private pool: Piscina | null = null;

  constructor(private readonly threads = 1) {}

  /** Verify `password` against a crypt(3) string in the worker. */
  async verify(password: string, hash: string): Promise<CryptOutcome> {
    this.pool ??= new Piscina({
      filename: new URL('./worker.js', import.meta.url).href,
      minThreads: 0,
      maxThreads: this.threads,
      idleTimeout: IDLE_MS,
      maxQueue: CRYPT_MAX_QUEUE,
    });
    if (this.pool.queueSize >= CRYPT_MAX_QUEUE) return 'busy';
    try {
      return (await this.pool.run({ password, hash })) === true ? 'match' : 'mismatch';
    } catch {
      return 'busy';
    }
  }

  async close(): Promise<void> {
    const p = this.pool;
    this.pool = null;
    await p?.destroy();
  }
}
