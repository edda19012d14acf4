// The file deliveries as the helper process runs them: synchronous system calls (the helper
// serves one uid and does nothing else; an async call costs a libuv pool hop: futexes, an
// eventfd wake-up, an epoll turn), but for the fsyncs, which go through the caller's Fsync: on
// this thread for a lone delivery, in the pool when several end together (their fsyncs overlap).
// maildir: open tmp/<name> O_EXCL, write, fsync, close, rename/link into new/, then the caller
// fsyncs new/ once for the deliveries that ended together (syncDirs).
// mbox: the append as the recipient (flock, From line, >From quoting, fsync, truncate back).
import { closeSync, constants, fsync, fsyncSync, fstatSync, ftruncateSync, linkSync, lstatSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { FileJob } from '../file-jobs.js';
import { maildirHostname, type MaildirJob } from '../methods/maildir.js';
import { FLOCK_BINARY, type MboxJob } from '../methods/mbox.js';
import { FromQuoter } from '../methods/mbox-format.js';
import { delivered, fsFailure, tempfail, type MethodOutcome } from '../sink.js';

/** fsync(2) of an open fd, answered through `done` (at once, or from libuv's pool). */
export type Fsync = (fd: number, done: (err: Error | null) => void) => void;

/** fsync on this thread: no pool hop, `done` called before it returns. */
export const fsyncHere: Fsync = (fd, done) => {
  try {
    fsyncSync(fd);
  } catch (e) {
    return done(e as Error);
  }
  done(null);
};

/** fsync in libuv's pool: concurrent ones overlap (the device merges their cache flushes). */
export const fsyncPool: Fsync = (fd, done) => fsync(fd, done);

/** A delivery in progress in the helper. `write` remembers a failure; `commit` answers it. */
export interface SyncSink {
  write(chunk: Uint8Array): void;
  /** Make it durable and publish it; `syncDir`: a directory the caller must fsync before `ok` counts. */
  commit(sync: Fsync, done: (c: Committed) => void): void;
  abort(): void;
}

export interface Committed {
  outcome: MethodOutcome;
  syncDir?: string;
}

export type SyncOpen = { ok: true; sink: SyncSink } | { ok: false; outcome: MethodOutcome };

const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const NAME_ATTEMPTS = 8;

function code(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException)?.code;
}

function ensureMaildir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const sub of ['cur', 'new', 'tmp']) {
    try {
      mkdirSync(join(dir, sub), { mode: 0o700 });
    } catch (e) {
      if (code(e) !== 'EEXIST') throw e;
    }
  }
}

function isDirectory(path: string): boolean {
  try {
    return lstatSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** As methods/maildir.ts: `.Junk` for flagged spam, `.<extension>` when that folder exists. */
function chooseFolder(job: MaildirJob): string {
  if (job.junk) {
    const junk = join(job.root, '.Junk');
    ensureMaildir(junk);
    return junk;
  }
  const ext = job.extension;
  if (ext !== null && ext !== '' && !ext.includes('/') && !ext.startsWith('.')) {
    for (const name of new Set([ext, ext.toLowerCase()])) {
      const dir = join(job.root, '.' + name);
      if (isDirectory(dir)) {
        ensureMaildir(dir);
        return dir;
      }
    }
  }
  return job.root;
}

/** Open tmp/<name>: the fast path is one open(2); a missing maildir is created and tried again. */
function openTmp(folder: string, job: MaildirJob): { name: string; fd: number } {
  const host = maildirHostname(job.hostname);
  for (let i = 0; ; i++) {
    const name = job.envelope ? `${job.envelope.ctime}.E${job.envelope.id}.${host}` : `${Math.floor(Date.now() / 1000)}.${randomBytes(4).toString('hex')}.${host}`;
    const path = join(folder, 'tmp', name);
    try {
      return { name, fd: openSync(path, CREATE, 0o600) };
    } catch (e) {
      if (i + 1 >= NAME_ATTEMPTS) throw e;
      if (code(e) === 'ENOENT') ensureMaildir(folder);
      // An envelope-named leftover in tmp/ is an attempt that died (one attempt per envelope
      // runs at a time): remove it and start again.
      else if (code(e) === 'EEXIST' && job.envelope) unlinkSync(path);
      else if (code(e) !== 'EEXIST') throw e;
    }
  }
}

function writeAllSync(fd: number, chunk: Uint8Array): void {
  let off = 0;
  while (off < chunk.byteLength) {
    const n = writeSync(fd, chunk, off, chunk.byteLength - off);
    if (n <= 0) throw Object.assign(new Error('short write'), { code: 'EIO' });
    off += n;
  }
}

/**
 * tmp/ -> new/. An envelope-named file is renamed (one call; a file of that name in new/ is this
 * envelope from an earlier attempt, so replacing it duplicates nothing). A random name is linked
 * and unlinked, never replacing anything (rename where hard links are not supported).
 */
function publish(folder: string, name: string, envelopeNamed: boolean): void {
  const from = join(folder, 'tmp', name);
  const to = join(folder, 'new', name);
  try {
    if (envelopeNamed) return renameSync(from, to);
  } catch (e) {
    if (code(e) !== 'ENOENT') throw e;
    ensureMaildir(folder); // new/ removed meanwhile (tmp/ was there)
    return renameSync(from, to);
  }
  try {
    linkSync(from, to);
    unlinkSync(from);
  } catch (e) {
    const c = code(e);
    if (c !== 'EPERM' && c !== 'ENOTSUP' && c !== 'EXDEV') throw e;
    renameSync(from, to);
  }
}

export function openMaildirSync(job: MaildirJob): SyncOpen {
  let folder: string;
  let tmp: { name: string; fd: number };
  try {
    folder = chooseFolder(job);
    tmp = openTmp(folder, job);
  } catch (e) {
    return { ok: false, outcome: fsFailure(`maildir ${job.root}`, e) };
  }
  const tmpPath = join(folder, 'tmp', tmp.name);
  let failure: MethodOutcome | null = null;
  let open = true;
  const discard = (): void => {
    if (open) closeSync(tmp.fd);
    open = false;
    try {
      unlinkSync(tmpPath);
    } catch {
      // already gone
    }
  };
  return {
    ok: true,
    sink: {
      write(chunk) {
        if (failure) return;
        try {
          writeAllSync(tmp.fd, chunk);
        } catch (e) {
          failure = fsFailure('maildir write', e);
        }
      },
      commit(sync, done) {
        if (failure) {
          discard();
          return done({ outcome: failure });
        }
        sync(tmp.fd, (err) => {
          try {
            if (err) throw err;
            open = false;
            closeSync(tmp.fd);
            publish(folder, tmp.name, job.envelope !== undefined);
          } catch (e) {
            discard();
            return done({ outcome: fsFailure('maildir commit', e) });
          }
          done({ outcome: delivered(), syncDir: join(folder, 'new') });
        });
      },
      abort() {
        failure ??= tempfail('delivery aborted');
        discard();
      },
    },
  };
}

/**
 * fsync each of these directories once (group commit for a maildir: the deliveries that ended
 * in one read from the socket share one fsync of new/); `done` gets the failures by directory.
 */
export function syncDirs(dirs: Iterable<string>, sync: Fsync, done: (failed: Map<string, Error>) => void): void {
  const failed = new Map<string, Error>();
  const unique = [...new Set(dirs)];
  let left = unique.length + 1; // + 1: done is called once all were started
  const settle = (): void => void (--left === 0 && done(failed));
  for (const dir of unique) {
    let fd: number;
    try {
      fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    } catch (e) {
      failed.set(dir, e as Error);
      settle();
      continue;
    }
    sync(fd, (err) => {
      closeSync(fd);
      if (err) failed.set(dir, err);
      settle();
    });
  }
  settle();
}

function checkMailbox(fd: number, job: MboxJob): MethodOutcome | null {
  const st = fstatSync(fd);
  if (!st.isFile()) return tempfail(`mailbox ${job.path} is not a regular file`);
  if (st.nlink !== 1) return tempfail(`mailbox ${job.path} has ${st.nlink} links`);
  if (job.uid !== null && st.uid !== job.uid) return tempfail(`mailbox ${job.path} is not owned by uid ${job.uid}`);
  return null;
}

/** flock(1) locks the open file description it inherits as fd 3; the lock stays with ours. */
function flockSync(fd: number): MethodOutcome | null {
  const r = spawnSync(FLOCK_BINARY, ['-x', '-w', '30', '3'], { stdio: ['ignore', 'ignore', 'ignore', fd], env: {} });
  if (r.error && code(r.error) === 'ENOENT') return null; // no flock(1): the dotlock alone protects
  return r.status === 0 ? null : tempfail(`mailbox is locked (flock exit ${r.status ?? r.signal})`);
}

export function openMboxSync(job: MboxJob): SyncOpen {
  let fd: number;
  try {
    fd = openSync(job.path, constants.O_WRONLY | constants.O_APPEND | constants.O_NOFOLLOW | (job.create ? constants.O_CREAT : 0), 0o600);
  } catch (e) {
    return { ok: false, outcome: fsFailure(`mailbox ${job.path}`, e) };
  }
  let start = -1;
  let open = true;
  const rollback = (): void => {
    if (!open) return;
    open = false;
    try {
      if (start >= 0) ftruncateSync(fd, start);
    } catch {
      // nothing more to undo
    }
    closeSync(fd);
  };
  try {
    const bad = checkMailbox(fd, job) ?? flockSync(fd);
    if (bad) {
      rollback();
      return { ok: false, outcome: bad };
    }
    start = fstatSync(fd).size;
    writeAllSync(fd, Buffer.from(job.fromLine, 'utf8'));
  } catch (e) {
    rollback();
    return { ok: false, outcome: fsFailure(`mailbox ${job.path}`, e) };
  }
  const quoter = new FromQuoter();
  let failure: MethodOutcome | null = null;
  return {
    ok: true,
    sink: {
      write(chunk) {
        if (failure) return;
        try {
          writeAllSync(fd, quoter.push(chunk));
        } catch (e) {
          failure = fsFailure(`mailbox ${job.path} write`, e);
        }
      },
      commit(sync, done) {
        if (failure) {
          rollback();
          return done({ outcome: failure });
        }
        try {
          writeAllSync(fd, quoter.end());
        } catch (e) {
          rollback();
          return done({ outcome: fsFailure(`mailbox ${job.path} commit`, e) });
        }
        sync(fd, (err) => {
          if (err) {
            rollback();
            return done({ outcome: fsFailure(`mailbox ${job.path} commit`, err) });
          }
          open = false;
          closeSync(fd);
          done({ outcome: delivered() });
        });
      },
      abort() {
        failure ??= tempfail('delivery aborted');
        rollback();
      },
    },
  };
}

export function openFileJobSync(job: FileJob): SyncOpen {
  return job.kind === 'maildir' ? openMaildirSync(job) : openMboxSync(job);
}
