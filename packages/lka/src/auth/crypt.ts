// crypt(3) hash verification for SMTP AUTH: bcrypt ($2a$, $2b$, $2y$, with bcryptjs) and
// SHA-crypt ($5$, $6$, with unixcrypt). Pure and synchronous — it runs inside the crypt pool's
// worker (pool.ts), never on the lka's or the smtp actor's event loop: bcrypt at cost 10 takes
// ~70 ms of CPU in pure JS here.
import bcrypt from 'bcryptjs';
import { verify as shaCryptVerify } from 'unixcrypt';

/** The hash schemes we verify. */
export type CryptScheme = 'bcrypt' | 'sha256-crypt' | 'sha512-crypt';

/** The scheme of a crypt(3) string, or null for one we cannot verify (DES, MD5, yescrypt, locked). */
export function cryptScheme(hash: string): CryptScheme | null {
  if (/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash)) return 'bcrypt';
  if (/^\$5\$/.test(hash)) return 'sha256-crypt';
  if (/^\$6\$/.test(hash)) return 'sha512-crypt';
  return null;
}

/** Longest password we hash: bounds the CPU one attempt costs (SHA-crypt is linear in it). */
export const MAX_PASSWORD_LENGTH = 1024;

/**
 * Does `password` match the crypt(3) string `hash`? False for a malformed hash or an
 * unsupported scheme (the libraries throw on those; a bad table entry is a failed login).
 */
export function verifyCryptHash(password: string, hash: string): boolean {
  if (password.length > MAX_PASSWORD_LENGTH) return false;
  try {
    switch (cryptScheme(hash)) {
      case 'bcrypt':
        // bcryptjs knows $2a$/$2b$; $2y$ (PHP's name for the fixed $2a$) is the same algorithm.
        return bcrypt.compareSync(password, hash.replace(/^\$2y\$/, '$2b$'));
      case 'sha256-crypt':
      case 'sha512-crypt':
        return shaCryptVerify(password, hash);
      case null:
        return false;
    }
  } catch {
    return false;
  }
}
