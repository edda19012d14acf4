// smtpctl show queue / mailq: one `|`-separated line per envelope (REFERENCE 2.1, OpenSMTPD's
// show_queue_envelope): evpid|family|type|flags|sender|rcpt|dest|ctime|expiry|lasttry|retry|
// runstate|delay|errorline. With the daemon stopped the spool's database is read directly and
// every envelope shows runstate `offline` with an empty delay.
import type { QueueRow } from '@tsmtpd/proto';

/** Control characters as visible escapes (strnvis): a line stays one line. */
function vis(s: string): string {
  return s.replace(/[\x00-\x1f\x7f]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
}

export function queueLine(r: QueueRow): string {
  const delay = r.delay === null ? '' : String(r.delay);
  return [r.evpid, r.family, r.type, r.flags.join(','), vis(r.sender), vis(r.rcpt), vis(r.dest), r.ctime, r.expiry, r.lasttry, r.retry, r.runstate, delay, vis(r.errorline)].join('|');
}
