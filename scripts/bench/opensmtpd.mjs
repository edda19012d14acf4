// `--servers ...,opensmtpd`: OpenSMTPD 6.8 from Debian's .deb, unpacked into .peers/opensmtpd by
// scripts/peers-install.sh (never installed: it conflicts with postfix). Its paths are compiled in
// (/var/spool/smtpd, /var/run/smtpd.sock, /var/lib/opensmtpd/empty, /usr/libexec/opensmtpd), so
// it runs in a private mount namespace (`unshare -m`, same PID: it is the root of its tree) with
// temp dirs bound over /var/spool, /var/lib and /run, and the unpacked libexec over /usr/libexec;
// the host's directories are untouched. Runs as root with its users opensmtpd/opensmtpq (created).
// Maildir delivery with its own mail.maildir; relay to the sink with `relay host`. Stopped by PID.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, readBanner } from '../../test/dist/lib/daemon.js';
import { makeTestDir, removeTestDir } from '../../test/dist/lib/tmp.js';

const root = fileURLToPath(new URL('../../.peers/opensmtpd/', import.meta.url)).replace(/\/$/, '');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function openSmtpdAvailable() {
  if (!existsSync(`${root}/usr/sbin/smtpd`)) {
    execFileSync('bash', [fileURLToPath(new URL('../peers-install.sh', import.meta.url))], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  return existsSync(`${root}/usr/sbin/smtpd`) && process.getuid?.() === 0;
}

function ensureAccounts() {
  // Debian's build runs its unprivileged processes as these two (SMTPD_USER, SMTPD_QUEUE_USER).
  for (const u of ['opensmtpd', 'opensmtpq']) {
    if (spawnSync('getent', ['passwd', u]).status !== 0) execFileSync('useradd', ['--system', '-M', '-d', '/nonexistent', '-s', '/usr/sbin/nologin', u]);
  }
}

/**
 * Starts a private OpenSMTPD: `mode` 'maildir' (local users to DIR/mail/USER/Maildir) or
 * {relay: port} (everything to smtp://127.0.0.1:port, Postfix-like limits lifted as for tsmtpd).
 */
export async function startOpenSmtpd(mode, relayLimits = []) {
  ensureAccounts();
  const dir = makeTestDir('opensmtpd');
  const port = await freePort();
  for (const d of ['spool/smtpd', 'lib/opensmtpd/empty', 'run', 'mail']) mkdirSync(path.join(dir, d), { recursive: true });
  chmodSync(path.join(dir, 'spool/smtpd'), 0o711);
  chmodSync(path.join(dir, 'mail'), 0o1777);
  const action = mode === 'maildir'
    ? [`action "local" maildir "${dir}/mail/%{user.username}/Maildir"`, 'match from any for local action "local"']
    : [...relayLimits, `action "out" relay host smtp://127.0.0.1:${mode.relay}`, 'match from any for any action "out"'];
  // smtp-source -d sends a session's messages over one connection: lift the 100 per session as for tsmtpd.
  writeFileSync(path.join(dir, 'smtpd.conf'), ['smtp limit max-mails 1000000', `listen on 127.0.0.1 port ${port}`, ...action].join('\n') + '\n');
  const binds = [[`${dir}/spool`, '/var/spool'], [`${dir}/lib`, '/var/lib'], [`${dir}/run`, '/run'], [`${root}/usr/libexec`, '/usr/libexec']];
  const script = `${binds.map(([a, b]) => `mount --bind '${a}' '${b}'`).join(' && ')} && exec '${root}/usr/sbin/smtpd' -d -f '${dir}/smtpd.conf'`;
  const child = spawn('unshare', ['-m', 'sh', '-c', script], { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  let out = '';
  const keep = (b) => (out = (out + b.toString()).slice(-20_000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = false;
  const gone = new Promise((r) => child.once('exit', () => r((exited = true))));
  const s = {
    name: 'opensmtpd',
    dir,
    port,
    pid: child.pid,
    maildir: (user) => path.join(dir, 'mail', user, 'Maildir'),
    describe: () => out.split('\n').slice(-15).join('\n'),
    async stop() {
      if (!exited) try { process.kill(child.pid, 'SIGTERM'); } catch { /* gone */ }
      if (!(await Promise.race([gone, sleep(10_000).then(() => false)]))) {
        try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
        await Promise.race([gone, sleep(5000)]);
      }
      removeTestDir(dir);
    },
  };
  for (let i = 0; i < 100 && !exited; i++) {
    if ((await readBanner(port, 1000))?.startsWith('220')) return s;
    await sleep(100);
  }
  const why = s.describe();
  await s.stop();
  throw new Error(`opensmtpd did not start:\n${why}`);
}
