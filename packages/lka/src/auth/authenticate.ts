// SMTP AUTH and `senders` for the smtp actor: the credentials table (user -> crypt(3) string)
// or the system accounts, verified in the crypt pool; the mailaddrmap check of MAIL FROM
// against the addresses a user may send as. Failures are values (fail, temp), never throws.
import type { AuthVerdict, SenderVerdict } from '@tsmtpd/proto';
import { z } from 'zod';
import { mailaddrMatch, splitMailaddr } from '../tables/matchers.js';
import type { TableSet } from '../tables/registry.js';
import { MAX_PASSWORD_LENGTH, cryptScheme } from './crypt.js';
import type { CryptPool } from './pool.js';
import { systemPasswordHash, type SystemHash } from './system.js';

/** No CR, LF or NUL may reach a lookup or a hash (7.8.0p1: they split text protocols). */
const CLEAN = /^[^\r\n\0]*$/;

const AuthRequestSchema = z.object({
  table: z.string().max(256).nullable(),
  user: z.string().min(1).max(256).regex(CLEAN),
  password: z.string().max(MAX_PASSWORD_LENGTH).regex(CLEAN),
});

const SenderRequestSchema = z.object({
  table: z.string().max(256),
  user: z.string().min(1).max(256).regex(CLEAN),
  sender: z.string().max(1024),
});

type Warn = (event: string, fields: Record<string, unknown>) => void;

export interface AuthDeps {
  tables: TableSet;
  pool: CryptPool;
  warn: Warn;
  /** Sub-address delimiter (`smtp sub-addr-delim`) for the mailaddr matching of senders. */
  delim: string;
  /** The system account lookup (tests and privilege separation replace it). */
  systemHash?: (user: string) => Promise<SystemHash>;
  /**
   * Privilege separation: the privileged process checks a system password (unix_chkpwd) and
   * answers yes or no; the hash never reaches this process.
   */
  systemCheck?: (user: string, password: string) => Promise<boolean>;
}

/** A dummy hash verified for unknown users, so that their answer takes as long as a known one's. */
const DUMMY_HASH = '$6$tsmtpdnosuchus$IaTetcy85I/i7ICzyYqgcgHooJiVRWL/Ida.UeD80y.g0CdP8f4FQBl1ZyM5ERvxuZ2Njuux367v/cZuNWl45/';

export class Authenticator {
  private readonly systemHash: (user: string) => Promise<SystemHash>;

  constructor(private readonly d: AuthDeps) {
    this.systemHash = d.systemHash ?? ((user) => systemPasswordHash(user));
  }

  async authenticate(input: unknown): Promise<AuthVerdict> {
    const req = AuthRequestSchema.safeParse(input);
    if (!req.success) return 'fail';
    const { table, user, password } = req.data;
    if (table === null && this.d.systemCheck) {
      try {
        return (await this.d.systemCheck(user, password)) ? 'ok' : 'fail';
      } catch (e) {
        this.d.warn('system password check failed', { user, error: (e as Error).message });
        return 'temp';
      }
    }
    const found = table === null ? await this.systemHash(user) : await this.tableHash(table, user);
    if (!found.ok) {
      this.d.warn('credentials lookup failed', { table: table ?? '<system>', user, error: found.error });
      return 'temp';
    }
    const hash = found.hash;
    if (hash !== null && cryptScheme(hash) === null) {
      this.d.warn('credentials: unsupported hash scheme', { table: table ?? '<system>', user, scheme: hash.slice(0, 4) });
    }
    const outcome = await this.d.pool.verify(password, hash ?? DUMMY_HASH);
    if (outcome === 'busy') return 'temp';
    return outcome === 'match' && hash !== null ? 'ok' : 'fail';
  }

  private async tableHash(name: string, user: string): Promise<SystemHash> {
    const t = this.d.tables.get(name);
    if (!t) return { ok: false, error: `no table named ${name}` };
    const r = await t.lookup(user, 'credentials');
    if ('error' in r) return { ok: false, error: r.error };
    return { ok: true, hash: r.found ? credentialsHash(r.value) : null };
  }

  async senderCheck(table: unknown, user: unknown, sender: unknown): Promise<SenderVerdict> {
    const req = SenderRequestSchema.safeParse({ table, user, sender });
    if (!req.success) return 'refused';
    const t = this.d.tables.get(req.data.table);
    if (!t) return 'temp';
    const r = await t.lookup(req.data.user, 'mailaddrmap');
    if ('error' in r) {
      this.d.warn('senders lookup failed', { table: req.data.table, user: req.data.user, error: r.error });
      return 'temp';
    }
    if (!r.found || req.data.sender === '') return 'refused';
    const key = splitMailaddr(req.data.sender);
    const allowed = r.value.split(/[\s,]+/).filter((v) => v !== '');
    return allowed.some((a) => mailaddrMatch(key, splitMailaddr(a), this.d.delim)) ? 'ok' : 'refused';
  }
}

/**
 * The hash of a credentials value: `hash` (file tables: the key is the user) or `user:hash`
 * (sqlite and passwd tables, as OpenSMTPD parses K_CREDENTIALS). crypt(3) strings hold no colon.
 */
export function credentialsHash(value: string): string {
  const v = value.trim();
  const colon = v.indexOf(':');
  return colon >= 0 ? v.slice(colon + 1) : v;
}
