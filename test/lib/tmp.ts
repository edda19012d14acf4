// Temporary directories for one test file: config, spool, mail. Made traversable (0755) because the
// daemon may deliver as the recipient user and dovecot writes as the mail user.
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A new directory under the system temp dir, mode 0755. */
export function makeTestDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `tsmtpd-${prefix}-`));
  chmodSync(dir, 0o755);
  return dir;
}

/** A directory any user may create entries in (sticky, like /tmp): a parent of per-user maildirs. */
export function makeSharedDir(dir: string): string {
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o1777);
  return dir;
}

/** Removes a test directory unless TSMTPD_KEEP_TMP is set (to look at it after a failure). */
export function removeTestDir(dir: string): void {
  if (process.env['TSMTPD_KEEP_TMP']) {
    process.stderr.write(`keeping ${dir}\n`);
    return;
  }
  rmSync(dir, { recursive: true, force: true });
}
