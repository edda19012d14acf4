// Public face of @tsmtpd/smtp: where its worker lives and where the local enqueue socket is.
// Kept free of heavy imports (the parent loads this).
import { join } from 'node:path';

export const workerUrl = new URL('./worker.js', import.meta.url);

/** The local enqueue socket (SMTP over a unix socket) in the spool directory. */
export function enqueueSocketPath(spool: string): string {
  return join(spool, 'enqueue.sock');
}
