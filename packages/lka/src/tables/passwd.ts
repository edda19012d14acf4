// `passwd:` tables (as opensmtpd-extras' table-passwd): a file in passwd(5) format,
// `name:password:uid:gid:gecos:home:shell` (further fields allowed), serving credentials
// (`name:hash`, for listener `auth`) and userinfo (`uid:gid:home`, for `userbase`). Read whole,
// reloaded on update; one malformed line refuses the file, naming the line.
import { readFile } from 'node:fs/promises';
import type { LookupService } from '@tsmtpd/proto';
import type { LookupResult, TableBackend, TableContent } from './table.js';

interface PasswdEntry {
  password: string;
  uid: string;
  gid: string;
  home: string;
}

/** Parses passwd-format text; throws `path:line: ...` on the first bad line. */
export function parsePasswdText(text: string, path: string): Map<string, PasswdEntry> {
  const out = new Map<string, PasswdEntry>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').replace(/\r$/, '');
    if (line.trim() === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    const [name = '', password = '', uid = '', gid = '', , home = ''] = f;
    const bad = (why: string): never => {
      throw new Error(`${path}:${i + 1}: invalid entry (${why})`);
    };
    if (f.length < 6) bad('fewer than 6 fields');
    if (name === '' || /[\s\0]/.test(name)) bad('empty or blank user name');
    if ((uid !== '' && !/^\d{1,10}$/.test(uid)) || (gid !== '' && !/^\d{1,10}$/.test(gid))) bad('uid and gid must be numbers');
    if (/[\0]/.test(line)) bad('NUL byte');
    out.set(name.toLowerCase(), { password, uid, gid, home });
  }
  return out;
}

export class PasswdTableBackend implements TableBackend {
  readonly kind = 'passwd';
  private entries: Map<string, PasswdEntry> | undefined;
  private list: TableContent | undefined;

  constructor(readonly path: string) {}

  async open(): Promise<void> {
    await this.update();
  }

  /** The user names, for matching (`auth <t>`, `from auth <t>`). */
  content(): TableContent | undefined {
    if (!this.entries) return undefined;
    this.list ??= { kind: 'list', values: [...this.entries.keys()] };
    return this.list;
  }

  async get(key: string, service?: LookupService): Promise<LookupResult> {
    if (!this.entries) return { error: `passwd table ${this.path} not loaded` };
    const e = this.entries.get(key);
    if (!e) return { found: false };
    switch (service) {
      case 'credentials':
        return e.password === '' ? { found: false } : { found: true, value: `${key}:${e.password}` };
      case 'userinfo':
        if (e.uid === '' || e.gid === '' || !e.home.startsWith('/')) return { error: `passwd table ${this.path}: no uid, gid or home for ${key}` };
        return { found: true, value: `${e.uid}:${e.gid}:${e.home}` };
      default:
        return { error: `passwd tables serve credentials and userinfo, not ${service ?? 'this lookup'}` };
    }
  }

  async update(): Promise<void> {
    this.entries = parsePasswdText(await readFile(this.path, 'utf8'), this.path);
    this.list = undefined;
  }
}
