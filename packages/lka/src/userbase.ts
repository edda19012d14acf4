// The userinfo service (REFERENCE 11): `userbase <t>` tables map a user name to
// `uid:gid:homedir`; without a userbase the system users are asked (<getpwnam>). Serves the
// expansion (does the user exist?) and the mda's userLookup (whom to deliver as).
import type { UserInfo, UserLookup } from '@tsmtpd/proto';
import { GETPWNAM, type TableSet } from './tables/registry.js';

/** Parses a userinfo value `uid:gid:homedir` (absolute directory); null when malformed. */
export function parseUserinfo(value: string): Omit<UserInfo, 'username'> | null {
  const m = /^(\d{1,10}):(\d{1,10}):(\/[^\0\r\n]*)$/.exec(value.trim());
  if (!m) return null;
  const uid = Number(m[1]);
  const gid = Number(m[2]);
  if (uid > 0xffffffff || gid > 0xffffffff) return null;
  return { uid, gid, directory: m[3] ?? '/' };
}

/** Looks users up in a userbase table or the system. */
export class Userbase {
  constructor(private readonly tables: TableSet) {}

  /** `userbase`: table name, or null for the system users. Names are looked up lowercased. */
  async lookup(name: string, userbase: string | null): Promise<UserLookup> {
    const key = name.toLowerCase();
    if (key === '' || /[\x00-\x20\x7f]/.test(key)) return { ok: false, kind: 'perm', message: 'invalid user name' };
    const tableName = userbase ?? GETPWNAM;
    const table = this.tables.get(tableName);
    if (!table) return { ok: false, kind: 'temp', message: `userbase table ${tableName} is not declared` };
    const r = await table.lookup(key, 'userinfo');
    if ('error' in r) return { ok: false, kind: 'temp', message: `userbase ${tableName}: ${r.error}` };
    if (!r.found) return { ok: false, kind: 'perm', message: `user ${key} unknown` };
    const info = parseUserinfo(r.value);
    if (!info) return { ok: false, kind: 'temp', message: `userbase ${tableName}: malformed entry for ${key}` };
    return { ok: true, user: { username: key, ...info } };
  }
}
