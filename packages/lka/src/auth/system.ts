// System accounts for `auth` without a table: the one narrow function that reads a user's
// password hash from the shadow file. It needs root; under privilege separation it belongs to
// the privileged process (which answers this one question, nothing else).
import { readFile } from 'node:fs/promises';

export const SHADOW_PATH = '/etc/shadow';

export type SystemHash = { ok: true; hash: string | null } | { ok: false; error: string };

/** Days since the epoch, as shadow(5) counts them. */
function today(): number {
  return Math.floor(Date.now() / 86_400_000);
}

/**
 * The crypt(3) string of system user `user`, null when there is no such user, the account
 * is locked or expired (shadow(5) field 8). An unreadable shadow file is an error (temporary).
 */
export async function systemPasswordHash(user: string, path = SHADOW_PATH): Promise<SystemHash> {
  if (user === '' || /[:\s\0]/.test(user)) return { ok: true, hash: null };
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    return { ok: false, error: `${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}` };
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] !== user) continue;
    const hash = f[1] ?? '';
    const expire = f[7] ?? '';
    if (expire !== '' && Number(expire) <= today()) return { ok: true, hash: null };
    return { ok: true, hash: hash.startsWith('$') ? hash : null };
  }
  return { ok: true, hash: null };
}
