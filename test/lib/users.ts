// System users the delivery tests write to (tsmtpd-e1, ...): created when running as root
// (idempotent, `useradd -m`); otherwise the tests that need them skip with the reason.
import { run } from './proc.js';
import { isRoot } from './paths.js';

export interface SystemUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export type UsersResult = { ok: true; users: SystemUser[] } | { ok: false; reason: string };

async function lookup(name: string): Promise<SystemUser | undefined> {
  const r = await run('getent', ['passwd', name], { timeoutMs: 10_000 });
  const f = r.code === 0 ? r.stdout.trim().split(':') : [];
  if (f.length < 7) return undefined;
  return { name, uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? '' };
}

/** Makes sure each user exists; needs root. Concurrent test files may race: re-check after useradd. */
export async function ensureUsers(names: string[]): Promise<UsersResult> {
  if (!isRoot()) return { ok: false, reason: `not root: cannot create the system users ${names.join(', ')}` };
  const users: SystemUser[] = [];
  for (const name of names) {
    let u = await lookup(name);
    if (!u) {
      const r = await run('useradd', ['-m', '-s', '/usr/sbin/nologin', '-c', 'tsmtpd test user', name], { timeoutMs: 20_000 });
      u = await lookup(name);
      if (!u) return { ok: false, reason: `useradd ${name} failed: ${r.stderr.trim()}` };
    }
    users.push(u);
  }
  return { ok: true, users };
}
