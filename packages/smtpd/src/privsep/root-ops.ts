// The operations only root may do, as the privileged process runs them for the actor process:
// reading ~/.forward, checking a system password, creating a user's mbox mailbox. Each takes
// a checked account name and looks the account up itself.
import { spawn } from 'node:child_process';
import { closeSync, constants, fchownSync, fstatSync, lstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { lookupAccount, type Account } from './accounts.js';

/** PAM's helper: checks a password against the shadow file with libxcrypt (yescrypt, sha-crypt, bcrypt). */
export const UNIX_CHKPWD = '/sbin/unix_chkpwd';
const FORWARD_MAX = 64 * 1024;

/**
 * ~user/.forward as text, null when there is none. Refused (an error) when it is not a plain
 * file owned by the user or root, or is writable by group or others (OpenSMTPD's checks), or
 * larger than 64 KiB. Opened with O_NOFOLLOW: a planted link is not followed as root.
 */
export async function readForwardFile(user: string, lookup: (user: string) => Promise<Account | null> = lookupAccount): Promise<{ text: string | null } | { error: string }> {
  const a = await lookup(user);
  if (a === null) return { error: `no account ${user}` };
  const path = join(a.home, '.forward');
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' ? { text: null } : { error: `${path}: ${code}` };
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { error: `${path} is not a regular file` };
    if (st.uid !== a.uid && st.uid !== 0) return { error: `${path} is not owned by ${user}` };
    if ((st.mode & 0o022) !== 0) return { error: `${path} is writable by others` };
    if (st.size > FORWARD_MAX) return { error: `${path} is larger than 64 KiB` };
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, off);
      if (n <= 0) break;
      off += n;
    }
    return { text: buf.subarray(0, off).toString('utf8') };
  } finally {
    closeSync(fd);
  }
}

/**
 * Whether `password` is the system password of `user`: unix_chkpwd (run as root it checks any
 * account) reads it NUL-terminated on stdin; exit 0 is a match. No shell, the name as argv.
 */
export async function checkSystemPassword(user: string, password: string, binary = UNIX_CHKPWD): Promise<boolean> {
  if (/[\0\r\n]/.test(password) || password === '' || (await lookupAccount(user)) === null) return false;
  return new Promise((resolve) => {
    const child = spawn(binary, [user, 'nonull'], { stdio: ['pipe', 'ignore', 'ignore'], env: {} });
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('error', () => resolve(false));
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve(code === 0);
    });
    child.stdin.on('error', () => {});
    child.stdin.end(Buffer.concat([Buffer.from(password, 'utf8'), Buffer.from([0])]));
  });
}

/**
 * The mbox mailbox spool/USER exists, is a plain file with one link and is owned by the user
 * (created 0600 and given to the user if missing). The spool (/var/mail) is root's to write.
 */
export async function prepareMbox(spool: string, user: string, lookup: (user: string) => Promise<Account | null> = lookupAccount): Promise<string | null> {
  const a = await lookup(user);
  if (a === null) return `no account ${user}`;
  const path = join(spool, a.name);
  try {
    const st = lstatSync(spool);
    if ((st.mode & 0o002) !== 0 && (st.mode & 0o1000) === 0) return `mail spool ${spool} is world-writable`;
    try {
      const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      try {
        fchownSync(fd, a.uid, a.gid);
      } finally {
        closeSync(fd);
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const m = lstatSync(path);
    if (!m.isFile()) return `mailbox ${path} is not a regular file`;
    if (m.nlink !== 1) return `mailbox ${path} has ${m.nlink} links`;
    if (m.uid !== a.uid) return `mailbox ${path} is not owned by ${a.name}`;
    return null;
  } catch (e) {
    return `mailbox ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
  }
}
