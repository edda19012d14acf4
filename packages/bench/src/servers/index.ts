// Starts a server under test by name; which servers can run here (Postfix and OpenSMTPD need root).
import { isRoot } from '../util.js';
import { startOpenSmtpd, openSmtpdAvailable } from './opensmtpd.js';
import { postfixAvailable, startPostfix } from './postfix.js';
import { startSink } from './sink.js';
import { startTsmtpd } from './tsmtpd.js';
import type { Server, ServerContext, ServerName } from './types.js';

export function startServer(name: ServerName, ctx: ServerContext): Promise<Server> {
  switch (name) {
    case 'tsmtpd': return startTsmtpd(ctx);
    case 'postfix': return startPostfix(ctx);
    case 'opensmtpd': return startOpenSmtpd(ctx);
    case 'sink': return startSink();
  }
}

/** The servers of `wanted` that can run here, with a note for each one left out. */
export function runnable(wanted: readonly ServerName[]): { servers: ServerName[]; notes: string[] } {
  const notes: string[] = [];
  const servers = wanted.filter((s) => {
    if ((s === 'postfix' || s === 'opensmtpd') && !isRoot()) return notes.push(`${s}: needs root, left out`), false;
    if (s === 'postfix' && !postfixAvailable()) return notes.push('postfix: .peers/postfix missing (scripts/peers-install.sh), left out'), false;
    if (s === 'opensmtpd' && !openSmtpdAvailable()) return notes.push('opensmtpd: .peers/opensmtpd missing (PEERS_OPENSMTPD=1 scripts/peers-install.sh), left out'), false;
    return true;
  });
  return { servers, notes };
}
