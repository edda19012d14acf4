// A HelperLink under privilege separation: the mda asks the parent once per helper
// (ParentMailbox.deliveryHelper); the privileged process starts the helper with a listening
// abstract unix socket and names it; this worker connects to it and talks to the helper
// directly (no hop through the parent thread per frame: that relay cost ~0.3 ms of CPU per
// delivery). Before a byte goes out, the socket must be the one our privileged process (this
// process's parent, root) bound: SO_PEERCRED of a connected socket names who listened on it.
import net from 'node:net';
import { peerCredentials } from '@tsmtpd/peercred';
import type { Remote } from '@tsmtpd/actor';
import { helperSocketName, type ParentMailbox } from '@tsmtpd/proto';
import { corkedWrite, type HelperLink, type LinkEvents } from './link.js';

/** Bytes held before the socket is connected, beyond which `write` says wait. */
const HIGH_WATER = 1 << 20;

export function socketLink(parent: Remote<ParentMailbox>, uid: number, gid: number, ev: LinkEvents): HelperLink {
  let sock: net.Socket | null = null;
  let pid: number | undefined;
  let held: Buffer[] = [];
  let heldBytes = 0;
  let drains: (() => void)[] = [];
  let closing = false;
  let gone = false;
  const end = (reason: string): void => {
    if (gone) return;
    gone = true;
    sock?.destroy();
    ev.gone(reason);
    for (const d of drains.splice(0)) d();
  };
  const connected = (s: net.Socket): void => {
    let cred;
    try {
      cred = peerCredentials(s);
    } catch (e) {
      return end(`helper socket: ${(e as Error).message}`);
    }
    if (cred.pid !== process.ppid || cred.uid !== 0) return end(`helper socket bound by pid ${cred.pid} uid ${cred.uid}, not by the privileged process`);
    sock = s;
    if (held.length > 0) corkedWrite(s, held);
    held = [];
    heldBytes = 0;
    if (closing) s.end();
    for (const d of drains.splice(0)) d();
  };
  const connect = (socket: string): void => {
    const s = net.connect({ path: helperSocketName(socket) });
    s.once('connect', () => connected(s));
    s.on('data', (b: Buffer) => ev.data(b));
    s.on('error', (e) => end(`helper socket: ${e.message}`));
    s.on('close', () => end('helper closed its socket'));
  };
  parent.deliveryHelper(uid, gid).then(
    (r) => {
      if (!r.ok) return end(r.message);
      if (gone) return parent.onDeliveryHelperKill(r.value.pid);
      pid = r.value.pid;
      connect(r.value.socket);
    },
    (e: unknown) => end(`no delivery helper: ${(e as Error).message}`),
  );
  return {
    get pid() {
      return pid;
    },
    write(bufs) {
      if (gone) return true;
      if (sock) return corkedWrite(sock, bufs);
      for (const b of bufs) held.push(b), (heldBytes += b.length);
      return heldBytes < HIGH_WATER;
    },
    onDrain: (cb) => void (gone ? cb() : sock ? sock.once('drain', cb) : drains.push(cb)),
    close: () => {
      closing = true;
      sock?.end();
    },
    kill: () => {
      if (pid !== undefined) void parent.onDeliveryHelperKill(pid);
      end('killed');
    },
  };
}
