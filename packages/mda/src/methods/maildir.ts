// maildir delivery (REFERENCE 8.2, mail.maildir): create Maildir/{cur,new,tmp} 0700 as needed,
// write tmp/<epoch>.<hex>.<host> with O_EXCL 0600, fsync, link into new/, fsync new/.
// `.<extension>` subfolder when it exists; `junk` files spam into `.Junk`. Runs as the
// recipient: in the mda worker (unprivileged daemon) or in the per-uid helper (root daemon).
import { constants, promises as fsp } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { delivered, fsFailure, tempfail, type SinkOpen, type Sink, type MethodOutcome } from '../sink.js';

/** Everything a maildir delivery needs, as plain data (it crosses to the helper process). */
export interface MaildirJob {
  kind: 'maildir';
  /** Absolute path of the Maildir (format specifiers and `~` already resolved). */
  root: string;
  /** File this message into `.Junk` (the action has `junk` and the message is flagged). */
  junk: boolean;
  /** Sub-address of the recipient, if any. */
  extension: string | null;
  hostname: string;
  /**
   * The envelope being delivered: its file is then named `<ctime>.<evpid>.<host>`, the same at
   * every attempt, so an attempt repeated after a crash finds the file of the first one in
   * new/ and does not deliver the message twice.
   */
  envelope?: { ctime: number; id: string } | undefined;
}

const SUBDIRS = ['cur', 'new', 'tmp'] as const;
const NAME_ATTEMPTS = 8;

async function ensureMaildir(dir: string): Promise<void> {
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  for (const sub of SUBDIRS) {
    try {
      await fsp.mkdir(join(dir, sub), { mode: 0o700 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await fsp.lstat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** A sub-address usable as a Maildir++ folder name: no '/', not hidden, not empty. */
function folderName(extension: string | null): string | null {
  if (extension === null || extension === '' || extension.includes('/') || extension.startsWith('.') || extension.includes('\0')) return null;
  return extension;
}

/** The folder this delivery goes to (created when it is `.Junk`). */
async function chooseFolder(job: MaildirJob): Promise<string> {
  if (job.junk) {
    const junk = join(job.root, '.Junk');
    await ensureMaildir(junk);
    return junk;
  }
  const ext = folderName(job.extension);
  if (ext !== null) {
    for (const name of new Set([ext, ext.toLowerCase()])) {
      const dir = join(job.root, '.' + name);
      if (await isDirectory(dir)) {
        await ensureMaildir(dir);
        return dir;
      }
    }
  }
  return job.root;
}

/** Maildir host part: '/' and ':' cannot appear in it (they are escaped as octal). */
export function maildirHostname(host: string): string {
  return host.replace(/\//g, '\\057').replace(/:/g, '\\072') || 'localhost';
}

async function createTmpFile(folder: string, hostname: string, envelope?: { ctime: number; id: string } | undefined): Promise<{ name: string; fh: fsp.FileHandle }> {
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  if (envelope) {
    const name = `${envelope.ctime}.E${envelope.id}.${maildirHostname(hostname)}`;
    const path = join(folder, 'tmp', name);
    // A file of that name in tmp/ is the leftover of an attempt that died (one attempt per
    // envelope runs at a time): remove it and start again.
    await fsp.unlink(path).catch(() => {});
    return { name, fh: await fsp.open(path, flags, 0o600) };
  }
  for (let i = 0; ; i++) {
    const name = `${Math.floor(Date.now() / 1000)}.${randomBytes(4).toString('hex')}.${maildirHostname(hostname)}`;
    try {
      return { name, fh: await fsp.open(join(folder, 'tmp', name), flags, 0o600) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || i + 1 >= NAME_ATTEMPTS) throw e;
    }
  }
}

/** Directory fsyncs made (tests check that concurrent deliveries share them). */
export const maildirCounters = { dirSyncs: 0 };

async function fsyncDir(dir: string): Promise<void> {
  maildirCounters.dirSyncs++;
  const fh = await fsp.open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * One directory fsync shared by the deliveries that linked into the same folder meanwhile
 * (group commit for a maildir): a caller waits for an fsync that *starts after* its call, so
 * its link is covered; concurrent deliveries to one mailbox then cost one directory fsync.
 */
class DirSync {
  private running: Promise<void> | null = null;
  private queued: Promise<void> | null = null;

  constructor(
    private readonly dir: string,
    private readonly onIdle: () => void,
  ) {}

  sync(): Promise<void> {
    if (!this.running) return this.start();
    this.queued ??= this.running.catch(() => {}).then(() => {
      this.queued = null;
      return this.start();
    });
    return this.queued;
  }

  private start(): Promise<void> {
    const p: Promise<void> = fsyncDir(this.dir).finally(() => {
      if (this.running === p) this.running = null;
      if (!this.running && !this.queued) this.onIdle();
    });
    this.running = p;
    return p;
  }
}

const dirSyncs = new Map<string, DirSync>();

/** fsync `dir`, sharing the call with concurrent deliveries into it. */
export function syncDirShared(dir: string): Promise<void> {
  let d = dirSyncs.get(dir);
  if (!d) {
    d = new DirSync(dir, () => dirSyncs.delete(dir));
    dirSyncs.set(dir, d);
  }
  return d.sync();
}

/**
 * Move tmp/name into new/ without ever replacing an existing file (link, then unlink). A file
 * already there under an envelope's name is this envelope delivered by an earlier attempt.
 */
async function publish(folder: string, name: string, envelopeNamed: boolean): Promise<void> {
  const from = join(folder, 'tmp', name);
  const to = join(folder, 'new', name);
  try {
    await fsp.link(from, to);
    await fsp.unlink(from);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' && envelopeNamed) {
      await fsp.unlink(from);
      return;
    }
    // Filesystems without hard links: rename (the name is unique, O_EXCL made sure).
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EXDEV') throw e;
    await fsp.rename(from, to);
  }
  await syncDirShared(join(folder, 'new'));
}

export async function writeAll(fh: fsp.FileHandle, chunk: Uint8Array): Promise<void> {
  let off = 0;
  while (off < chunk.byteLength) {
    const { bytesWritten } = await fh.write(chunk, off, chunk.byteLength - off);
    if (bytesWritten <= 0) throw Object.assign(new Error('short write'), { code: 'EIO' });
    off += bytesWritten;
  }
}

/** Open a maildir delivery: the folders exist and the tmp file is open when this answers. */
export async function openMaildir(job: MaildirJob): Promise<SinkOpen> {
  let folder: string;
  let tmp: { name: string; fh: fsp.FileHandle };
  try {
    await ensureMaildir(job.root);
    folder = await chooseFolder(job);
    tmp = await createTmpFile(folder, job.hostname, job.envelope);
  } catch (e) {
    return { ok: false, outcome: fsFailure(`maildir ${job.root}`, e) };
  }
  const tmpPath = join(folder, 'tmp', tmp.name);
  let failure: MethodOutcome | null = null;
  let closed = false;
  const discard = async (): Promise<void> => {
    if (!closed) {
      closed = true;
      await tmp.fh.close().catch(() => {});
    }
    await fsp.unlink(tmpPath).catch(() => {});
  };
  const sink: Sink = {
    async write(chunk) {
      if (failure) return;
      try {
        await writeAll(tmp.fh, chunk);
      } catch (e) {
        failure = fsFailure('maildir write', e);
      }
    },
    async end() {
      if (failure) {
        await discard();
        return failure;
      }
      try {
        await tmp.fh.sync();
        closed = true;
        await tmp.fh.close();
        await publish(folder, tmp.name, job.envelope !== undefined);
        return delivered();
      } catch (e) {
        await discard();
        return fsFailure('maildir commit', e);
      }
    },
    async abort() {
      failure ??= tempfail('delivery aborted');
      await discard();
    },
  };
  return { ok: true, sink };
}
