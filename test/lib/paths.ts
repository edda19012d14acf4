// Where things are for the end-to-end tests: the repository, the daemon's entry point, and the
// independent peers (python3, swaks, dovecot, Postfix's smtp-source unpacked by scripts/peers-install.sh).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** The repository root (this file runs from test/dist/lib/). */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** `node <smtpdBin> ...` is how a user starts the daemon. */
export const smtpdBin = path.join(repoRoot, 'packages/smtpd/bin/smtpd.js');

/** Python helper scripts live in the source tree, beside this file's TypeScript source. */
export const pyDir = path.join(repoRoot, 'test/lib/py');

function firstExisting(candidates: string[], fallback: string): string {
  return candidates.find((p) => existsSync(p)) ?? fallback;
}

/** Debian's python3 when present (the one CI installs), else whatever python3 is on PATH. */
export const python3 = firstExisting(['/usr/bin/python3'], 'python3');
export const swaksBin = firstExisting(['/usr/bin/swaks'], 'swaks');
export const dovecotBin = firstExisting(['/usr/sbin/dovecot'], 'dovecot');
export const smtpSourceBin = path.join(repoRoot, '.peers/postfix/bin/smtp-source');

/** The sample configuration `smtpd -n` must accept; the first of these that exists. */
export function exampleConfigPath(): string | undefined {
  const candidates = ['smtpd.conf.example', 'packages/smtpd/smtpd.conf.example', 'etc/smtpd.conf.example'];
  return candidates.map((c) => path.join(repoRoot, c)).find((p) => existsSync(p));
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}
