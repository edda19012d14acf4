// smtpctl show cluster [URI|FILE]: the whole shared queue (queue backend postgres) read from
// PostgreSQL, whichever node runs it and whether or not its daemon runs: one show-queue line per
// envelope with runstate `leased` or `free`, then two more fields: the node holding the lease and
// the lease's expiry (epoch). The URI comes from the argument or the configuration file
// (default /etc/mail/smtpd.conf, the daemon's).
import { loadConfig } from '@tsmtpd/config';
import { offlineRow } from './offline.js';
import { queueLine } from './show-queue.js';

const DEFAULT_CONF = '/etc/mail/smtpd.conf';

async function clusterUri(arg: string | undefined, err: (s: string) => void): Promise<string | null> {
  if (arg !== undefined && /^postgres(ql)?:\/\//.test(arg)) return arg;
  const file = arg ?? DEFAULT_CONF;
  const r = await loadConfig(file);
  if (!r.ok) {
    for (const e of r.errors) err(`smtpctl: ${e}\n`);
    return null;
  }
  const b = r.config.queue.backend;
  if (!b) {
    err(`smtpctl: ${file}: no "queue backend postgres": the queue is this node's spool (smtpctl show queue)\n`);
    return null;
  }
  return b.uri;
}

export async function showCluster(arg: string | undefined, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const uri = await clusterUri(arg, err);
  if (uri === null) return 1;
  const { readClusterQueue } = await import('@tsmtpd/queue/pg-offline.js');
  const now = Math.floor(Date.now() / 1000);
  let bad = 0;
  try {
    await readClusterQueue(uri, (c) => {
      const row = offlineRow(c.envelope);
      const held = c.node !== null && c.leaseUntil >= now;
      // The offline line ends `|offline||<errorline>`: the runstate field becomes the lease's state.
      const head = queueLine({ ...row, errorline: '' }).slice(0, -'offline||'.length);
      const tail = queueLine(row).slice(head.length + 'offline||'.length);
      out(`${head}${held ? 'leased' : 'free'}||${tail}|${c.node ?? ''}|${c.leaseUntil}\n`);
    }, (evpid, message) => {
      bad++;
      if (bad <= 10) err(`smtpctl: envelope ${evpid}: ${message}\n`);
    });
  } catch (e) {
    err(`smtpctl: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
  if (bad > 10) err(`smtpctl: ${bad} envelopes not shown\n`);
  return 0;
}
