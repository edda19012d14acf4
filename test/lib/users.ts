// System users the delivery tests write to (tsmtpd-e1, ...): created when running as root
// (idempotent, `useradd -m`); otherwise the tests that need them skip with the reason.
import { run, sleep } from './proc.js';
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

/**
 * Makes sure each user exists. Not root: `ok: false` with the reason (the caller skips). Root: a
 * user that cannot be created is an error, not a skip. Test files run in parallel and useradd
 * fails while another holds the passwd lock, so each creation is retried (bounded).
 */
export async function ensureUsers(names: string[]): Promise<UsersResult> {
  if (!isRoot()) return { ok: false, reason: `not root: cannot create the system users ${names.join(', ')}` };
  const users: SystemUser[] = [];
  for (const name of names) {
    let u = await lookup(name);
    let lastError = '';
    for (let attempt = 0; !u && attempt < 20; attempt++) {
      const r = await run('useradd', ['-m', '-s', '/usr/sbin/nologin', '-c', 'tsmtpd test user', name], { timeoutMs: 20_000 });
      lastError = r.stderr.trim();
      u = await lookup(name);
      if (!u) await sleep(250 + Math.random() * 250);
    }
    if (!u) throw new Error(`useradd ${name} failed: ${lastError}`);
    users.push(u);
  }
  return { ok: true, users };
}

/** The unprivileged user a root daemon runs its actors as (the README's install step). */
export const DAEMON_USER = '_smtpd';
let daemonUser: Promise<void> | null = null;

/** As root, make sure the daemon's user exists (`useradd --system`, once per test process). */
export function ensureDaemonUser(): Promise<void> {
  if (!isRoot()) return Promise.resolve();
  daemonUser ??= (async () => {
    for (let attempt = 0; attempt < 20; attempt++) {
      if (await lookup(DAEMON_USER)) return;
      await run('useradd', ['--system', '--home-dir', '/var/empty', '--shell', '/usr/sbin/nologin', DAEMON_USER], { timeoutMs: 20_000 });
      if (await lookup(DAEMON_USER)) return;
      await sleep(250 + Math.random() * 250);
    }
    throw new Error(`useradd ${DAEMON_USER} failed`);
  })();
  return daemonUser;
}
