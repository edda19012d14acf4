// Postfix 3.7, private: Debian's package unpacked into .peers/postfix (never installed), a
// generated main.cf/master.cf in a temp dir (its own queue, a free loopback port, local(8) to
// maildirs via mail_spool_directory ending in "/"). Needs root: master drops to the mail_owner we
// create (tsmtpd-pfx, setgid group tsmtpd-pfxdrop). Accept-only sends every message to the hold
// queue; relay sends everything to the sink with a destination concurrency of 20. Stopped by PID.
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ensureGroup, ensureUser, freePort, kill, makeTempDir, peersDir, removeDir, sleep, waitBanner } from '../util.js';
import { arrivalsOf, type Server, type ServerContext } from './types.js';

const root = path.join(peersDir, 'postfix');
const owner = 'tsmtpd-pfx';
const dropGroup = 'tsmtpd-pfxdrop';

function workloadCf(ctx: ServerContext): string[] {
  if (ctx.workload === 'accept') return ['smtpd_data_restrictions = check_client_access static:HOLD'];
  if (ctx.workload !== 'relay') return [];
  return [`relayhost = [127.0.0.1]:${ctx.sinkPort}`, 'default_transport = smtp', 'relay_transport = smtp',
    'default_destination_concurrency_limit = 20', 'initial_destination_concurrency = 20', 'smtp_connection_cache_on_demand = yes'];
}

export function postfixMainCf(ctx: ServerContext, dir: string, port: number): string {
  return [
    'compatibility_level = 3.6', `queue_directory = ${dir}/queue`, `data_directory = ${dir}/data`,
    `command_directory = ${root}/usr/sbin`, `daemon_directory = ${root}/usr/lib/postfix/sbin`, `shlib_directory = ${root}/usr/lib/postfix`,
    `meta_directory = ${root}/etc/postfix`, `manpage_directory = ${root}/usr/share/man`, `sendmail_path = ${root}/usr/sbin/sendmail`,
    `mail_owner = ${owner}`, `setgid_group = ${dropGroup}`, 'myhostname = bench.localdomain', 'mydomain = localdomain',
    'mydestination = localhost', 'inet_interfaces = 127.0.0.1', 'inet_protocols = ipv4', 'mynetworks = 127.0.0.0/8',
    'alias_maps =', 'alias_database =', `mail_spool_directory = ${dir}/mail/`, 'biff = no',
    `import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C LD_LIBRARY_PATH=${root}/usr/lib/postfix`,
    `maillog_file_prefixes = ${dir}`, `maillog_file = ${dir}/maillog`, 'default_process_limit = 200',
    'smtpd_client_connection_count_limit = 0', 'smtpd_tls_security_level = none', 'smtp_tls_security_level = none',
    `# bench port ${port}`, ...workloadCf(ctx),
  ].join('\n') + '\n';
}

const services = [
  'pickup unix n - n 60 1 pickup', 'cleanup unix n - n - 0 cleanup', 'qmgr unix n - n 300 1 qmgr',
  'rewrite unix - - n - - trivial-rewrite', 'bounce unix - - n - 0 bounce', 'defer unix - - n - 0 bounce',
  'trace unix - - n - 0 bounce', 'verify unix - - n - 1 verify', 'flush unix n - n 1000? 0 flush',
  'proxymap unix - - n - - proxymap', 'smtp unix - - n - - smtp', 'relay unix - - n - - smtp',
  'showq unix n - n - - showq', 'error unix - - n - - error', 'retry unix - - n - - error',
  'discard unix - - n - - discard', 'local unix - n n - - local', 'virtual unix - n n - - virtual',
  'lmtp unix - - n - - lmtp', 'anvil unix - - n - 1 anvil', 'scache unix - - n - 1 scache',
  'postlog unix-dgram n - n - 1 postlogd',
];

export function postfixAvailable(): boolean {
  return existsSync(`${root}/usr/sbin/postfix`);
}

async function stopMaster(pid: number | undefined): Promise<void> {
  if (!pid) return;
  const alive = (): boolean => spawnSync('kill', ['-0', String(pid)]).status === 0;
  kill(pid, 'SIGTERM');
  for (let i = 0; i < 100 && alive(); i++) await sleep(100);
  if (alive()) kill(pid, 'SIGKILL');
}

export async function startPostfix(ctx: ServerContext): Promise<Server> {
  ensureGroup(dropGroup);
  const acct = ensureUser(owner);
  const dir = makeTempDir('postfix');
  const port = await freePort();
  for (const sub of ['etc', 'queue', 'data', 'mail']) mkdirSync(path.join(dir, sub));
  chownSync(path.join(dir, 'data'), acct.uid, acct.gid);
  chmodSync(path.join(dir, 'mail'), 0o1777);
  writeFileSync(path.join(dir, 'etc/main.cf'), postfixMainCf(ctx, dir, port));
  writeFileSync(path.join(dir, 'etc/master.cf'), [`127.0.0.1:${port} inet n - n - - smtpd`, ...services].join('\n') + '\n');
  const env = { ...process.env, LD_LIBRARY_PATH: `${root}/usr/lib/postfix` };
  const r = spawnSync(`${root}/usr/sbin/postfix`, ['-c', `${dir}/etc`, 'start'], { env, stdio: 'ignore', timeout: 60_000 });
  const log = (): string => (existsSync(`${dir}/maillog`) ? readFileSync(`${dir}/maillog`, 'utf8').split('\n').slice(-15).join('\n') : '');
  const up = r.status === 0 && (await waitBanner(port, 10_000));
  const pidFile = `${dir}/queue/pid/master.pid`;
  const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : undefined;
  const stop = async (): Promise<void> => {
    await stopMaster(pid);
    removeDir(dir, ctx.keep);
  };
  if (!up || !pid) {
    const why = log();
    await stop();
    throw new Error(`postfix did not start (exit ${r.status}):\n${why}`);
  }
  return {
    name: 'postfix',
    port,
    pid,
    // local(8) with mail_spool_directory "DIR/mail/" writes the maildir DIR/mail/USER/.
    ...arrivalsOf(ctx, path.join(dir, 'mail', ctx.user)),
    describe: () => `postfix master ${pid} port ${port} in ${dir}:\n${log()}`,
    stop,
  };
}
