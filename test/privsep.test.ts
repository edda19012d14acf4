// End-to-end, as root: privilege separation (DESIGN.md section 7). The process holding a client's
// socket is not root (found through /proc/net/tcp and /proc/<pid>/fd); `ps` names the processes;
// a message to two users of different uids lands in each maildir owned by that user; a delivery
// helper killed mid-delivery fails it temporarily and the retry delivers it once. Listens on
// 127.0.4.10 (this file's fixed address block is 127.0.4.0/24).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { startDaemon, type Daemon } from './lib/daemon.js';
import { buildMessage, uniqueTag } from './lib/conf.js';
import { header, smtpSession, transaction, waitForMessage } from './lib/python.js';
import { ensureUsers, type SystemUser } from './lib/users.js';
import { makeSharedDir, makeTestDir, removeTestDir } from './lib/tmp.js';
import { killQuietly, sleep, waitFor } from './lib/proc.js';

const ADDR = '127.0.4.10';
const usersR = await ensureUsers(['tsmtpd-p1', 'tsmtpd-p2']);
const skip = usersR.ok ? false : usersR.reason;
const users: SystemUser[] = usersR.ok ? usersR.users : [];

function procStatus(pid: number, key: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${key}:`))?.slice(key.length + 1).trim();
  } catch {
    return undefined;
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

function children(pid: number): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    if (procStatus(Number(p), 'PPid') === String(pid)) out.push(Number(p));
  }
  return out;
}

/** The pids holding the TCP socket whose local port is `local` and remote port `remote`. */
function socketHolders(local: number, remote: number): number[] {
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(4, '0');
  const line = readFileSync('/proc/net/tcp', 'utf8').split('\n').map((l) => l.trim().split(/\s+/)).find((f) => f[1]?.endsWith(`:${hex(local)}`) && f[2]?.endsWith(`:${hex(remote)}`));
  const inode = line?.[9];
  if (!inode || inode === '0') return [];
  const holders: number[] = [];
  for (const p of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${p}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${p}/fd/${fd}`) === `socket:[${inode}]`) holders.push(Number(p));
      } catch {
        // gone meanwhile
      }
    }
  }
  return [...new Set(holders)];
}

describe('privilege separation (root)', { skip }, () => {
  const dir = makeTestDir('privsep');
  makeSharedDir(`${dir}/mail`);
  const slowMark = path.join(dir, 'mail', 'slow-started'); // mail/ is writable by the users
  let d: Daemon;
  before(async () => {
    d = await startDaemon({
      dir,
      env: { SMTPD_RETRY_BASE: 'mda=1' },
      config: ({ port }) =>
        [
          `listen on ${ADDR} port ${port}`,
          `listen on 127.0.0.1 port ${port}`,
          `action "local" maildir "${dir}/mail/%{user.username}/Maildir"`,
          // Marks its start, then takes its time: the helper running it is killed meanwhile.
          `action "slow" mda "touch ${slowMark}; sleep 3; cat > ${dir}/mail/slow.out" user ${users[0]?.name ?? 'nobody'}`,
          'match from any for domain "slow.test" action "slow"',
          'match from any for local action "local"',
        ].join('\n') + '\n',
    });
  });
  after(async () => {
    await d?.stop();
    removeTestDir(dir);
  });

  test('ps names the privileged and the actor process; the client socket is held by a non-root process', async () => {
    assert.equal(cmdline(d.pid), 'tsmtpd: privileged');
    assert.equal(procStatus(d.pid, 'Uid')?.split(/\s+/)[0], '0');
    const actor = children(d.pid).find((p) => cmdline(p) === 'tsmtpd: actors');
    assert.ok(actor, `no actor process under ${d.pid}`);
    const sock = net.connect({ host: ADDR, port: d.port });
    try {
      await new Promise<void>((resolve, reject) => {
        sock.once('data', () => resolve());
        sock.once('error', reject);
      });
      const holders = socketHolders(d.port, sock.localPort!);
      assert.deepEqual(holders, [actor], 'only the actor process holds the session socket');
      const uids = procStatus(actor, 'Uid')!.split(/\s+/);
      assert.ok(uids.every((u) => u !== '0'), `actor process uids ${uids.join(' ')}`);
      const spool = statSync(d.spool);
      assert.equal(String(spool.uid), uids[0], 'the spool belongs to the unprivileged user');
    } finally {
      sock.destroy();
    }
  });

  test('a message to two users of different uids lands in each maildir, owned by the user', async () => {
    const [a, b] = users as [SystemUser, SystemUser];
    assert.notEqual(a.uid, b.uid);
    const tag = uniqueTag('privsep-two');
    const s = await smtpSession(d.port, [{ op: 'ehlo' }, ...transaction('sender@client.test', [`${a.name}@localhost`, `${b.name}@localhost`], buildMessage([`Subject: ${tag}`], ['hello'])), { op: 'quit' }]);
    assert.equal(s.replies[4]?.code, 250, JSON.stringify(s.replies));
    for (const u of [a, b]) {
      const md = `${dir}/mail/${u.name}/Maildir`;
      const m = await waitForMessage('maildir', md, (x) => header(x, 'Subject') === tag);
      assert.ok(m, `${tag} not in ${md}\n${d.describe()}`);
      const files = readdirSync(`${md}/new`).map((f) => statSync(`${md}/new/${f}`));
      assert.ok(files.length > 0 && files.every((st) => st.uid === u.uid && st.gid === u.gid), `files of ${u.name} owned by uid ${u.uid}`);
      assert.equal(statSync(md).uid, u.uid);
    }
    const helpers = children(d.pid).map(cmdline).filter((c) => c.startsWith('tsmtpd: delivery helper'));
    for (const u of [a, b]) assert.ok(helpers.includes(`tsmtpd: delivery helper uid=${u.uid}`), helpers.join(', '));
  });

  test('a helper killed mid-delivery fails it temporarily; the retry delivers it once', async () => {
    const rcpt = `${users[0]!.name}@slow.test`; // the "slow" action, run as the first test user
    const s = await smtpSession(d.port, [{ op: 'ehlo' }, ...transaction('sender@client.test', [rcpt], buildMessage(['Subject: slow'], ['x'])), { op: 'quit' }]);
    assert.equal(s.replies[3]?.code, 250, JSON.stringify(s.replies) + d.describe());
    const started = await waitFor(() => (existsSync(slowMark) ? true : undefined), 15_000);
    assert.ok(started, `the command did not start\n${d.describe()}`);
    const helper = children(d.pid).find((p) => cmdline(p) === `tsmtpd: delivery helper uid=${users[0]!.uid}`);
    assert.ok(helper);
    // The helper and what it runs (the command is in its own process group).
    const tree = [helper, ...children(helper)];
    for (const p of [...tree]) tree.push(...children(p));
    for (const p of tree) killQuietly(p, 'SIGKILL');
    for (const p of tree) killQuietly(-p, 'SIGKILL');
    const tempfail = await waitFor(() => (/result=TempFail.*helper/.test(d.output()) ? true : undefined), 15_000);
    assert.ok(tempfail, `no temporary failure logged\n${d.describe()}`);
    const out = await waitFor(() => (existsSync(`${dir}/mail/slow.out`) ? true : undefined), 30_000);
    assert.ok(out, `not delivered on retry\n${d.describe()}`);
    await sleep(500);
    assert.match(d.output(), new RegExp(`to=<${users[0]!.name}@slow\\.test>.*result=Ok`));
  });
});
