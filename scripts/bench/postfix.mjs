// `--peer postfix`: a private Postfix 3.7 from the .deb unpacked by scripts/peers-install.sh, in a
// temp config/queue dir, listening on a free loopback port and delivering with local(8) to
// maildirs (mail_spool_directory ending in "/"). Needs root (Postfix's master runs as root and
// drops to a mail_owner we create: tsmtpd-pfx / group tsmtpd-pfxdrop). Stopped by its master's PID.
// For the relay rows a second instance sends everything not local to the shared smtp-sink
// (relayhost), with the destination concurrency raised to the one tsmtpd's tuned rows get.
import { chownSync, chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort, readBanner } from '../../test/dist/lib/daemon.js';
import { makeTestDir, removeTestDir } from '../../test/dist/lib/tmp.js';
import { measure } from './smtp-source.mjs';
import { relayDomain } from './relay.mjs';

const root = fileURLToPath(new URL('../../.peers/postfix/', import.meta.url)).replace(/\/$/, '');
const owner = 'tsmtpd-pfx';
const dropGroup = 'tsmtpd-pfxdrop';

function ensureAccount() {
  if (spawnSync('getent', ['group', dropGroup]).status !== 0) execFileSync('groupadd', ['--system', dropGroup]);
  if (spawnSync('getent', ['passwd', owner]).status !== 0) {
    execFileSync('useradd', ['--system', '-M', '-d', '/nonexistent', '-s', '/usr/sbin/nologin', owner]);
  }
  const pw = execFileSync('getent', ['passwd', owner]).toString().split(':');
  return { uid: Number(pw[2]), gid: Number(pw[3]) };
}

/** main.cf lines of a relay instance: all non-local mail to [127.0.0.1]:relayPort over SMTP. */
function relayCf(relayPort, concurrency) {
  return `relayhost = [127.0.0.1]:${relayPort}
default_transport = smtp
relay_transport = smtp
default_destination_concurrency_limit = ${concurrency}
initial_destination_concurrency = ${concurrency}
smtp_connection_cache_on_demand = yes
`;
}

function mainCf(dir, port, relay) {
  return `compatibility_level = 3.6
queue_directory = ${dir}/queue
data_directory = ${dir}/data
command_directory = ${root}/usr/sbin
daemon_directory = ${root}/usr/lib/postfix/sbin
shlib_directory = ${root}/usr/lib/postfix
meta_directory = ${root}/etc/postfix
manpage_directory = ${root}/usr/share/man
sendmail_path = ${root}/usr/sbin/sendmail
mail_owner = ${owner}
setgid_group = ${dropGroup}
myhostname = bench.localdomain
mydomain = localdomain
mydestination = localhost
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
mail_spool_directory = ${dir}/mail/
biff = no
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C LD_LIBRARY_PATH=${root}/usr/lib/postfix
maillog_file_prefixes = ${dir}
maillog_file = ${dir}/maillog
default_process_limit = 200
smtpd_client_connection_count_limit = 0
smtpd_tls_security_level = none
smtp_tls_security_level = none
# bench.port ${port}
${relay ? relayCf(relay.port, relay.concurrency) : ''}`;
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

/** Starts a private Postfix; `relay` ({port, concurrency}) makes it relay to that loopback port. */
export async function startPostfix(relay) {
  const acct = ensureAccount();
  const dir = makeTestDir('postfix');
  const port = await freePort();
  for (const sub of ['etc', 'queue', 'data', 'mail']) mkdirSync(path.join(dir, sub));
  chownSync(path.join(dir, 'data'), acct.uid, acct.gid);
  chmodSync(path.join(dir, 'mail'), 0o1777);
  writeFileSync(path.join(dir, 'etc/main.cf'), mainCf(dir, port, relay));
  writeFileSync(path.join(dir, 'etc/master.cf'), [`127.0.0.1:${port} inet n - n - - smtpd`, ...services].join('\n') + '\n');
  const env = { ...process.env, LD_LIBRARY_PATH: `${root}/usr/lib/postfix` };
  const r = spawnSync(`${root}/usr/sbin/postfix`, ['-c', `${dir}/etc`, 'start'], { env, stdio: 'ignore', timeout: 60_000 });
  const log = () => (existsSync(`${dir}/maillog`) ? readFileSync(`${dir}/maillog`, 'utf8').split('\n').slice(-15).join('\n') : '');
  let banner;
  for (let i = 0; i < 100 && r.status === 0 && banner === undefined; i++) {
    banner = await readBanner(port, 1000);
    if (banner === undefined) await new Promise((res) => setTimeout(res, 100));
  }
  const pidFile = `${dir}/queue/pid/master.pid`;
  const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : undefined;
  const pf = { dir, port, pid, log };
  if (r.status !== 0 || banner === undefined) {
    await stopPostfix(pf);
    throw new Error(`postfix did not start (exit ${r.status}):\n${log()}`);
  }
  return pf;
}

export async function stopPostfix(pf) {
  if (pf.pid) {
    const alive = () => spawnSync('kill', ['-0', String(pf.pid)]).status === 0;
    try { process.kill(pf.pid, 'SIGTERM'); } catch { /* gone */ }
    for (let i = 0; i < 100 && alive(); i++) await new Promise((res) => setTimeout(res, 100));
    if (alive()) try { process.kill(pf.pid, 'SIGKILL'); } catch { /* gone */ }
  }
  removeTestDir(pf.dir);
}

/** The same runs against Postfix; results aligned with `runs`, or undefined when it cannot run. */
export async function benchPostfix(runs, opts, user, calibrate) {
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench: --peer postfix needs root; showing the STACK.md reference figures only\n');
    return undefined;
  }
  const pf = await startPostfix();
  const target = { port: pf.port, rcpt: `${user}@localhost`, maildir: path.join(pf.dir, 'mail', user) };
  const results = [];
  try {
    for (const run of runs) {
      const { probe, count } = await calibrate(target, run, opts);
      const r = count > 0 ? await measure(target, run, count, opts) : probe;
      results.push({ ...run, ...r });
      process.stderr.write(`bench: postfix s=${run.sessions} ${run.size} B ${run.mode}: ${count} msgs, ${r.accepted.toFixed(0)} accepted/s${r.error ? ` (${r.error})` : ''}\n`);
    }
  } finally {
    await stopPostfix(pf);
  }
  return results;
}

/**
 * A private Postfix relaying to `sink` for relay.mjs's runs: {target, stop()}, the target's pid
 * being the master (its children are the tree whose CPU is counted); undefined when not root.
 */
export async function startPostfixRelay(sink, concurrency) {
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench: --peer postfix needs root; no live Postfix relay rows\n');
    return undefined;
  }
  const pf = await startPostfix({ port: sink.port, concurrency });
  return { target: { port: pf.port, rcpt: `bench@${relayDomain}`, pid: pf.pid }, stop: () => stopPostfix(pf) };
}
