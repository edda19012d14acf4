// End-to-end, as root: the installed service run the way systemd runs it. scripts/install.mjs
// installs into a scratch root; the installed tsmtpd.service's Environment= and ExecStart= and
// tsmtpd.socket's ListenStream= and FileDescriptorName= are read from the installed files and run
// under systemd-socket-activate (paths moved into the scratch root, 127.0.0.1 moved to this file's
// 127.0.10.21), under NoNewPrivileges=yes and CapabilityBoundingSet= (setpriv) and
// ProtectSystem=full (read-only bind mounts in a mount namespace, unshare) as systemd applies them. The first connection is served, the mail
// goes to the user's ~/Maildir as the installed example configuration says (read back with
// Python's mailbox), a ~/.forward in a 0700 home is followed and an mbox is created under the
// bounding set, READY=1 reaches NOTIFY_SOCKET, the unit's ExecReload opens a listener added to
// the file and the inherited one keeps serving, SIGTERM stops it with exit 0. Then --uninstall --purge.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import net from 'node:net';
import { Daemon, freePort } from './lib/daemon.js';
import { buildMessage, uniqueTag } from './lib/conf.js';
import { header, smtpSession, transaction, waitForMessage } from './lib/python.js';
import { isRoot, repoRoot } from './lib/paths.js';
import { describeRun, run, waitFor } from './lib/proc.js';
import { startNotifyReceiver, type NotifyReceiver } from './lib/sd-notify.js';
import { makeTestDir, removeTestDir } from './lib/tmp.js';
import { ensureDaemonUser, ensureUsers, type SystemUser } from './lib/users.js';

const ACTIVATE = '/usr/bin/systemd-socket-activate';
const ADDR = '127.0.10.21';
const ADDR2 = '127.0.10.22';
const skip = !isRoot() ? 'needs root (install, privilege separation)' : existsSync(ACTIVATE) ? false : `${ACTIVATE} missing (package systemd)`;

/** The values of `key=` lines of a unit file, in order. */
function unitValues(text: string, key: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1).trim());
}

describe('the installed service, run as systemd runs it', { skip }, () => {
  const tmp = makeTestDir('installed');
  const root = path.join(tmp, 'root');
  const inRoot = (p: string) => path.join(root, p);
  let user: SystemUser;
  let forwarder: SystemUser | undefined;
  let d: Daemon | undefined;
  let notify: NotifyReceiver | undefined;
  let listen = '';
  const tag = uniqueTag('installed');

  before(async () => {
    const users = await ensureUsers(['tsmtpd-s2', 'tsmtpd-s3']);
    if (!users.ok) throw new Error(users.reason);
    [user, forwarder] = users.users as [SystemUser, SystemUser];
    // A home no one else may enter, its ~/.forward to the first user: read by root holding
    // only CAP_DAC_READ_SEARCH of the unit's bounding set.
    chmodSync(forwarder.home, 0o700);
    writeFileSync(path.join(forwarder.home, '.forward'), `${user.name}\n`, { mode: 0o644 });
    chownSync(path.join(forwarder.home, '.forward'), forwarder.uid, forwarder.gid);
    await ensureDaemonUser();
    mkdirSync(inRoot('etc'), { recursive: true });
    writeFileSync(inRoot('etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
    writeFileSync(inRoot('etc/group'), 'root:x:0:\n');
    const r = await run(process.execPath, [path.join(repoRoot, 'scripts/install.mjs'), '--root', root], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, describeRun('install', r));
    // The example listens on 127.0.0.1:2525, and so does the socket unit: moved to our address.
    const conf = inRoot('etc/mail/smtpd.conf');
    // And an mbox rule: /var/mail/USER created and given to the user by the privileged process.
    const text = readFileSync(conf, 'utf8').replace(/^listen on 127\.0\.0\.1 /m, `listen on ${ADDR} `);
    writeFileSync(conf, text.replace(/^(action "local" .*)$/m, '$1\naction "mbox" mbox\nmatch from any for domain "mbox.test" action "mbox"'));
  });
  after(async () => {
    await d?.stop();
    notify?.stop();
    rmSync(path.join(user?.home ?? '/nonexistent', 'Maildir'), { recursive: true, force: true });
    if (forwarder) {
      rmSync(path.join(forwarder.home, '.forward'), { force: true });
      chmodSync(forwarder.home, 0o755);
    }
    if (user) rmSync(`/var/mail/${user.name}`, { force: true });
    await run(process.execPath, [path.join(repoRoot, 'scripts/install.mjs'), '--root', root, '--uninstall', '--purge'], { timeoutMs: 60_000 });
    removeTestDir(tmp);
  });

  test('started from the units: serves the connection that started it, delivers to ~/Maildir', async () => {
    const service = readFileSync(inRoot('etc/systemd/system/tsmtpd.service'), 'utf8');
    const socket = readFileSync(inRoot('etc/systemd/system/tsmtpd.socket'), 'utf8');
    const move = (s: string) => s.replace(/(\/etc\/mail\/smtpd\.conf|\/var\/spool\/tsmtpd|\/usr\/local\/sbin\/smtpd)\b/g, (p) => inRoot(p));
    const [execStart] = unitValues(service, 'ExecStart');
    assert.ok(execStart, 'ExecStart=');
    listen = unitValues(socket, 'ListenStream')[0]!.replace(/^127\.0\.0\.1:/, `${ADDR}:`);
    const port = Number(listen.split(':')[1]);
    const env = unitValues(service, 'Environment').map(move);
    notify = startNotifyReceiver(path.join(tmp, 'notify'));
    await waitFor(() => (existsSync(path.join(tmp, 'notify')) ? true : undefined), 10_000, 20);
    // NoNewPrivileges=yes as systemd applies it (prctl PR_SET_NO_NEW_PRIVS, inherited by every
    // child) and ProtectSystem=full (/usr, /boot, /etc read-only, in a mount namespace of its
    // own): privilege separation and the delivery as the user must work under both. Each step
    // execs the next: the pid systemd-socket-activate passes in LISTEN_PID stays the daemon's.
    assert.deepEqual(unitValues(service, 'NoNewPrivileges'), ['yes']);
    assert.deepEqual(unitValues(service, 'ProtectSystem'), ['full']);
    const readOnly = 'for d in /usr /boot /etc; do [ -d "$d" ] || continue; mount --bind "$d" "$d" && mount -o remount,bind,ro "$d" || exit 1; done; exec "$@"';
    // CapabilityBoundingSet= as systemd applies it: root keeps only those capabilities.
    const caps = unitValues(service, 'CapabilityBoundingSet').join(' ').split(/\s+/).filter((c) => c !== '');
    assert.ok(caps.length > 0, 'CapabilityBoundingSet=');
    const bounding = `--bounding-set=-all,${caps.map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`).join(',')}`;
    const nnp = ['/usr/bin/unshare', '--mount', '--propagation', 'private', '/bin/sh', '-c', readOnly, 'sh', '/usr/bin/setpriv', '--no-new-privs', bounding];
    const args = ['-l', listen, `--fdname=${unitValues(socket, 'FileDescriptorName').join(':')}`, ...env.flatMap((e) => ['-E', e]), '-E', `NOTIFY_SOCKET=${path.join(tmp, 'notify')}`, ...nnp, ...move(execStart).split(/\s+/)];
    const child = spawn(ACTIVATE, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, cwd: '/' });
    d = new Daemon(child, port, tmp, inRoot('var/spool/tsmtpd'), inRoot('etc/mail/smtpd.conf'));
    assert.ok(await waitFor(() => (/Listening on .* as 3\./.test(d!.output()) ? true : undefined), 10_000, 20), d.describe());
    const msg = buildMessage([`Subject: ${tag}`], ['through the installed service']);
    const s = await smtpSession(port, [{ op: 'ehlo' }, ...transaction('sender@client.test', [`${user.name}@localhost`], msg), { op: 'quit' }], 30, ADDR);
    assert.equal(s.replies[3]?.code, 250, JSON.stringify(s.replies) + d.describe());
    const m = await waitForMessage('maildir', path.join(user.home, 'Maildir'), (x) => header(x, 'Subject') === tag);
    assert.ok(m, `not in ${user.home}/Maildir\n${d.describe()}`);
    assert.match(d.output(), new RegExp(`smtpd: inherited socket fd=3 name=smtp address=${ADDR.replace(/\./g, '\\.')}:${port}\\b`));
    const status = readFileSync(`/proc/${d.pid}/status`, 'utf8');
    assert.equal(status.match(/^NoNewPrivs:\s+(\d)/m)?.[1], '1', 'runs with no_new_privs');
    assert.equal(BigInt(`0x${status.match(/^CapBnd:\s+([0-9a-f]+)/m)?.[1] ?? '0'}`), capMask(caps), 'its bounding set is the unit\'s');
    assert.match(readFileSync(`/proc/${d.pid}/mounts`, 'utf8'), /^\S+ \/usr \S+ ro[,\s]/m, '/usr is read-only for it');
    const ready = await waitFor(() => notify!.messages.find((x) => x.split('\n').includes('READY=1')), 15_000);
    assert.ok(ready?.includes(`MAINPID=${d.pid}`), JSON.stringify(notify.messages));
  });

  test('under the bounding set: a ~/.forward in a closed home is followed; an mbox is created for its user', async () => {
    assert.ok(d && forwarder, 'started');
    const port = Number(listen.split(':')[1]);
    const [t1, t2] = [uniqueTag('installed-forward'), uniqueTag('installed-mbox')];
    const s = await smtpSession(port, [{ op: 'ehlo' }, ...transaction('sender@client.test', [`${forwarder.name}@localhost`], buildMessage([`Subject: ${t1}`], ['forwarded'])),
      ...transaction('sender@client.test', [`${user.name}@mbox.test`], buildMessage([`Subject: ${t2}`], ['to mbox'])), { op: 'quit' }], 30, ADDR);
    assert.equal(s.replies[3]?.code, 250, JSON.stringify(s.replies) + d.describe());
    assert.equal(s.replies[6]?.code, 250, JSON.stringify(s.replies) + d.describe());
    assert.ok(await waitForMessage('maildir', path.join(user.home, 'Maildir'), (x) => header(x, 'Subject') === t1), `forward not followed\n${d.describe()}`);
    assert.ok(await waitForMessage('mbox', `/var/mail/${user.name}`, (x) => header(x, 'Subject') === t2), `no mbox delivery\n${d.describe()}`);
    const st = statSync(`/var/mail/${user.name}`);
    assert.equal(st.uid, user.uid, 'the mbox is the user\'s');
  });

  test('ExecReload (systemctl reload): a listener added on SIGHUP opens, the inherited one keeps serving', async () => {
    assert.ok(d, 'started');
    const service = readFileSync(inRoot('etc/systemd/system/tsmtpd.service'), 'utf8');
    const [reload] = unitValues(service, 'ExecReload');
    assert.equal(reload, '/bin/kill -HUP $MAINPID');
    const added = await freePort();
    const conf = inRoot('etc/mail/smtpd.conf');
    writeFileSync(conf, readFileSync(conf, 'utf8').replace(/^(listen on .*)$/m, `$1\nlisten on ${ADDR2} port ${added}`));
    const k = await run('/bin/sh', ['-c', reload!.replace('$MAINPID', String(d.pid))], { timeoutMs: 10_000 });
    assert.equal(k.code, 0, describeRun('ExecReload', k));
    assert.ok(await waitFor(() => (/smtpd: reloaded|: reloaded /.test(d!.output()) ? true : undefined), 20_000), d.describe());
    const opened = await waitFor(async () => ((await bannerAt(ADDR2, added)).startsWith('220') ? true : undefined), 10_000);
    assert.ok(opened, `no banner on the added ${ADDR2}:${added}\n${d.describe()}`);
    const tag2 = uniqueTag('installed-after-reload');
    const port = Number(listen.split(':')[1]);
    const s = await smtpSession(port, [{ op: 'ehlo' }, ...transaction('sender@client.test', [`${user.name}@localhost`], buildMessage([`Subject: ${tag2}`], ['after reload'])), { op: 'quit' }], 30, ADDR);
    assert.equal(s.replies[3]?.code, 250, JSON.stringify(s.replies) + d.describe());
    assert.ok(await waitForMessage('maildir', path.join(user.home, 'Maildir'), (x) => header(x, 'Subject') === tag2), d.describe());
  });

  test('SIGTERM (systemctl stop) ends it with exit 0', async () => {
    assert.ok(d, 'started');
    const r = await d.stop(15_000);
    assert.equal(r.forced, false, d.describe());
    assert.equal(r.code, 0, d.describe());
  });
});

/** The first line a server at host:port sends, or "" (bounded: 2 s). */
function bannerAt(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const c = net.connect({ host, port });
    const t = setTimeout(() => (c.destroy(), resolve('')), 2000);
    c.once('data', (b) => (clearTimeout(t), c.destroy(), resolve(b.toString('latin1').split('\r\n')[0] ?? '')));
    c.once('error', () => (clearTimeout(t), resolve('')));
  });
}

/** capabilities(7) numbers of the names a unit may list. */
const CAP_NUMBERS: Record<string, number> = {
  CAP_CHOWN: 0, CAP_DAC_OVERRIDE: 1, CAP_DAC_READ_SEARCH: 2, CAP_FOWNER: 3, CAP_FSETID: 4, CAP_KILL: 5, CAP_SETGID: 6,
  CAP_SETUID: 7, CAP_SETPCAP: 8, CAP_NET_BIND_SERVICE: 10, CAP_NET_ADMIN: 12, CAP_NET_RAW: 13, CAP_SYS_CHROOT: 18,
  CAP_SYS_ADMIN: 21, CAP_SYS_RESOURCE: 24, CAP_AUDIT_WRITE: 29,
};

function capMask(names: string[]): bigint {
  return names.reduce((m, n) => m | (1n << BigInt(CAP_NUMBERS[n] ?? 63)), 0n);
}
