// The privileged process of a daemon started as root (DESIGN.md section 7): binds the listening
// sockets, gives the spool to the unprivileged user, starts the actor process as that user with
// the sockets as inherited descriptors, and then only answers its narrow requests (privsep.ts
// in proto): a delivery helper per uid (its socket named), ~/.forward, system passwords,
// mbox creation. Forwards SIGTERM/SIGINT; exits when the actor process does.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, closeSync, lstatSync, readdirSync, statSync } from 'node:fs';
import net from 'node:net';
import { dirname, join } from 'node:path';
import type { Logger } from '@tsmtpd/actor';
import { HELPER_EXEC_ARGV, helperUrl } from '@tsmtpd/mda';
import { fileURLToPath } from 'node:url';
import type { SmtpdConfig } from '@tsmtpd/config';
import { OFFLINE_DIR } from '@tsmtpd/proto/offline.js';
import { helperSocketName, PrivRequestSchema, type ListenFd, type PrivAnswer, type PrivRequest, type Settings, type TlsMaterial } from '@tsmtpd/proto';
import { AccountCache, validateHelperRequest, type Account } from './accounts.js';
import { checkSystemPassword, prepareMbox, readForwardFile } from './root-ops.js';
import { inheritedListeners, type InheritedListeners } from '../socket-activation.js';
import { PrivReloader } from './reload.js';
import type { Checked } from '../reload/check.js';

/** V8's profiler flags the daemon was started with (`npm run bench -- --cpu-prof`), passed on so
 * that every process of the tree writes its profiles. */
const PROFILER_ARGV = process.execArgv.filter((a) => a.startsWith('--cpu-prof'));

const FIRST_FD = 4; // 0-2 stdio, 3 the IPC channel
const DEFAULT_MAIL_SPOOL = '/var/mail';
const SPOOL_WALK_MAX = 10_000;

export interface PrivilegedOptions {
  config: SmtpdConfig;
  spool: string;
  settings: Settings & { mailSpool?: string };
  account: Account;
  /** argv of this process after the script, passed on to the actor process. */
  argv: string[];
  log: Logger;
  /** Once the actor process says every actor runs (the offline replay). */
  onActorsReady: () => void;
  /** The listeners' certificates and keys, read here as root; for the smtp actor. */
  tls: TlsMaterial;
  /** Re-read and check the configuration file (SIGHUP, `smtpctl reload`): reload/check.ts. */
  reload: (current: SmtpdConfig) => Promise<Checked>;
}

/**
 * Give the spool and what is in it to the unprivileged user (bounded walk; links not followed),
 * but for the offline drop box: root's, its files their submitters' (the owner is the sender).
 */
export function chownSpool(spool: string, uid: number, gid: number): void {
  let seen = 0;
  const offline = join(spool, OFFLINE_DIR);
  const walk = (p: string): void => {
    if (++seen > SPOOL_WALK_MAX || p === offline) return;
    const st = lstatSync(p);
    if (st.isSymbolicLink()) return;
    if (st.uid !== uid || st.gid !== gid) chownSync(p, uid, gid);
    if (st.isDirectory()) for (const n of readdirSync(p)) walk(join(p, n));
  };
  walk(spool);
  chmodSync(spool, 0o711);
}

/**
 * The first directory above the spool the user cannot pass through (mode bits for owner, group
 * or others), or null when the spool is reachable: a spool under a 0700 root directory would
 * leave the actor process unable to open its queue.
 */
export function unreachableParent(spool: string, uid: number, gid: number): string | null {
  for (let dir = dirname(spool); ; dir = dirname(dir)) {
    const st = statSync(dir);
    const x = st.uid === uid ? st.mode & 0o100 : st.gid === gid ? st.mode & 0o010 : st.mode & 0o001;
    if (x === 0) return dir;
    if (dir === '/') return null;
  }
}

/**
 * Bind every inet listener here, as root (ports below 1024); the actor process listens on them.
 * An address with a socket inherited from systemd (socket activation) takes that one instead:
 * its fd is in `map` and in `adopted` (close our copy once handed on), with no server.
 */
export async function bindListeners(config: SmtpdConfig, inherited: InheritedListeners = inheritedListeners()): Promise<{ servers: net.Server[]; map: { address: string; port: number; fd: number }[]; adopted: number[] }> {
  const servers: net.Server[] = [];
  const map: { address: string; port: number; fd: number }[] = [];
  const adopted: number[] = [];
  try {
    for (const l of config.listeners) {
      if (l.kind === 'socket') continue;
      for (const a of l.addresses) {
        const got = inherited.take(a.address, l.port, a.family);
        if (got) {
          map.push({ address: a.address, port: l.port, fd: got.fd });
          adopted.push(got.fd);
          continue;
        }
        // Listening here until the actor process has its copy: a client that connects in that
        // moment would be accepted by us and never served; it is closed at once instead.
        const s = net.createServer((c) => c.destroy());
        await new Promise<void>((resolve, reject) => {
          s.once('error', reject);
          s.listen({ host: a.address, port: l.port, backlog: 511, ipv6Only: a.family === 6 }, () => resolve());
        });
        servers.push(s);
        const fd = (s as unknown as { _handle: { fd: number } })._handle.fd;
        map.push({ address: a.address, port: l.port, fd });
      }
    }
  } catch (e) {
    for (const s of servers) s.close();
    throw e;
  }
  return { servers, map, adopted };
}

class Privileged {
  private readonly helpers = new Map<number, ChildProcess>();
  private child!: ChildProcess;
  private readySeen = false;
  /** Accounts named by per-message requests (.forward, mbox), looked up once a while. */
  private readonly accounts = new AccountCache();
  private reloader!: PrivReloader;

  constructor(private readonly o: PrivilegedOptions) {}

  async run(): Promise<number> {
    const inherited = inheritedListeners();
    const { servers, map, adopted } = await bindListeners(this.o.config, inherited);
    inherited.finish(this.o.log);
    const listenFds: ListenFd[] = map.map((m, i) => ({ address: m.address, port: m.port, fd: FIRST_FD + i }));
    this.child = spawn(process.execPath, [...PROFILER_ARGV, process.argv[1]!, ...this.o.argv, '--privsep-child'], {
      uid: this.o.account.uid,
      gid: this.o.account.gid,
      cwd: '/',
      env: { ...process.env, HOME: '/var/empty' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc', ...map.map((m) => m.fd)],
      serialization: 'advanced',
    });
    // The actor process has its copies now: ours must not accept anything.
    for (const s of servers) s.close();
    for (const fd of adopted) closeSync(fd);
    const exited = new Promise<number>((resolve) => this.child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
    this.child.on('error', (e) => this.o.log.warn('actor process', { error: e.message }));
    this.child.on('message', (raw) => void this.request(raw));
    const forward = (sig: NodeJS.Signals): void => void this.child.kill(sig);
    process.on('SIGTERM', forward);
    process.on('SIGINT', forward);
    this.reloader = new PrivReloader({ config: this.o.config, child: this.child, log: this.o.log, check: this.o.reload, bind: bindListeners });
    // Not before every actor runs: the actor process could not apply it yet.
    const hup = (): void => (this.readySeen ? void this.reloader.reload(0) : this.o.log.warn('reload ignored: the daemon is still starting'));
    process.on('SIGHUP', hup);
    this.send({ t: 'init', config: this.o.config, spool: this.o.spool, settings: { ...this.o.settings }, listenFds, tls: this.o.tls });
    const code = await exited;
    process.off('SIGTERM', forward);
    process.off('SIGINT', forward);
    process.off('SIGHUP', hup);
    for (const h of this.helpers.values()) h.kill('SIGKILL');
    return code;
  }

  private send(m: PrivAnswer, handle?: net.Socket): void {
    if (!this.child.connected) return;
    if (handle) this.child.send(m, handle, (err) => err && handle.destroy());
    else this.child.send(m);
  }

  private async request(raw: unknown): Promise<void> {
    const p = PrivRequestSchema.safeParse(raw);
    if (!p.success) {
      this.o.log.warn('privileged: invalid request refused', { error: p.error.message.slice(0, 200) });
      return;
    }
    try {
      await this.serve(p.data);
    } catch (e) {
      this.o.log.warn('privileged: request failed', { t: p.data.t, error: (e as Error).message });
    }
  }

  private async serve(r: PrivRequest): Promise<void> {
    switch (r.t) {
      case 'ready':
        if (!this.readySeen) this.o.onActorsReady();
        this.readySeen = true;
        return;
      case 'helper':
        return this.startHelper(r.id, r.uid, r.gid);
      case 'helper-kill':
        this.helpers.get(r.pid)?.kill('SIGKILL');
        return;
      case 'forward': {
        const f = await readForwardFile(r.user, (u) => this.accounts.get(u));
        return this.send({ t: 'forward', id: r.id, text: 'text' in f ? f.text : null, error: 'error' in f ? f.error : null });
      }
      case 'password':
        return this.send({ t: 'password', id: r.id, ok: await checkSystemPassword(r.user, r.password) });
      case 'mbox':
        return this.send({ t: 'mbox', id: r.id, error: await prepareMbox(this.o.settings.mailSpool ?? DEFAULT_MAIL_SPOOL, r.user, (u) => this.accounts.get(u)) });
      case 'reload':
        return this.reloader.reload(r.id);
    }
  }

  private async startHelper(id: number, uid: number, gid: number): Promise<void> {
    const v = await validateHelperRequest(uid, gid);
    if (!v.ok) {
      this.o.log.warn('privileged: delivery helper refused', { uid, gid, error: v.error });
      return this.send({ t: 'helper', id, pid: null, socket: null, error: v.error });
    }
    // Its socket: an abstract unix socket (no file anyone could swap) bound here and handed to
    // the helper, which accepts one connection, and only from the actor process (SO_PEERCRED
    // uid and pid, see mda/helper/main.ts): the mda worker connects to it directly.
    const token = randomBytes(16).toString('hex');
    const server = net.createServer();
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ path: helperSocketName(token), backlog: 4 }, () => resolve());
      });
    } catch (e) {
      return this.send({ t: 'helper', id, pid: null, socket: null, error: `helper socket: ${(e as Error).message}` });
    }
    const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
    const peer = `${this.o.account.uid}:${this.child.pid ?? 0}`;
    let h: ChildProcess;
    try {
      h = spawn(process.execPath, [...HELPER_EXEC_ARGV, ...PROFILER_ARGV, fileURLToPath(helperUrl), '--peer', peer], { uid, gid, cwd: '/', env: { PATH: '/usr/bin:/bin' }, stdio: ['ignore', 'ignore', 'pipe', fd] });
    } finally {
      server.close(); // the helper has its copy
    }
    if (h.pid === undefined) return this.send({ t: 'helper', id, pid: null, socket: null, error: 'the helper did not start' });
    const pid = h.pid;
    this.helpers.set(pid, h);
    h.on('error', () => {});
    h.once('exit', () => this.helpers.delete(pid));
    h.stderr?.setEncoding('utf8');
    h.stderr?.on('data', (s: string) => this.o.log.warn('delivery helper', { uid, output: s.trim().slice(0, 500) }));
    this.o.log.debug('delivery helper started', { uid, gid, pid });
    this.send({ t: 'helper', id, pid, socket: token, error: null });
  }
}

export function runPrivileged(o: PrivilegedOptions): Promise<number> {
  process.title = 'tsmtpd: privileged';
  return new Privileged(o).run();
}
