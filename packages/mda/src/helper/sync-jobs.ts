// The file deliveries as the helper process runs them: synchronous system calls (the helper
// serves one uid and does nothing else; async calls cost a libuv pool hop each), except the
// fsyncs: those run in the pool, so that concurrent deliveries' fsyncs overlap (the filesystem
// journal then commits them together; serial fsyncs tripled the wall time per delivery).
// maildir: open tmp/<name> O_EXCL, write, fsync, close, rename/link into new/, then the caller
// fsyncs new/ (shared by the deliveries finishing together: DirSyncs).
// mbox: the append as the recipient (flock, From line, >From quoting, fsync, truncate back).
import { closeSync, constants, fsync, fstatSync, ftruncateSync, linkSync, lstatSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { FileJob } from '../file-jobs.js';
import { maildirHostname, type MaildirJob } from '../methods/maildir.js';
import { FLOCK_BINARY, type MboxJob } from '../methods/mbox.js';
import { FromQuoter } from '../methods/mbox-format.js';
import { delivered, fsFailure, tempfail, type MethodOutcome } from '../sink.js';

/** A delivery in progress in the helper. `write` remembers a failure; `commit` answers it. */
export interface SyncSink {
  write(chunk: Uint8Array): void;
  /** Make it durable and publish it; `syncDir`: a directory the caller must fsync before `ok` counts. */
  commit(done: (o: MethodOutcome, syncDir?: string) => void): void;
  abort(): void;
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
      commit(done) {
        if (failure) {
          discard();
          return done(failure);
        }
        fsync(tmp.fd, (err) => {
          try {
            if (err) throw err;
            open = false;
            closeSync(tmp.fd);
            publish(folder, tmp.name, job.envelope !== undefined);
          } catch (e) {
            discard();
            return done(fsFailure('maildir commit', e));
          }
          done(delivered(), join(folder, 'new'));
        });
      },
      abort() {
        failure ??= tempfail('delivery aborted');
        discard();
      },
    },
  };
}

type DirWaiter = (err: Error | null) => void;

/**
 * Directory fsyncs shared by the deliveries that published into one directory meanwhile (group
 * commit for a maildir): a caller waits for an fsync that starts after its call, so its entry
 * is covered; concurrent deliveries to one mailbox cost one directory fsync.
 */
export class DirSyncs {
  private readonly dirs = new Map<string, { waiters: DirWaiter[]; next: DirWaiter[] | null }>();
  /** Directory fsyncs started (tests check that they are shared). */
  count = 0;

  sync(dir: string, cb: DirWaiter): void {
    const st = this.dirs.get(dir);
    if (st) (st.next ??= []).push(cb);
    else this.start(dir, { waiters: [cb], next: null });
  }

  private start(dir: string, st: { waiters: DirWaiter[]; next: DirWaiter[] | null }): void {
    this.dirs.set(dir, st);
    this.count++;
    const finish = (err: Error | null): void => {
      for (const w of st.waiters) w(err);
      if (st.next) this.start(dir, { waiters: st.next, next: null });
      else this.dirs.delete(dir);
    };
    let fd: number;
    try {
      fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    } catch (e) {
      return finish(e as Error);
    }
    fsync(fd, (err) => {
      closeSync(fd);
      finish(err);
    });
  }
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
      commit(done) {
        if (failure) {
          rollback();
          return done(failure);
        }
        try {
          writeAllSync(fd, quoter.end());
        } catch (e) {
          rollback();
          return done(fsFailure(`mailbox ${job.path} commit`, e));
        }
        fsync(fd, (err) => {
          if (err) {
            rollback();
            return done(fsFailure(`mailbox ${job.path} commit`, err));
          }
          open = false;
          closeSync(fd);
          done(delivered());
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
