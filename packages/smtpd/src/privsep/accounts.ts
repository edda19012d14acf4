// System accounts as the privileged process sees them: `getent passwd KEY` (never a shell; the
// key is a checked name or a number), so NSS accounts count too. And the checks that a helper
// request names a real, non-root account (validateHelperRequest, unit-tested).
import { execFile } from 'node:child_process';

export interface Account {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}\$?$/;

/** One account by name or uid; null when there is none (or the key is not acceptable). */
export function lookupAccount(key: string | number): Promise<Account | null> {
  const k = String(key);
  if (typeof key === 'number' ? !Number.isInteger(key) || key < 0 : !NAME.test(k) || /^\d+$/.test(k)) return Promise.resolve(null);
  return new Promise((resolve) => {
    execFile('getent', ['passwd', k], { timeout: 10_000, env: { PATH: '/usr/bin:/bin' } }, (err, stdout) => {
      if (err) return resolve(null);
      const f = stdout.split('\n')[0]!.split(':');
      if (f.length < 7 || !/^\d+$/.test(f[2]!) || !/^\d+$/.test(f[3]!)) return resolve(null);
      resolve({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5]! });
    });
  });
}

/**
 * lookupAccount with a short memory (each lookup is a getent process: ~1.5 ms of CPU), for the
 * requests the privileged side answers per message (~/.forward, mbox). An account changed or
 * removed is seen within `ttlMs`, as the lka's own user cache (lka/users.ts) sees it.
 */
export class AccountCache {
  private readonly entries = new Map<string, { until: number; account: Promise<Account | null> }>();

  constructor(
    private readonly ttlMs = 30_000,
    private readonly negativeTtlMs = 5_000,
    private readonly lookup: (key: string) => Promise<Account | null> = lookupAccount,
    private readonly max = 4096,
    /** The clock (tests turn it by hand). */
    private readonly now: () => number = Date.now,
  ) {}

  get(name: string): Promise<Account | null> {
    const now = this.now();
    const hit = this.entries.get(name);
    if (hit && hit.until > now) return hit.account;
    if (this.entries.size >= this.max) this.entries.clear();
    const account = this.lookup(name);
    const entry = { until: now + this.ttlMs, account };
    this.entries.set(name, entry);
    void account.then((a) => {
      if (a === null) entry.until = this.now() + this.negativeTtlMs;
    });
    return account;
  }
}

export type HelperVerdict = { ok: true; account: Account } | { ok: false; error: string };

/**
 * Whether the privileged side may start a delivery helper as uid/gid for the actor process: the
 * uid must be a real account other than root, and gid its primary group. The actor process is
 * not trusted: a compromised one must not get a root helper or one for an invented uid.
 */
export async function validateHelperRequest(uid: number, gid: number, lookup: (uid: number) => Promise<Account | null> = lookupAccount): Promise<HelperVerdict> {
  if (!Number.isInteger(uid) || !Number.isInteger(gid) || uid < 0 || gid < 0) return { ok: false, error: 'invalid uid/gid' };
  if (uid === 0) return { ok: false, error: 'no delivery helper runs as root' };
  const account = await lookup(uid);
  if (account === null || account.uid !== uid) return { ok: false, error: `uid ${uid} is not an account` };
  if (account.gid !== gid) return { ok: false, error: `gid ${gid} is not the primary group of uid ${uid}` };
  if (gid === 0) return { ok: false, error: 'no delivery helper runs with group root' };
  return { ok: true, account };
}
