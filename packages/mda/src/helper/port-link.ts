// A HelperLink through the parent thread (root daemon with privilege separation): the mda asks
// the parent once per helper (ParentMailbox.deliveryHelper); the privileged process starts the
// helper and hands its socket to the parent thread, which bridges it to a MessagePort. Frames
// are posted as buffers; the parent acknowledges bytes written, which is the back-pressure.
import { MessageChannel } from 'node:worker_threads';
import { transfer, type Remote } from '@tsmtpd/actor';
import type { ParentMailbox } from '@tsmtpd/proto';
import type { HelperLink, LinkEvents } from './link.js';

/** Bytes posted and not yet written to the helper's socket before `write` says wait. */
const HIGH_WATER = 1 << 20;

export function portLink(parent: Remote<ParentMailbox>, uid: number, gid: number, ev: LinkEvents): HelperLink {
  const { port1, port2 } = new MessageChannel();
  let pid: number | undefined;
  let unacked = 0;
  let drains: (() => void)[] = [];
  let gone = false;
  const end = (reason: string): void => {
    if (gone) return;
    gone = true;
    port1.close();
    ev.gone(reason);
    for (const d of drains.splice(0)) d();
  };
  port1.on('message', (m: unknown) => {
    if (m === null) return end('helper gone');
    if (m instanceof Uint8Array) return ev.data(Buffer.from(m.buffer, m.byteOffset, m.byteLength));
    const ack = (m as { ack?: unknown })?.ack;
    if (typeof ack === 'number') {
      unacked -= ack;
      if (unacked < HIGH_WATER) for (const d of drains.splice(0)) d();
    }
  });
  parent.deliveryHelper(uid, gid, transfer(port2, [port2 as unknown as ArrayBuffer])).then(
    (r) => (r.ok ? (pid = r.value.pid) : end(r.message)),
    (e: unknown) => end(`no delivery helper: ${(e as Error).message}`),
  );
  return {
    get pid() {
      return pid;
    },
    write(bufs) {
      if (gone) return true;
      const n = bufs.reduce((s, b) => s + b.length, 0);
      unacked += n;
      port1.postMessage(bufs);
      return unacked < HIGH_WATER;
    },
    onDrain: (cb) => void (gone ? cb() : drains.push(cb)),
    close: () => {
      if (!gone) port1.postMessage('close');
    },
    kill: () => {
      if (!gone) port1.postMessage('kill');
    },
  };
}
