// OpenSMTPD 6.8 from Debian's .deb, unpacked into .peers/opensmtpd by scripts/peers-install.sh
// (PEERS_OPENSMTPD=1; never installed: it conflicts with postfix). Its paths are compiled in
// (/var/spool/smtpd, /var/run/smtpd.sock, /var/lib/opensmtpd/empty, /usr/libexec/opensmtpd), so it
// runs in a private mount namespace (`unshare -m`, same PID: the root of its tree) with temp dirs
// bound over /var/spool, /var/lib and /run and the unpacked libexec over /usr/libexec; the host's
// directories are untouched (its /etc/resolv.conf too: see below). Root only, users opensmtpd/opensmtpq. Stock configuration; accept-only
// runs its own `smtpctl pause mda` inside the daemon's namespace (nsenter). Stopped by PID.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Child, ensureUser, freePort, isRoot, makeTempDir, peersDir, removeDir, repoRoot, sleep, waitBanner } from '../util.js';
import { buildBacklogShim } from './listen-backlog.js';
import { arrivalsOf, type Server, type ServerContext } from './types.js';

const root = path.join(peersDir, 'opensmtpd');

/** Unpacks OpenSMTPD when missing; true when it can run here (root). */
export function openSmtpdAvailable(): boolean {
  if (!existsSync(`${root}/usr/sbin/smtpd`) && isRoot()) {
    execFileSync('bash', [path.join(repoRoot, 'scripts/peers-install.sh')], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, PEERS_OPENSMTPD: '1' } });
  }
  return existsSync(`${root}/usr/sbin/smtpd`) && isRoot();
}

export function openSmtpdConfig(ctx: ServerContext, dir: string, port: number): string {
  const action = ctx.workload === 'relay'
    ? [`action "out" relay host smtp://127.0.0.1:${ctx.sinkPort}`, 'match from any for any action "out"'] // 6.8 has no `mta limit`
    : [`action "local" maildir "${dir}/mail/%{user.username}/Maildir"`, 'match from any for local action "local"'];
  return ['smtp limit max-mails 1000000', `listen on 127.0.0.1 port ${port}`, ...action].join('\n') + '\n';
}

export async function startOpenSmtpd(ctx: ServerContext): Promise<Server> {
  // Debian's build runs its unprivileged processes as these two (SMTPD_USER, SMTPD_QUEUE_USER).
  ensureUser('opensmtpd');
  const q = ensureUser('opensmtpq');
  const dir = makeTempDir('opensmtpd');
  const port = await freePort();
  for (const d of ['spool/smtpd', 'lib/opensmtpd/empty', 'run', 'mail']) mkdirSync(path.join(dir, d), { recursive: true });
  chmodSync(path.join(dir, 'spool/smtpd'), 0o711);
  chmodSync(path.join(dir, 'mail'), 0o1777);
  writeFileSync(path.join(dir, 'smtpd.conf'), openSmtpdConfig(ctx, dir, port));
  // Its resolver (libasr) asks DNS before /etc/hosts for the client's rDNS at every connection;
  // this machine's resolver drops a query now and then, which held a banner 5 s every ~20
  // connections. A private resolv.conf, hosts first and no reachable nameserver, keeps that out.
  writeFileSync(path.join(dir, 'resolv.conf'), 'lookup file bind\nnameserver 127.0.0.1\n');
  const binds = [[`${dir}/spool`, '/var/spool'], [`${dir}/lib`, '/var/lib'], [`${dir}/run`, '/run'], [`${root}/usr/libexec`, '/usr/libexec'], [`${dir}/resolv.conf`, '/etc/resolv.conf']];
  // Its listen backlog raised from 5 to tsmtpd's (listen-backlog.ts), in its tree only.
  const shim = buildBacklogShim(dir);
  const script = `${binds.map(([a, b]) => `mount --bind '${a}' '${b}'`).join(' && ')} && exec env LD_PRELOAD='${shim}' '${root}/usr/sbin/smtpd' -d -f '${dir}/smtpd.conf'`;
  const child = new Child('unshare', ['-m', 'sh', '-c', script], { cwd: dir }, 20_000);
  const stop = async (): Promise<void> => {
    await child.stop(10_000);
    removeDir(dir, ctx.keep);
  };
  if (!(await waitBanner(port, 10_000, () => child.running()))) {
    const why = child.tail();
    await stop();
    throw new Error(`opensmtpd did not start:\n${why}`);
  }
  if (ctx.workload === 'accept') {
    // Its control socket is in the daemon's namespace: run its smtpctl there. smtpctl insists on
    // being setgid to the queue user, which `dpkg -x` does not keep: a copy gets the mode back.
    const ctl = path.join(dir, 'smtpctl');
    copyFileSync(`${root}/usr/sbin/smtpctl`, ctl);
    chownSync(ctl, 0, q.gid);
    chmodSync(ctl, 0o2555);
    const pause = (): ReturnType<typeof spawnSync> => spawnSync('nsenter', ['-t', String(child.pid), '-m', ctl, 'pause', 'mda'], { encoding: 'utf8', timeout: 10_000 });
    let r = pause();
    for (let i = 0; i < 20 && r.status !== 0; i++) {
      await sleep(250); // the control process may still be starting
      r = pause();
    }
    if (r.status !== 0) {
      await stop();
      throw new Error(`opensmtpd: smtpctl pause mda failed: ${String(r.stderr)}${String(r.stdout)}`);
    }
  }
  return {
    name: 'opensmtpd',
    port,
    pid: child.pid,
    ...arrivalsOf(ctx, path.join(dir, 'mail', ctx.user, 'Maildir')),
    describe: () => `opensmtpd pid ${child.pid} port ${port} in ${dir}:\n${child.tail()}`,
    stop,
  };
}
