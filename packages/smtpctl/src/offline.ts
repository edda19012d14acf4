// show queue with the daemon stopped: the spool read read-only (@tsmtpd/queue's offline reader),
// each envelope printed with runstate `offline`. Encrypted rows need the queue key, which smtpctl
// does not have: they are reported on stderr and skipped (as OpenSMTPD: "offline encrypted queue
// is not supported yet"), compressed ones are read.
import { isIPv6 } from 'node:net';
import type { Envelope, QueueRow } from '@tsmtpd/proto';
import { queueLine } from './show-queue.js';

export function offlineRow(e: Envelope): QueueRow {
  const flags: QueueRow['flags'] = [];
  if (e.type === 'bounce' || e.flags.includes('bounce')) flags.push('bounce');
  if (e.flags.includes('authenticated')) flags.push('auth');
  if (e.flags.includes('internal')) flags.push('internal');
  return {
    evpid: e.id, family: e.sockaddr === 'local' ? 'local' : isIPv6(e.sockaddr) ? 'inet6' : 'inet4', type: e.type, flags,
    sender: e.sender === '' ? '@' : e.sender, rcpt: e.rcpt, dest: e.dest, ctime: e.ctime, expiry: e.ctime + e.ttl,
    lasttry: e.lastTry, retry: e.retry, runstate: 'offline', delay: null, errorline: e.errorline ?? '',
  };
}

export async function showQueueOffline(spool: string, msgid: string | undefined, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const { readOfflineQueue } = await import('@tsmtpd/queue/backends.js');
  let encrypted = 0;
  try {
    readOfflineQueue(spool, {}, (e) => {
      if (msgid === undefined || e.msgid === msgid) out(queueLine(offlineRow(e)) + '\n');
    }, (bad) => {
      if (/encrypted|decrypt/.test(bad.message)) encrypted++;
      else err(`smtpctl: ${bad.message}\n`);
    });
  } catch (e) {
    err(`smtpctl: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
  if (encrypted > 0) err(`smtpctl: offline encrypted queue is not supported yet (${encrypted} envelope${encrypted > 1 ? 's' : ''} not shown)\n`);
  return 0;
}
