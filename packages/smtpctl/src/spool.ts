// Where the spool is, as the daemon finds it (DESIGN 8): --spool DIR, else $SMTPD_SPOOL, else
// /var/spool/smtpd. The control socket is <spool>/smtpd.sock.
import { join } from 'node:path';
import { CONTROL_SOCKET } from '@tsmtpd/proto';

export const DEFAULT_SPOOL = '/var/spool/smtpd';

/** Take a leading `--spool DIR` (or `--spool=DIR`) off argv. */
export function spoolFrom(argv: string[]): { spool: string; rest: string[] } {
  const a = argv[0];
  if (a === '--spool' && argv[1] !== undefined) return { spool: argv[1], rest: argv.slice(2) };
  if (a?.startsWith('--spool=')) return { spool: a.slice(8), rest: argv.slice(1) };
  return { spool: process.env.SMTPD_SPOOL || DEFAULT_SPOOL, rest: argv };
}

export function socketPath(spool: string): string {
  return join(spool, CONTROL_SOCKET);
}
