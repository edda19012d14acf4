// The crypt pool's worker (piscina): one hash verification per task, off every actor's
// event loop. Input is checked here too: it crossed a thread.
import { verifyCryptHash } from './crypt.js';

export default function verify(task: unknown): boolean {
  if (typeof task !== 'object' || task === null) return false;
  const { password, hash } = task as { password?: unknown; hash?: unknown };
  if (typeof password !== 'string' || typeof hash !== 'string') return false;
  return verifyCryptHash(password, hash);
}
