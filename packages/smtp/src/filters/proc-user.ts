// Who a filter process runs as (REFERENCE 10): started as root, the `user`/`group` of its
// `proc`/`proc-exec` statement, else the unprivileged `_smtpd` (OpenSMTPD's) or `smtpd` user
// when one exists, else `nobody`; started as anyone else, as that user. Read from the system
// databases directly (node has no getpwnam); these files are small and read at start only.
import { readFileSync } from 'node:fs';

export interface RunAs {
  uid: number;
  gid: number;
  name: string;
  home: string;
}

const FALLBACK_USERS = ['_smtpd', 'smtpd', 'nobody'];

function readDb(path: string): string[][] {
  try {
    return readFileSync(path, 'utf8').split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(':'));
  } catch {
    return [];
  }
}

function findUser(name: string, passwd = '/etc/passwd'): RunAs | undefined {
  const row = readDb(passwd).find((r) => r[0] === name || (/^\d+$/.test(name) && r[2] === name));
  if (!row || row.length < 7) return undefined;
  return { name: row[0] as string, uid: Number(row[2]), gid: Number(row[3]), home: row[5] || '/' };
}

function findGroup(name: string, group = '/etc/group'): number | undefined {
  const row = readDb(group).find((r) => r[0] === name || (/^\d+$/.test(name) && r[2] === name));
  return row ? Number(row[2]) : undefined;
}

/** The identity for a filter process; throws with a clear message for an unknown user/group. */
export function resolveRunAs(user: string | undefined, group: string | undefined): RunAs | null {
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!root) {
    if (user !== undefined || group !== undefined) return null; // cannot switch: run as ourselves
    return null;
  }
  let who: RunAs | undefined;
  if (user !== undefined) {
    who = findUser(user);
    if (!who) throw new Error(`unknown user ${user}`);
  } else {
    for (const u of FALLBACK_USERS) if ((who = findUser(u))) break;
    if (!who) throw new Error('no unprivileged user (_smtpd, smtpd, nobody) to run filters as');
  }
  if (group !== undefined) {
    const gid = findGroup(group);
    if (gid === undefined) throw new Error(`unknown group ${group}`);
    who = { ...who, gid };
  }
  return who;
}
