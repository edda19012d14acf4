// An LD_PRELOAD shim for OpenSMTPD only: its listen(2) asks for a backlog of 5 (SMTPD_BACKLOG in
// 6.8), so a storm of 20+ smtp-source connections overflows the accept queue, SYNs are dropped and
// clients wait for SYN retransmits (1 s, 3 s, 7 s...): a kernel queue size, not the server's work.
// The shim raises any smaller backlog to tsmtpd's (511, privsep's listener); nothing else changes.
import { spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** What tsmtpd's privileged parent passes to listen(2); Postfix's master passes its process limit (200 here; ss -ltn shows both). */
export const PEER_BACKLOG = 511;

const source = `#define _GNU_SOURCE
#include <dlfcn.h>
#include <sys/socket.h>
/* listen(2) with a backlog of at least ${PEER_BACKLOG}; the real call does the rest. */
int listen(int fd, int backlog) {
  static int (*real)(int, int);
  if (!real) real = (int (*)(int, int))dlsym(RTLD_NEXT, "listen");
  return real(fd, backlog < ${PEER_BACKLOG} ? ${PEER_BACKLOG} : backlog);
}
`;

/** Compiles the shim into dir (world-readable: OpenSMTPD's processes exec as other users); its path. */
export function buildBacklogShim(dir: string): string {
  const src = path.join(dir, 'listen-backlog.c');
  const so = path.join(dir, 'listen-backlog.so');
  writeFileSync(src, source);
  const r = spawnSync('cc', ['-shared', '-fPIC', '-O2', '-o', so, src, '-ldl'], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`cc (the listen backlog shim for OpenSMTPD) failed: ${r.error?.message ?? ''}${r.stderr}; install gcc`);
  chmodSync(so, 0o644);
  return so;
}
