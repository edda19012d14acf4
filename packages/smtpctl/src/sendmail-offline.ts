// Offline enqueue (REFERENCE 3), sendmail's side: with the daemon down, the message is kept in
// `<spool>/offline/` (mode 1733, root's: anyone may drop a file, nobody may list or remove
// another's) as a file of the user's own, created O_EXCL|O_NOFOLLOW mode 0600. Its first line is
// JSON (never a line format of untrusted text): the arguments and the time; the raw message follows.
// The daemon replays it at start by running sendmail as the file's owner (packages/smtpd offline.ts).
import { closeSync, constants, fsyncSync, openSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { OFFLINE_DIR, OFFLINE_MAX_HEADER, OFFLINE_VERSION, type OfflineHeader } from '@tsmtpd/proto/offline.js';

/** Write the offline file; returns its path. Throws with the system error. */
export function writeOffline(spool: string, argv: string[], message: Buffer, now = Date.now()): string {
  const header: OfflineHeader = { version: OFFLINE_VERSION, argv, time: now };
  const line = Buffer.from(JSON.stringify(header) + '\n', 'utf8');
  if (line.length > OFFLINE_MAX_HEADER) throw new Error('arguments too long for the offline queue');
  const name = `${Math.floor(now / 1000)}.${randomBytes(5).toString('hex')}`;
  const path = join(spool, OFFLINE_DIR, name);
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    writeAll(fd, line);
    writeAll(fd, message);
    fsyncSync(fd); // the exit status says "queued": it must be on disk
  } finally {
    closeSync(fd);
  }
  return path;
}

function writeAll(fd: number, b: Buffer): void {
  for (let off = 0; off < b.length; ) off += writeSync(fd, b, off, b.length - off);
}
