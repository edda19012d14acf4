// The offline queue's file format (REFERENCE 3), shared by sendmail (writer, as the user) and the
// daemon (reader, at start): a first line of JSON checked with this schema — never a line format
// of untrusted text — then the raw message. The directory is `<spool>/offline/`.
import { z } from 'zod';

export const OFFLINE_DIR = 'offline';
export const OFFLINE_VERSION = 1;
/** Largest header line the daemon reads back. */
export const OFFLINE_MAX_HEADER = 64 * 1024;

export const OfflineHeaderSchema = z
  .object({
    version: z.literal(OFFLINE_VERSION),
    /** sendmail's command-line arguments after the program name. */
    argv: z.array(z.string().max(4096).refine((s) => !s.includes('\0'), 'NUL in an argument')).max(1000),
    /** When the user submitted it, ms since the epoch (the Date: the message gets). */
    time: z.number().int().nonnegative(),
  })
  .strict();
export type OfflineHeader = z.infer<typeof OfflineHeaderSchema>;

/** The header line of an offline file; null when it is not one of ours. */
export function parseOfflineHeader(line: string): OfflineHeader | null {
  try {
    const r = OfflineHeaderSchema.safeParse(JSON.parse(line));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}
