// Writing several buffers to a socket as one writev (cork, write each, uncork).
import type { Socket } from 'node:net';

export function corkedWrite(sock: Socket, bufs: Buffer[]): boolean {
  if (bufs.length === 1) return sock.write(bufs[0]!);
  sock.cork();
  let ok = true;
  for (const b of bufs) ok = sock.write(b);
  sock.uncork();
  return ok;
}
