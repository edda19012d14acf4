// System users (the `getpwnam` userbase): Node has no getpwnam, so this runs
// `getent passwd NAME` with execFile (never a shell), a strict name check first, a timeout,
// and a short-lived cache; without getent it parses /etc/passwd. Used by the getpwnam table
// backend, i.e. by the expansion (user exists?) and by userLookup (mda asks for uid/gid/home).
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';

/** One passwd entry. */
export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  dir: string;
  shell: string;
}

export type SystemUserResult = { found: true; user: PasswdEntry } | { found: false } | { error: string };

/**
 * A name we are willing to hand to getent: letters, digits, `_ . -`, optionally a trailing
 * `$`, at most 32 characters, not starting with `-` or `.`, not all digits (getent would take
 * a number as a uid).
 */
export function isValidUserName(name: string): boolean {
  return /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}\$?$/.test(name) && !/^\d+$/.test(name);
}

/** Parses one `name:pw:uid:gid:gecos:dir:shell` line; null when malformed. */
export function parsePasswdLine(line: string): PasswdEntry | null {
  const f = line.replace(/\r?\n$/, '').split(':');
  if (f.length !== 7) return null;
  const [name, , uidText, gidText, , dir, shell] = f as [string, string, string, string, string, string, string];
  if (!/^\d{1,10}$/.test(uidText) || !/^\d{1,10}$/.test(gidText)) return null;
  const uid = Number(uidText);
  const gid = Number(gidText);
  if (uid > 0xffffffff || gid > 0xffffffff || name === '') return null;
  return { name, uid, gid, dir, shell };
}

export interface SystemUsersOptions {
  /** Cache lifetime of a found user, ms. */
  ttlMs?: number;
  /** Cache lifetime of an unknown user, ms (short: a freshly created user is seen soon). */
  negativeTtlMs?: number;
  /** getent deadline, ms; a timeout is a temporary failure. */
  timeoutMs?: number;
  getentPath?: string;
  passwdFile?: string;
  /** Most cached names. */
  maxEntries?: number;
}

interface CacheEntry {
  expires: number;
  result: SystemUserResult;
}

/** Looks up system users; results are cached, concurrent lookups of one name share a call. */
export class SystemUsers {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inflight = new Map<string, Promise<SystemUserResult>>();
  private getentMissing = false;
  private readonly opts: Required<SystemUsersOptions>;

  constructor(opts: SystemUsersOptions = {}) {
    this.opts = {
      ttlMs: 30_000, negativeTtlMs: 5_000, timeoutMs: 2_000,
      getentPath: 'getent', passwdFile: '/etc/passwd', maxEntries: 4096, ...opts,
    };
  }

  async lookup(name: string): Promise<SystemUserResult> {
    if (!isValidUserName(name)) return { found: false };
    const now = Date.now();
    const hit = this.cache.get(name);
    if (hit && hit.expires > now) return hit.result;
    const pending = this.inflight.get(name);
    if (pending) return pending;
    const p = this.fetch(name).finally(() => this.inflight.delete(name));
    this.inflight.set(name, p);
    const result = await p;
    if (!('error' in result)) this.remember(name, result);
    return result;
  }

  /** Forget cached users (e.g. on `smtpctl update table`). */
  clear(): void {
    this.cache.clear();
  }

  private remember(name: string, result: SystemUserResult): void {
    if (this.cache.size >= this.opts.maxEntries) {
      const oldest = this.cache.keys().next();
      if (!oldest.done) this.cache.delete(oldest.value);
    }
    const ttl = 'found' in result && result.found ? this.opts.ttlMs : this.opts.negativeTtlMs;
    this.cache.delete(name);
    this.cache.set(name, { expires: Date.now() + ttl, result });
  }

  private async fetch(name: string): Promise<SystemUserResult> {
    if (!this.getentMissing) {
      const r = await this.getent(name);
      if (r !== 'missing') return r;
      this.getentMissing = true;
    }
    return this.fromPasswdFile(name);
  }

  private getent(name: string): Promise<SystemUserResult | 'missing'> {
    return new Promise((resolve) => {
      execFile(this.opts.getentPath, ['passwd', name], { timeout: this.opts.timeoutMs, maxBuffer: 64 * 1024, shell: false }, (err, stdout) => {
        if (!err) return resolve(this.fromLine(name, stdout.split('\n')[0] ?? ''));
        const e = err as Error & { code?: string | number | null; killed?: boolean };
        if (e.code === 'ENOENT') return resolve('missing');
        if (e.code === 2) return resolve({ found: false });
        if (e.killed) return resolve({ error: `getent passwd timed out after ${this.opts.timeoutMs} ms` });
        resolve({ error: `getent passwd failed: ${e.message.split('\n')[0] ?? ''}` });
      });
    });
  }

  private fromLine(name: string, line: string): SystemUserResult {
    const entry = parsePasswdLine(line);
    if (!entry) return { error: 'getent passwd: malformed answer' };
    // A name must come back as itself (never a uid lookup or an alias).
    return entry.name === name ? { found: true, user: entry } : { found: false };
  }

  private async fromPasswdFile(name: string): Promise<SystemUserResult> {
    let text: string;
    try {
      text = await readFile(this.opts.passwdFile, 'utf8');
    } catch (e) {
      return { error: `cannot read ${this.opts.passwdFile}: ${(e as Error).message}` };
    }
    for (const line of text.split('\n')) {
      if (!line.startsWith(`${name}:`)) continue;
      const entry = parsePasswdLine(line);
      if (entry && entry.name === name) return { found: true, user: entry };
    }
    return { found: false };
  }
}
