// `getpwnam:` tables: the system user database as a userinfo table. Its values have the
// userinfo format (`uid:gid:homedir`) so the same parser serves it and `file:` userbases.
import type { SystemUsers } from '../users.js';
import type { LookupResult, TableBackend } from './table.js';

export class GetpwnamTableBackend implements TableBackend {
  readonly kind = 'getpwnam';
  constructor(private readonly users: SystemUsers) {}

  /** System users cannot be listed for the matching services. */
  content(): undefined {
    return undefined;
  }

  async get(key: string): Promise<LookupResult> {
    const r = await this.users.lookup(key);
    if ('error' in r) return r;
    if (!r.found) return { found: false };
    return { found: true, value: `${r.user.uid}:${r.user.gid}:${r.user.dir}` };
  }

  async update(): Promise<void> {
    this.users.clear();
  }
}
