// The users the mda delivers to, remembered for a few seconds: each delivery asked the lka
// (userLookup: a round trip between two threads, ~0.1 ms of CPU with the wake-ups) for an
// answer the lka itself keeps 30 s (lka/users.ts). Only found users are kept; an account or a
// userbase table changed is seen at most USER_CACHE_MS later.
import type { UserInfo } from '@tsmtpd/proto';

export const USER_CACHE_MS = 5000;

export class UserCache {
  private readonly users = new Map<string, { until: number; user: UserInfo }>();

  constructor(
    private readonly ttlMs = USER_CACHE_MS,
    private readonly max = 4096,
  ) {}

  private static key(name: string, userbase: string | null): string {
    return `${userbase ?? ''}\0${name}`;
  }

  get(name: string, userbase: string | null): UserInfo | null {
    const k = UserCache.key(name, userbase);
    const e = this.users.get(k);
    if (e === undefined) return null;
    if (e.until > Date.now()) return e.user;
    this.users.delete(k);
    return null;
  }

  set(name: string, userbase: string | null, user: UserInfo): void {
    if (this.users.size >= this.max) this.users.clear();
    this.users.set(UserCache.key(name, userbase), { until: Date.now() + this.ttlMs, user });
  }
}
