// End-to-end: systemd socket activation with systemd-socket-activate(1) (Debian's systemd
// package), which binds the sockets, waits for a first connection, then execs the daemon with
// LISTEN_FDS. The connection that started it is served; mail sent with Python smtplib is
// delivered (read back with Python's mailbox); a passed socket no `listen on` line wants is
// closed with a warning; a line with no passed socket is bound as usual. No child (filter,
// mda command) holds a listener: /proc/<pid>/fd of every descendant, and the mda command's own
// listing. sd_notify's READY=1 and STOPPING=1 reach NOTIFY_SOCKET (a Python receiver). Privsep
// (root), single-process (--user root) and an unprivileged user's daemon (setpriv) on port 25. Addresses: 127.0.10.0/24 (this file's block), and [::1] on a
// free port written 0:0:0:0:0:0:0:1 in the configuration (matched by address, not spelling).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Daemon, freePort } from './lib/daemon.js';
import { buildMessage, deliverableUser, uniqueTag, userMaildir } from './lib/conf.js';
import { header, smtpSession, transaction, waitForMessage } from './lib/python.js';
import { isRoot, pyDir, python3, smtpdBin } from './lib/paths.js';
import { makeSharedDir, makeTestDir, removeTestDir } from './lib/tmp.js';
import { sleep, waitFor } from './lib/proc.js';
import { startNotifyReceiver, type NotifyReceiver } from './lib/sd-notify.js';
import { ensureDaemonUser, ensureUsers } from './lib/users.js';

const ACTIVATE = '/usr/bin/systemd-socket-activate';
const skip = existsSync(ACTIVATE) ? false : `${ACTIVATE} missing (Debian package systemd)`;

function procStatus(pid: number, key: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${key}:`))?.slice(key.length + 1).trim();
  } catch {
    return undefined;
  }
}

const cmdline = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ');
  } catch {
    return '';
  }
};

/** `pid` and every process below it. */
function tree(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const p of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) parent.set(Number(p), Number(procStatus(Number(p), 'PPid')));
  const out = [pid];
  for (let i = 0; i < out.length; i++) for (const [p, pp] of parent) if (pp === out[i]) out.push(p);
  return out;
}

/** The inode of the TCP socket listening on address:port (/proc/net/tcp, state 0A). */
function listenerInode(address: string, port: number): string | undefined {
  const hexAddr = address.split('.').map((o) => Number(o).toString(16).toUpperCase().padStart(2, '0')).reverse().join('');
  const local = `${hexAddr}:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const row = readFileSync('/proc/net/tcp', 'utf8').split('\n').map((l) => l.trim().split(/\s+/)).find((f) => f[1] === local && f[3] === '0A');
  return row?.[9];
}

/** The descriptors of `pid` that are the socket `inode`. */
function fdsOf(pid: number, inode: string): number[] {
  const out: number[] = [];
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return out;
  }
  for (const fd of fds) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`) out.push(Number(fd));
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

function closeOnExec(pid: number, fd: number): boolean {
  const flags = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'))?.[1];
  return (parseInt(flags ?? '0', 8) & 0o2000000) !== 0;
}

function refused(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => (s.destroy(), resolve(false)));
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

/** A port free on ::1 a moment ago. */
function freePort6(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '::1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

interface Mode {
  name: string;
  /** Inherited (smtp), passed but unused (stray), bound by the daemon itself (own). */
  addr: { smtp: string; stray: string; own: string };
  args: string[];
  privsep: boolean;
  /** Started by root, run as the test user (setpriv): port 25 only through the passed socket. */
  unprivileged?: boolean;
}

const modes: Mode[] = [
  { name: 'privilege separation (root)', addr: { smtp: '127.0.10.1', stray: '127.0.10.2', own: '127.0.10.3' }, args: [], privsep: true },
  { name: 'single process', addr: { smtp: '127.0.10.11', stray: '127.0.10.12', own: '127.0.10.13' }, args: isRoot() ? ['--user', 'root'] : [], privsep: false },
  { name: 'an unprivileged user on port 25', addr: { smtp: '127.0.10.31', stray: '127.0.10.32', own: '127.0.10.33' }, args: [], privsep: false, unprivileged: true },
];

for (const mode of modes) {
  describe(`socket activation: ${mode.name}`, { skip: skip || ((mode.privsep || mode.unprivileged) && !isRoot() ? 'needs root' : false) }, () => {
    const dir = makeTestDir('sockact');
    makeSharedDir(`${dir}/mail`);
    const probe = makeSharedDir(`${dir}/probe`);
    let d: Daemon;
    let port = 25;
    let port6 = 0;
    let ownPort = 0;
    let user = '';
    let first: Awaited<ReturnType<typeof smtpSession>>;
    let notify: NotifyReceiver;
    const tag = uniqueTag('sockact');

    before(async () => {
      user = await deliverableUser('tsmtpd-s1');
      await ensureDaemonUser();
      port = isRoot() ? 25 : await freePort();
      port6 = await freePort6();
      // An unprivileged daemon cannot bind 25 itself: its own listener is on a free port.
      ownPort = mode.unprivileged ? await freePort() : port;
      const { smtp, stray, own } = mode.addr;
      const runAs = isRoot() && !mode.unprivileged ? ` user ${user}` : '';
      const users = isRoot() ? await ensureUsers([user]) : null;
      const account = users?.ok ? users.users[0] : undefined;
      if (mode.unprivileged) {
        mkdirSync(path.join(dir, 'spool'));
        chownSync(path.join(dir, 'spool'), account!.uid, account!.gid);
      }
      const conf = path.join(dir, 'smtpd.conf');
      writeFileSync(conf, [
        `filter "tag" proc-exec "${python3} ${path.join(pyDir, 'demo_filter.py')} --tag SA"`,
        `listen on ${smtp} port ${port} filter "tag"`,
        // Written the long way: matched to the socket's [::1] by the address, not the spelling.
        `listen on 0:0:0:0:0:0:0:1 port ${port6}`,
        `listen on ${own} port ${ownPort}`,
        `action "local" maildir "${dir}/mail/%{user.username}/Maildir"`,
        // What a delivery command inherits, listed by ls(1) from inside it.
        `action "probe" mda "ls -l /proc/self/fd > ${probe}/fds.txt; cat > ${probe}/msg.txt"${runAs}`,
        'match from any for domain "probe.test" action "probe"',
        'match from any for local action "local"',
      ].join('\n') + '\n');
      notify = startNotifyReceiver(path.join(dir, 'notify'));
      await waitFor(() => (existsSync(path.join(dir, 'notify')) ? true : undefined), 10_000, 20);
      chmodSync(path.join(dir, 'notify'), 0o777); // writable for an unprivileged daemon too
      const drop = mode.unprivileged ? ['/usr/bin/setpriv', `--reuid=${account!.uid}`, `--regid=${account!.gid}`, '--clear-groups'] : [];
      const args = ['-l', `${smtp}:${port}`, '-l', `${stray}:${port}`, '-l', `[::1]:${port6}`, '--fdname=smtp:stray:smtp6', '-E', 'SMTPD_RETRY_BASE=mda=1', '-E', `NOTIFY_SOCKET=${path.join(dir, 'notify')}`,
        ...drop, process.execPath, smtpdBin, '-d', '-f', conf, '--spool', path.join(dir, 'spool'), ...mode.args];
      const child = spawn(ACTIVATE, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, cwd: dir });
      d = new Daemon(child, port, dir, path.join(dir, 'spool'), conf);
      const listening = await waitFor(() => (/as 5\./.test(d.output()) ? true : undefined), 20_000, 20);
      assert.ok(listening, d.describe());
      // This connection is what starts the daemon: it waits in the backlog meanwhile.
      const msg = buildMessage([`Subject: ${tag}`], ['started by this very connection']);
      first = await smtpSession(port, [{ op: 'ehlo' }, ...transaction('sender@client.test', [`${user}@localhost`], msg), { op: 'quit' }], 30, smtp);
    });
    after(async () => {
      await d?.stop();
      notify?.stop();
      removeTestDir(dir);
    });

    test('the connection that started the daemon is served and its mail delivered', async () => {
      assert.equal(first.banner?.code, 220, JSON.stringify(first) + d.describe());
      assert.equal(first.replies[3]?.code, 250, JSON.stringify(first.replies) + d.describe());
      const m = await waitForMessage('maildir', userMaildir(dir, user), (x) => header(x, 'Subject') === tag);
      assert.ok(m, `not delivered\n${d.describe()}`);
      assert.equal(header(m, 'X-Chain'), 'SA', 'went through the filter');
      assert.equal(cmdline(d.pid).startsWith(mode.privsep ? 'tsmtpd: privileged' : process.execPath), true, cmdline(d.pid));
    });

    test('sd_notify: READY=1 with MAINPID from the process systemd started, once it accepts mail', async () => {
      const ready = await waitFor(() => notify.messages.find((m) => m.split('\n').includes('READY=1')), 15_000);
      assert.ok(ready, `no READY=1 on NOTIFY_SOCKET: ${JSON.stringify(notify.messages)}\n${d.describe()}`);
      assert.ok(ready.split('\n').includes(`MAINPID=${d.pid}`), ready);
      // The log line may come up to 250 ms later (the writer orders lines across threads).
      assert.ok(await waitFor(() => (/smtpd: ready/.test(d.output()) ? true : undefined), 5000), d.describe());
    });

    test('the passed socket is used, the stray one closed with a warning, an unpassed line bound', async () => {
      const { smtp, stray, own } = mode.addr;
      const out = d.output();
      assert.match(out, new RegExp(`smtpd: inherited socket fd=3 name=smtp address=${smtp.replace(/\./g, '\\.')}:${port}\\b`), out);
      assert.match(out, new RegExp(`smtpd: warn: inherited socket matches no listen on line, closed fd=4 name=stray address=${stray.replace(/\./g, '\\.')}:${port}\\b`));
      assert.match(out, new RegExp(`smtpd: inherited socket fd=5 name=smtp6 address=\\[::1\\]:${port6}\\b`));
      assert.match(await bannerAt('::1', port6), /^220 /, 'the IPv6 socket is served');
      assert.equal(await refused(stray, port), true, 'the stray socket is closed');
      assert.match(await bannerAt(own, ownPort), /^220 /, 'the line with no passed socket was bound by the daemon');
      if (mode.unprivileged) assert.notEqual(procStatus(d.pid, 'Uid')?.split(/\s+/)[0], '0', 'not root, yet on port 25');
    });

    test('no child holds a listening socket; the holder has it close-on-exec; LISTEN_* gone', async () => {
      const s = await smtpSession(port, [{ op: 'ehlo' }, ...transaction('sender@client.test', [`${user}@probe.test`], buildMessage(['Subject: probe'], ['x'])), { op: 'quit' }], 15, mode.addr.smtp);
      assert.equal(s.replies[3]?.code, 250, JSON.stringify(s.replies) + d.describe());
      const listing = await waitFor(() => (existsSync(`${probe}/msg.txt`) ? readFileSync(`${probe}/fds.txt`, 'utf8') : undefined), 20_000);
      assert.ok(listing, `the mda command did not run\n${d.describe()}`);
      const procs = tree(d.pid);
      const filter = procs.find((p) => cmdline(p).includes('demo_filter.py'));
      assert.ok(filter, `no filter process under ${d.pid}`);
      assert.doesNotMatch(readFileSync(`/proc/${filter}/environ`, 'latin1'), /(^|\0)(LISTEN_(PID|FDS|FDNAMES)|NOTIFY_SOCKET)=/);
      const actor = mode.privsep ? procs.find((p) => cmdline(p) === 'tsmtpd: actors') : d.pid;
      assert.ok(actor, 'the actor process');
      if (mode.privsep) {
        // Nor the actor process's channel to the privileged one (fd 3): a filter holding it could
        // ask for what only the actor process may.
        const channel = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${actor}/fd/3`))?.[1];
        assert.ok(channel, 'fd 3 of the actor process is its IPC socket');
        assert.deepEqual(procs.filter((p) => fdsOf(p, channel).length > 0), [actor]);
      }
      for (const [address, p] of [[mode.addr.smtp, port], [mode.addr.own, ownPort]] as const) {
        const inode = listenerInode(address, p);
        assert.ok(inode, `no listener on ${address}:${p}`);
        const holders = procs.filter((p) => fdsOf(p, inode).length > 0);
        assert.deepEqual(holders, [actor], `${address}:${p} (socket:[${inode}]) held by ${holders.map((p) => `${p} ${cmdline(p)}`).join('; ')}`);
        for (const fd of fdsOf(actor, inode)) assert.equal(closeOnExec(actor, fd), true, `fd ${fd} of ${actor} is not close-on-exec`);
        assert.ok(!listing.includes(`socket:[${inode}]`), `the mda command inherited ${address}:${p}:\n${listing}`);
      }
    });

    test('reload: the inherited listener removed, then added back, is bound afresh and serves', { skip: mode.name !== 'single process' && 'one mode is enough' }, async () => {
      const conf = path.join(dir, 'smtpd.conf');
      const text = readFileSync(conf, 'utf8');
      const line = text.split('\n').find((l) => l.startsWith(`listen on ${mode.addr.smtp} `))!;
      const reloads = () => d.output().match(/smtpd: reloaded|: reloaded /g)?.length ?? 0;
      const hup = async (want: number) => {
        process.kill(d.pid, 'SIGHUP');
        assert.ok(await waitFor(() => (reloads() >= want ? true : undefined), 20_000), d.describe());
      };
      writeFileSync(conf, text.replace(`${line}\n`, ''));
      await hup(1);
      assert.ok(await waitFor(async () => ((await refused(mode.addr.smtp, port)) ? true : undefined), 10_000), 'the removed listener closed');
      writeFileSync(conf, text);
      await hup(2);
      assert.doesNotMatch(d.output(), /reload incomplete/, d.describe());
      assert.match(await bannerAt(mode.addr.smtp, port), /^220 /, `the re-added listener serves\n${d.describe()}`);
    });

    test('SIGTERM stops it (exit 0), STOPPING=1 told first', async () => {
      const r = await d.stop(10_000);
      assert.equal(r.forced, false, d.describe());
      assert.equal(r.code, 0, d.describe());
      const stopping = await waitFor(() => notify.messages.find((m) => m.split('\n').includes('STOPPING=1')), 5000);
      assert.ok(stopping, JSON.stringify(notify.messages));
    });
  });
}

async function bannerAt(host: string, port: number): Promise<string> {
  for (let i = 0; i < 20; i++) {
    const line = await new Promise<string | undefined>((resolve) => {
      const s = net.connect({ host, port });
      const t = setTimeout(() => (s.destroy(), resolve(undefined)), 2000);
      s.once('data', (b) => (clearTimeout(t), s.destroy(), resolve(b.toString('latin1').split('\r\n')[0])));
      s.once('error', () => (clearTimeout(t), resolve(undefined)));
    });
    if (line !== undefined) return line;
    await sleep(100);
  }
  return '';
}
