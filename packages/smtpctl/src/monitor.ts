// smtpctl monitor: the daemon's digest once a second, printed as deltas in OpenSMTPD's columns
// with a header every 25 lines. Each line is written on its own (a pipe sees it at once); a
// closed pipe (`| head -n 3`) ends it quietly.
import type { Digest } from '@tsmtpd/proto';
import type { ControlClient } from './client.js';
import type { Io } from './smtpctl.js';

const HEADER = '--- client ---  -- envelope --   ---- relay/delivery --- ------- misc -------\n' +
  'curr conn disc  curr  enq  deq   ok tmpfail prmfail loop expire remove bounce\n';

const n4 = (v: number) => String(v).padStart(4);

export function monitorLine(d: Digest, last: Digest): string {
  return `${n4(d.clt_connect - d.clt_disconnect)} ${n4(d.clt_connect - last.clt_connect)} ${n4(d.clt_disconnect - last.clt_disconnect)}  ` +
    `${n4(d.evp_enqueued - d.evp_dequeued)} ${n4(d.evp_enqueued - last.evp_enqueued)} ${n4(d.evp_dequeued - last.evp_dequeued)} ` +
    `${n4(d.dlv_ok - last.dlv_ok)}    ${n4(d.dlv_tempfail - last.dlv_tempfail)}    ${n4(d.dlv_permfail - last.dlv_permfail)} ${n4(d.dlv_loop - last.dlv_loop)}   ` +
    `${n4(d.evp_expired - last.evp_expired)}   ${n4(d.evp_removed - last.evp_removed)}   ${n4(d.evp_bounce - last.evp_bounce)}\n`;
}

export async function monitor(client: ControlClient, io: Io, maxLines = Infinity): Promise<number> {
  let closed = false;
  process.stdout.on('error', () => {
    closed = true;
  });
  let last: Digest = {
    clt_connect: 0, clt_disconnect: 0, evp_enqueued: 0, evp_dequeued: 0, evp_expired: 0, evp_removed: 0, evp_bounce: 0,
    dlv_ok: 0, dlv_tempfail: 0, dlv_permfail: 0, dlv_loop: 0,
  };
  for (let count = 0; count < maxLines && !closed; count++) {
    const r = await client.request({ cmd: 'digest' });
    if (!r.ok || !r.digest) {
      io.err(`smtpctl: ${r.ok ? 'no digest' : r.code === 'denied' ? 'need root privileges (permission denied)' : r.error}\n`);
      return 1;
    }
    let text = count % 25 === 0 ? (count !== 0 ? '\n' : '') + HEADER : '';
    text += monitorLine(r.digest, last);
    io.out(text);
    last = r.digest;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  return 0;
}
