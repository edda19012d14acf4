// mbox delivery to /var/mail/USER (REFERENCE 8.2, mail.local). The spool side (creating the
// mailbox 0600 owned by the user, the USER.lock dotlock) runs where the spool is writable: in
// the mda worker, as root when the daemon is root. The append (flock, From line, >From
// quoting, fsync, truncate back on error) runs as the recipient: in-process or in the helper.
import { constants, promises as fsp } from 'node:fs';
import { spawn } from 'node:child_process';
import { dirname } from 'node:path';
import { delivered, fsFailure, tempfail, type MethodOutcome, type Sink, type SinkOpen } from '../sink.js';
import { writeAll } from './maildir.js';
import { FromQuoter } from './mbox-format.js';

/** The append step, as plain data (it crosses to the helper process). */
export interface MboxJob {
  kind: 'mbox';
  path: string;
  /** `From sender date` line, already formatted. */
  fromLine: string;
  /** Owner the mailbox must have; null when the daemon is not root (no check). */
  uid: number | null;
  /** Create the file (0600, O_EXCL) when missing: `/file` targets, written as their user. */
  create?: boolean | undefined;
}

export const FLOCK_BINARY = '/usr/bin/flock';
const FLOCK_WAIT_S = 30;

/** Refuse a spool directory anyone may write to without the sticky bit (OpenSMTPD 7.8). */
async function checkSpool(path: string): Promise<MethodOutcome | null> {
  const st = await fsp.stat(dirname(path));
  if ((st.mode & 0o002) !== 0 && (st.mode & 0o1000) === 0) return tempfail(`mail spool ${dirname(path)} is world-writable`);
  return null;
}

/** The mailbox must be a plain file with one link, owned by the user: never follow a planted link. */
function checkMailbox(st: { isFile(): boolean; nlink: number; uid: number }, uid: number | null, path: string): MethodOutcome | null {
  if (!st.isFile()) return tempfail(`mailbox ${path} is not a regular file`);
  if (st.nlink !== 1) return tempfail(`mailbox ${path} has ${st.nlink} links`);
  if (uid !== null && st.uid !== uid) return tempfail(`mailbox ${path} is not owned by uid ${uid}`);
  return null;
}

/**
 * Spool side, step 1: make sure the mailbox exists (created 0600 and, as root, given to the
 * user) and is safe to append to. Returns a failure, or null when ready.
 */
export async function prepareMailbox(path: string, owner: { uid: number; gid: number } | null): Promise<MethodOutcome | null> {
  try {
    const bad = await checkSpool(path);
    if (bad) return bad;
    try {
      const fh = await fsp.open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      try {
        if (owner) await fh.chown(owner.uid, owner.gid);
      } finally {
        await fh.close();
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    return checkMailbox(await fsp.lstat(path), owner?.uid ?? null, path);
  } catch (e) {
    return fsFailure(`mailbox ${path}`, e);
  }
}

export interface DotlockOptions {
  /** A lock older than this is stale and removed (ms). */
  staleMs?: number;
  attempts?: number;
  retryMs?: number;
}

/**
 * Spool side, step 2: the USER.lock dotlock other mbox writers (mail.local, procmail, mutt,
 * dovecot) respect: created with O_EXCL, holding our pid; stale after 5 minutes; bounded
 * retries. Answers a release function, or a failure.
 */
export async function acquireDotlock(path: string, opts: DotlockOptions = {}): Promise<{ ok: true; release: () => Promise<void> } | { ok: false; outcome: MethodOutcome }> {
  const lock = `${path}.lock`;
  const staleMs = opts.staleMs ?? 5 * 60_000;
  const attempts = opts.attempts ?? 60;
  const retryMs = opts.retryMs ?? 500;
  for (let i = 0; i < attempts; i++) {
    try {
      const fh = await fsp.open(lock, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      await fh.writeFile(`${process.pid}\n`).finally(() => fh.close());
      return { ok: true, release: () => fsp.unlink(lock).catch(() => {}) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') return { ok: false, outcome: fsFailure(`lock ${lock}`, e) };
    }
    try {
      const st = await fsp.lstat(lock);
      if (Date.now() - st.mtimeMs > staleMs) {
        await fsp.unlink(lock).catch(() => {});
        continue;
      }
    } catch {
      continue; // gone meanwhile: try again at once
    }
    await new Promise((r) => setTimeout(r, retryMs));
  }
  return { ok: false, outcome: tempfail(`mailbox ${path} is locked (${lock})`) };
}

/**
 * flock() the open mailbox without a native addon: flock(1) locks the open file description
 * it inherits as fd 3, and the lock stays with our descriptor after it exits (flock locks
 * belong to the open file description). Released when we close the file.
 */
async function flockFd(fd: number): Promise<MethodOutcome | null> {
  try {
    await fsp.access(FLOCK_BINARY, constants.X_OK);
  } catch {
    return null; // no flock(1): the dotlock alone protects the mailbox
  }
  return new Promise((resolve) => {
    const child = spawn(FLOCK_BINARY, ['-x', '-w', String(FLOCK_WAIT_S), '3'], { stdio: ['ignore', 'ignore', 'ignore', fd], env: {} });
    child.on('error', (e) => resolve(tempfail(`flock: ${e.message}`)));
    child.once('exit', (code) => resolve(code === 0 ? null : tempfail(`mailbox is locked (flock exit ${code})`)));
  });
}

/** Recipient side: lock and append one message. The mailbox exists (prepareMailbox). */
export async function openMbox(job: MboxJob): Promise<SinkOpen> {
  let fh: fsp.FileHandle;
  let start = -1;
  try {
    fh = await fsp.open(job.path, constants.O_WRONLY | constants.O_APPEND | constants.O_NOFOLLOW | (job.create ? constants.O_CREAT : 0), 0o600);
  } catch (e) {
    return { ok: false, outcome: fsFailure(`mailbox ${job.path}`, e) };
  }
  try {
    const bad = checkMailbox(await fh.stat(), job.uid, job.path) ?? (await flockFd(fh.fd));
    if (bad) {
      await fh.close();
      return { ok: false, outcome: bad };
    }
    start = (await fh.stat()).size;
    await writeAll(fh, Buffer.from(job.fromLine, 'utf8'));
  } catch (e) {
    if (start >= 0) await fh.truncate(start).catch(() => {});
    await fh.close().catch(() => {});
    return { ok: false, outcome: fsFailure(`mailbox ${job.path}`, e) };
  }
  return { ok: true, sink: mboxSink(fh, start, job.path) };
}

function mboxSink(fh: fsp.FileHandle, start: number, path: string): Sink {
  const quoter = new FromQuoter();
  let failure: MethodOutcome | null = null;
  let closed = false;
  // Undo a partial append so the mailbox never holds half a message (mail.local does the same).
  const rollback = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await fh.truncate(start).catch(() => {});
    await fh.close().catch(() => {});
  };
  return {
    async write(chunk) {
      if (failure) return;
      try {
        await writeAll(fh, quoter.push(chunk));
      } catch (e) {
        failure = fsFailure(`mailbox ${path} write`, e);
      }
    },
    async end() {
      if (failure) {
        await rollback();
        return failure;
      }
      try {
        await writeAll(fh, quoter.end());
        await fh.sync();
        closed = true;
        await fh.close();
        return delivered();
      } catch (e) {
        await rollback();
        return fsFailure(`mailbox ${path} commit`, e);
      }
    },
    async abort() {
      failure ??= tempfail('delivery aborted');
      await rollback();
    },
  };
}
