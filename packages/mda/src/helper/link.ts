// How the mda worker reaches a per-uid delivery helper: a byte link (HelperLink) to a process
// running as that uid. Today's one: spawned here with the uid/gid, its fd 3 a socketpair
// (stdio 'pipe'). The privileged process of a root daemon hands over links it made the same way.
import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Logger } from '@tsmtpd/actor';
import { HELPER_EXEC_ARGV } from './exec-argv.js';

export const HELPER_ENTRY = fileURLToPath(new URL('./main.js', import.meta.url));

export interface LinkEvents {
  data(chunk: Buffer): void;
  /** The link is gone (the helper exited, the socket closed): called once. */
  gone(reason: string): void;
}

export interface HelperLink {
  readonly pid: number | undefined;
  /** Write these buffers in one go (one writev); false: wait for `onDrain`. */
  write(bufs: Buffer[]): boolean;
  onDrain(cb: () => void): void;
  /** End the link: the helper exits once it has read what was sent. */
  close(): void;
  /** The helper does not answer: end it at once. */
  kill(): void;
}

/** Write buffers corked, so that the kernel gets them in one writev. */
export function corkedWrite(sock: Socket, bufs: Buffer[]): boolean {
  if (bufs.length === 1) return sock.write(bufs[0]!);
  sock.cork();
  let ok = true;
  for (const b of bufs) ok = sock.write(b);
  sock.uncork();
  return ok;
}

/** Start a helper as uid/gid from this process (the mda worker of a root daemon, tests). */
export function spawnHelper(uid: number, gid: number, log: Logger, ev: LinkEvents): HelperLink {
  const child = spawn(process.execPath, [...HELPER_EXEC_ARGV, HELPER_ENTRY], { uid, gid, cwd: '/', env: { PATH: '/usr/bin:/bin' }, stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
  const sock = child.stdio[3] as Socket;
  let gone = false;
  const end = (reason: string): void => {
    if (gone) return;
    gone = true;
    ev.gone(reason);
  };
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (s: string) => log.warn('delivery helper', { uid, output: s.trim().slice(0, 500) }));
  child.on('error', (e) => end(`helper error: ${e.message}`));
  child.once('exit', (code, signal) => end(`helper exited (${signal ?? code})`));
  sock.on('data', (b: Buffer) => ev.data(b));
  sock.on('error', (e) => end(`helper socket: ${e.message}`));
  sock.on('close', () => end('helper closed its socket'));
  log.debug('delivery helper started', { uid, gid, pid: child.pid });
  return {
    pid: child.pid,
    write: (bufs) => corkedWrite(sock, bufs),
    onDrain: (cb) => sock.once('drain', cb),
    close: () => {
      sock.end();
      setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }, 2000).unref();
    },
    kill: () => {
      child.kill('SIGKILL');
      sock.destroy();
    },
  };
}
