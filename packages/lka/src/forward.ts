// Reading a user's ~/.forward (REFERENCE 8.3) with OpenSMTPD's safety rules: a home directory
// with the sticky bit makes the lookup a temporary failure (the user may be editing it); the
// file is followed only when it is a regular file (not a symlink), owned by the user, not group
// or world writable, in a home owned by the user or root that others cannot write. Anything
// else is ignored with a reason, so mail goes to the mailbox. Under privilege separation the
// privileged process reads the file (privilegedForwardReader); otherwise the lka itself.
import { constants, promises as fsp } from 'node:fs';
import { join } from 'node:path';

/** Largest .forward read. */
export const MAX_FORWARD_BYTES = 64 * 1024;

export type ForwardRead =
  | { kind: 'none' }
  | { kind: 'temp'; why: string }
  | { kind: 'ignored'; why: string }
  | { kind: 'found'; text: string; path: string };

const WRITABLE_BY_OTHERS = 0o022;
const STICKY = 0o1000;

/** Reads ~/.forward for a user: directly, or through the privileged process. */
export type ForwardReader = (user: { username: string; uid: number; directory: string }) => Promise<ForwardRead>;

/** The home directory's part of the rules; null when the .forward in it may be read. */
async function checkHome(home: string, uid: number): Promise<ForwardRead | null> {
  if (!home.startsWith('/')) return { kind: 'ignored', why: 'home directory is not absolute' };
  let dir;
  try {
    dir = await fsp.lstat(home);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? { kind: 'none' } : { kind: 'temp', why: `home ${home}: ${code ?? 'unreadable'}` };
  }
  if (!dir.isDirectory()) return { kind: 'ignored', why: `home ${home} is not a directory` };
  if (dir.mode & STICKY) return { kind: 'temp', why: `home ${home} is sticky` };
  if (dir.uid !== uid && dir.uid !== 0) return { kind: 'ignored', why: `home ${home} is not owned by the user` };
  if (dir.mode & WRITABLE_BY_OTHERS) return { kind: 'ignored', why: `home ${home} is writable by others` };
  return null;
}

/**
 * Whether ~/.forward surely does not exist, as this process sees it: lstat answers ENOENT only
 * when the name is not there (a home we may not search answers EACCES), so no one, root
 * included, would find a file. Anything else (found, EACCES, ...) is for the privileged side.
 */
async function surelyAbsent(path: string): Promise<boolean> {
  try {
    await fsp.lstat(path);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/**
 * Under privilege separation the lka (as _smtpd) checks the home itself and asks the privileged
 * process for the file, which applies the file's rules as root; its refusals are ignored files.
 * A home this process can search and that holds no .forward costs no request (the common case:
 * that round trip, with root's account lookup, cost ~3.5 ms of CPU per message).
 */
export function privilegedForwardReader(read: (user: string) => Promise<{ ok: true; value: string | null } | { ok: false; message: string }>): ForwardReader {
  return async (u) => {
    const home = await checkHome(u.directory, u.uid);
    if (home) return home;
    if (await surelyAbsent(join(u.directory, '.forward'))) return { kind: 'none' };
    const r = await read(u.username);
    if (!r.ok) return { kind: 'ignored', why: r.message };
    return r.value === null ? { kind: 'none' } : { kind: 'found', text: r.value, path: join(u.directory, '.forward') };
  };
}

/**
 * How long a user's "no .forward" verdict is remembered: a .forward created takes effect at most
 * this long after (OpenSMTPD reads it at every expansion). Checking costs two lstats through
 * libuv's pool per recipient (~0.1 ms of CPU); a file that exists is read every time.
 */
export const FORWARD_ABSENCE_MS = 1000;

/** `read`, with a user's 'none' remembered for `ttlMs` (per uid and home; at most `max` users). */
export function rememberAbsence(read: ForwardReader, ttlMs = FORWARD_ABSENCE_MS, max = 4096): ForwardReader {
  const absent = new Map<string, number>();
  return async (u) => {
    const key = `${u.uid}:${u.directory}`;
    const until = absent.get(key);
    if (until !== undefined && until > Date.now()) return { kind: 'none' };
    const r = await read(u);
    if (r.kind === 'none') {
      if (absent.size >= max) absent.clear();
      absent.set(key, Date.now() + ttlMs);
    } else absent.delete(key);
    return r;
  };
}

/** Reads ~/.forward with this process's own rights (not privilege-separated, or tests). */
export const directForwardReader: ForwardReader = (u) => readForward(u.directory, u.uid);

export async function readForward(home: string, uid: number): Promise<ForwardRead> {
  const bad = await checkHome(home, uid);
  if (bad) return bad;
  const path = join(home, '.forward');
  let fh;
  try {
    fh = await fsp.open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { kind: 'none' };
    if (code === 'ELOOP') return { kind: 'ignored', why: `${path} is a symbolic link` };
    return { kind: 'temp', why: `${path}: ${code ?? 'unreadable'}` };
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) return { kind: 'ignored', why: `${path} is not a regular file` };
    if (st.uid !== uid) return { kind: 'ignored', why: `${path} is not owned by the user` };
    if (st.mode & WRITABLE_BY_OTHERS) return { kind: 'ignored', why: `${path} is group or world writable` };
    if (st.size > MAX_FORWARD_BYTES) return { kind: 'ignored', why: `${path} is larger than ${MAX_FORWARD_BYTES} bytes` };
    const text = (await fh.readFile()).toString('utf8');
    return { kind: 'found', text, path };
  } finally {
    await fh.close();
  }
}

/** Reads an `:include:` file: a regular file of bounded size; errors are temporary. */
export async function readInclude(path: string): Promise<{ ok: true; text: string } | { ok: false; why: string }> {
  let fh;
  try {
    fh = await fsp.open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    return { ok: false, why: `${path}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'}` };
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) return { ok: false, why: `${path} is not a regular file` };
    if (st.mode & 0o002) return { ok: false, why: `${path} is world writable` };
    if (st.size > 1024 * 1024) return { ok: false, why: `${path} is larger than 1 MiB` };
    return { ok: true, text: (await fh.readFile()).toString('utf8') };
  } finally {
    await fh.close();
  }
}
