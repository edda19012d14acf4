// A small file system of the test's own for the fault tests: a tmpfs of a few MiB mounted on a
// directory (root only), a filler file that takes its free space, and the unmount. tmpfs answers
// ENOSPC to write(2) as a full disk does, and SQLite reports SQLITE_FULL for it (checked in
// faults-disk.test.ts), so the queue meets a real full disk without a loop device.
import { mkdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isRoot } from './paths.js';
import { run } from './proc.js';

export interface SmallFs {
  dir: string;
  /** Bytes free to an ordinary writer (statfs f_bavail). */
  free(): number;
  /** Blocks in all, and their size. */
  size(): { blocks: number; bsize: number };
  /** Write DIR/filler so that `leave` bytes stay free (0: the file system is full). */
  fill(leave: number): void;
  /** Remove the filler. */
  unfill(): void;
  unmount(): Promise<void>;
}

/** Why the fault tests that need a mount skip, or null when they can run. */
export function mountSkipReason(): string | null {
  return isRoot() ? null : 'not root: cannot mount a tmpfs for the spool';
}

/** Mounts a tmpfs of `mib` MiB on `dir` (created). */
export async function mountTmpfs(dir: string, mib: number): Promise<SmallFs> {
  mkdirSync(dir, { recursive: true });
  const r = await run('mount', ['-t', 'tmpfs', '-o', `size=${mib}m,mode=0755`, 'tmpfs', dir], { timeoutMs: 10_000 });
  if (r.code !== 0) throw new Error(`mount tmpfs on ${dir}: ${r.stderr.trim()}`);
  const filler = path.join(dir, 'filler');
  const fs: SmallFs = {
    dir,
    free() {
      const s = statfsSync(dir);
      return s.bavail * s.bsize;
    },
    size() {
      const s = statfsSync(dir);
      return { blocks: s.blocks, bsize: s.bsize };
    },
    fill(leave) {
      rmSync(filler, { force: true });
      const want = Math.max(0, fs.free() - leave);
      try {
        writeFileSync(filler, Buffer.alloc(want));
      } catch (e) {
        // ENOSPC when the space shrank meanwhile: the file system is full, which is the point.
        if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
      }
    },
    unfill() {
      rmSync(filler, { force: true });
    },
    async unmount() {
      let u = await run('umount', [dir], { timeoutMs: 10_000 });
      if (u.code !== 0) u = await run('umount', ['-l', dir], { timeoutMs: 10_000 });
      if (u.code !== 0) throw new Error(`umount ${dir}: ${u.stderr.trim()}`);
    },
  };
  return fs;
}
