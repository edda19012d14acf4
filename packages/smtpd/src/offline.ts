// The offline queue, the daemon's side (REFERENCE 3): `<spool>/offline/` is a drop box (root's,
// mode 1733) where sendmail leaves messages while the daemon is down. At start every entry is
// treated as hostile (the class of CVE-2020-8793): opened O_NOFOLLOW|O_NONBLOCK, then fstat on that
// descriptor must show a regular file with one link, owned by a known user, not writable by others,
// of bounded size, with a JSON header our schema accepts. It is then replayed by running sendmail
// as its owner (uid, gid, no supplementary groups) on the enqueue socket, and removed once accepted.
import { execFile, spawn } from 'node:child_process';
import { constants, type Stats } from 'node:fs';
import { chmod, lstat, mkdir, open, readdir, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OFFLINE_DIR, OFFLINE_MAX_HEADER, parseOfflineHeader, type OfflineHeader } from '@tsmtpd/proto/offline.js';
import type { Logger } from '@tsmtpd/actor';

/** sendmail, run as the file's owner for each replay. */
export const SENDMAIL_BIN = fileURLToPath(new URL('../../smtpctl/bin/sendmail.js', import.meta.url));
export const REPLAY_CONCURRENCY = 5;
export const REPLAY_TIMEOUT_MS = 300_000;
/** A file beyond this is refused (the message limit, plus the header line). */
export const DEFAULT_MAX_OFFLINE_BYTES = 512 * 1024 * 1024;

/** Create or repair the drop box: a real directory of ours, mode 1733. Null, or what is wrong. */
export async function prepareOfflineDir(spool: string): Promise<string | null> {
  const dir = join(spool, OFFLINE_DIR);
  try {
    await mkdir(dir, { mode: 0o1733 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') return `cannot create ${dir}: ${(e as Error).message}`;
  }
  const st = await lstat(dir);
  if (!st.isDirectory()) return `${dir} is not a directory`;
  if (typeof process.getuid === 'function' && st.uid !== process.getuid()) return `${dir} is owned by uid ${st.uid}, not by us`;
  await chmod(dir, 0o1733); // mkdir's mode passed through the umask
  return null;
}

interface Owner {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

function passwdByUid(uid: number): Promise<Owner | null> {
  return new Promise((resolve) => {
    execFile('getent', ['passwd', String(uid)], { timeout: 5000 }, (err, stdout) => {
      const f = err ? [] : (String(stdout).split('\n')[0] ?? '').split(':');
      if (f.length < 7 || f[2] !== String(uid)) return resolve(null);
      resolve({ name: f[0] ?? '', uid, gid: Number(f[3]), home: f[5] ?? '/' });
    });
  });
}

/** Why a file may not be replayed, or null. `st` comes from fstat of the descriptor we read. */
export function refusal(st: Stats, maxBytes: number): string | null {
  if (!st.isFile()) return st.isFIFO() ? 'not a regular file (fifo)' : 'not a regular file';
  if (st.nlink !== 1) return `hard link (${st.nlink} links)`;
  if ((st.mode & 0o022) !== 0) return 'writable by others';
  if (st.size > maxBytes) return `too big (${st.size} bytes)`;
  return null;
}

async function readHeader(fh: FileHandle): Promise<{ header: OfflineHeader; length: number } | null> {
  const buf = Buffer.alloc(OFFLINE_MAX_HEADER + 1);
  const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
  const nl = buf.subarray(0, bytesRead).indexOf(0x0a);
  if (nl < 0) return null;
  const header = parseOfflineHeader(buf.toString('utf8', 0, nl));
  return header ? { header, length: nl + 1 } : null;
}

export interface ReplayOptions {
  spool: string;
  log: Logger;
  maxBytes?: number;
  sendmail?: string;
  /** Files refused or failed, by name: their signature then; not tried again while unchanged. */
  refused?: Map<string, string>;
}

/** What identifies a file's state well enough to see that it changed. */
function signature(st: Stats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
}

/**
 * Replay now, then every `intervalMs`: a sendmail that found no socket while the daemon was
 * starting wrote its file after the first scan. A refused or failed file is logged once, and tried
 * again only when it changes. Returns the stop function.
 */
export function startOfflineReplay(o: ReplayOptions, intervalMs = 60_000): () => void {
  const opts: ReplayOptions = { ...o, refused: o.refused ?? new Map() };
  let running = false;
  const scan = () => {
    if (running) return;
    running = true;
    void replayOffline(opts).finally(() => (running = false));
  };
  scan();
  const timer = setInterval(scan, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** Replay every entry of the drop box, a few at a time. Resolves when all are done. */
export async function replayOffline(o: ReplayOptions): Promise<void> {
  const dir = join(o.spool, OFFLINE_DIR);
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (e) {
    o.log.warn('offline queue unreadable', { dir, error: (e as Error).message });
    return;
  }
  if (o.refused) {
    for (const known of [...o.refused.keys()]) if (!names.includes(known)) o.refused.delete(known);
    names = await unchangedFiltered(o.refused, dir, names);
  }
  if (names.length === 0) return;
  o.log.info('offline queue', { files: names.length });
  let next = 0;
  const worker = async () => {
    while (next < names.length) {
      const name = names[next++] as string;
      await replayOne(o, dir, name).catch((e: unknown) => o.log.warn('offline replay failed', { file: name, error: (e as Error).message }));
    }
  };
  await Promise.all(Array.from({ length: Math.min(REPLAY_CONCURRENCY, names.length) }, worker));
}

/** The names not refused before, or changed since. */
async function unchangedFiltered(refused: Map<string, string>, dir: string, names: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const n of names) {
    const was = refused.get(n);
    if (was === undefined) {
      out.push(n);
      continue;
    }
    const st = await lstat(join(dir, n)).catch(() => null);
    if (st && signature(st) !== was) out.push(n);
  }
  return out;
}

async function replayOne(o: ReplayOptions, dir: string, name: string): Promise<void> {
  const path = join(dir, name);
  let fh: FileHandle;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // A symlink (ELOOP) is only a name in our directory: removing it touches nothing else.
    if (code === 'ELOOP') await discard(o, path, name, 'symbolic link');
    else {
      o.log.warn('offline file refused', { file: name, reason: code ?? (e as Error).message });
      const st = await lstat(path).catch(() => null);
      if (st) o.refused?.set(name, signature(st));
    }
    return;
  }
  try {
    const st = await fh.stat();
    const why = refusal(st, o.maxBytes ?? DEFAULT_MAX_OFFLINE_BYTES);
    // A link or a fifo is removed (unlinking a name never touches what it points at); a regular
    // file we will not read is kept for the postmaster to look at.
    if (why !== null) return void (await (st.isFile() && st.nlink === 1 ? keep(o, name, why, st) : discard(o, path, name, why)));
    const owner = await passwdByUid(st.uid);
    if (!owner) return keep(o, name, `owner uid ${st.uid} is not a known user`, st);
    const ourUid = process.getuid?.() ?? 0;
    if (ourUid !== 0 && st.uid !== ourUid) return keep(o, name, `owned by ${owner.name}; only root can send as another user`, st);
    const head = await readHeader(fh);
    if (!head) return keep(o, name, 'not an offline message (bad header)', st);
    const r = await runSendmail(o, fh, head.length, head.header, owner);
    if (r.code !== 0) return keep(o, name, `sendmail exited ${r.code ?? r.signal}: ${r.stderr.trim().slice(-300)}`, st);
    // Remove the entry we read, not whatever may have been renamed over it meanwhile.
    const now = await lstat(path).catch(() => null);
    if (now && now.ino === st.ino && now.dev === st.dev) await unlink(path);
    o.log.info('offline message sent', { file: name, user: owner.name, uid: owner.uid });
  } finally {
    await fh.close();
  }
}

function keep(o: ReplayOptions, name: string, reason: string, st: Stats): void {
  o.log.warn('offline file refused', { file: name, reason, kept: true });
  o.refused?.set(name, signature(st));
}

async function discard(o: ReplayOptions, path: string, name: string, reason: string): Promise<void> {
  o.log.warn('offline file refused', { file: name, reason, removed: true });
  await unlink(path).catch(() => undefined);
}

/** sendmail -S ARGS as the owner, the message (after the header line) on its stdin. */
function runSendmail(o: ReplayOptions, fh: FileHandle, offset: number, h: OfflineHeader, owner: Owner): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  return new Promise((resolve) => {
    const env = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: owner.home, USER: owner.name, LOGNAME: owner.name, SMTPD_SPOOL: o.spool, TSMTPD_SUBMIT_TIME: String(h.time) };
    const ids = (process.getuid?.() ?? 0) === 0 ? { uid: owner.uid, gid: owner.gid } : {};
    const child = spawn(process.execPath, [o.sendmail ?? SENDMAIL_BIN, '-S', ...h.argv], { ...ids, cwd: '/', env, stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (b: Buffer) => {
      if (stderr.length < 4096) stderr += b.toString('utf8');
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), REPLAY_TIMEOUT_MS);
    child.stdin?.on('error', () => undefined); // a child that exits early closes its stdin
    fh.createReadStream({ start: offset, autoClose: false }).on('error', () => child.kill('SIGKILL')).pipe(child.stdin!);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: null, signal: null, stderr: e.message });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr });
    });
  });
}
