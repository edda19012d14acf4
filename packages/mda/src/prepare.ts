// From an envelope to a ready-to-open delivery: its action (config.actions[dispatcher]), the
// user (lka.userLookup, or the action's `user`), the method's parameters with format
// specifiers expanded, and where it runs (in this worker, or the recipient's helper process
// when the daemon is root). Talks to lka; opening is done by the runner (deliver.ts).
import { promises as fsp } from 'node:fs';
import { isAbsolute, join, normalize } from 'node:path';
import type { Envelope, LkaMailbox, Result, UserInfo } from '@tsmtpd/proto';
import type { Remote } from '@tsmtpd/actor';
import type { Action, ActionMethod, SmtpdConfig } from '@tsmtpd/config';
import { expandFormat, type FormatVars } from './format.js';
import type { HeaderInfo } from './headers.js';
import { openFileJob, type FileJob } from './file-jobs.js';
import type { HelperPool } from './helper/pool.js';
import { DEFAULT_COMMAND_TIMEOUT_MS, openCommand } from './methods/command.js';
import { openLmtp, type LmtpTimeouts } from './methods/lmtp.js';
import { acquireDotlock, prepareMailbox, type DotlockOptions } from './methods/mbox.js';
import { mboxFromLine } from './methods/mbox-format.js';
import { permfail, tempfail, type MethodOutcome, type SinkOpen } from './sink.js';
import type { UserCache } from './user-cache.js';

export interface PrepareContext {
  config: SmtpdConfig;
  lka: () => Remote<LkaMailbox>;
  /** The daemon runs as root: deliveries switch to the recipient's uid/gid. */
  isRoot: boolean;
  /**
   * Privilege separation: this process is not root; the recipient's helper (pool) runs files
   * and commands, the privileged side creates mbox mailboxes.
   */
  privsep?: { mboxPrepare(user: string): Promise<Result<null>> } | null;
  pool: HelperPool | null;
  /** Host name in maildir file names. */
  hostname: string;
  /** Directory of mbox mailboxes (/var/mail). */
  mailSpool: string;
  commandTimeoutMs?: number;
  lmtpTimeouts?: Partial<LmtpTimeouts>;
  dotlock?: DotlockOptions;
  /** Users found recently (user-cache.ts); without it every delivery asks the lka. */
  users?: UserCache;
}

type MethodOf<K extends ActionMethod['kind']> = Extract<ActionMethod, { kind: K }>;

export interface Plan {
  user: UserInfo;
  method: string;
  open(info: HeaderInfo): Promise<SinkOpen>;
}

export type Prepared = { ok: true; plan: Plan } | { ok: false; outcome: MethodOutcome; user?: string; method?: string };

function splitAddress(addr: string): { user: string; domain: string } {
  const at = addr.lastIndexOf('@');
  return at < 0 ? { user: addr, domain: '' } : { user: addr.slice(0, at), domain: addr.slice(at + 1) };
}

function formatVars(env: Envelope, user: UserInfo, cfg: SmtpdConfig): FormatVars {
  return { sender: env.sender, rcpt: env.rcpt, dest: env.dest, username: user.username, directory: user.directory, subAddrDelim: cfg.smtp.subAddrDelim };
}

/**
 * With privilege separation nothing delivers as root (the privileged side starts no root
 * helper): root's mail waits, temporarily failed, until an alias sends it to a user.
 */
const ROOT_REFUSED = tempfail('no delivery as root: alias root to a user (aliases table)');

/** Run a file job as the recipient: the helper when root and the recipient is not root. */
function runFileJob(ctx: PrepareContext, user: UserInfo, job: FileJob): Promise<SinkOpen> {
  if (ctx.privsep && user.uid === 0) return Promise.resolve({ ok: false, outcome: ROOT_REFUSED });
  if (ctx.isRoot && user.uid !== 0 && ctx.pool) return ctx.pool.open(user.uid, user.gid, job);
  return openFileJob(job);
}

/** `~/x` and relative paths are home-relative; no `..` may survive (values are sanitised). */
export function resolveMaildirPath(expanded: string, home: string): string | null {
  let p = expanded === '~' ? home : expanded.startsWith('~/') ? join(home, expanded.slice(2)) : expanded;
  if (!isAbsolute(p)) p = join(home, p);
  if (p.split('/').some((c) => c === '..')) return null;
  return normalize(p);
}

function maildirPlan(env: Envelope, user: UserInfo, m: MethodOf<'maildir'>, ctx: PrepareContext): Prepared {
  const x = expandFormat(m.path ?? '~/Maildir', formatVars(env, user, ctx.config), 'path');
  if (!x.ok) return { ok: false, outcome: permfail(`maildir path: ${x.error}`) };
  const root = resolveMaildirPath(x.value, user.directory);
  if (root === null) return { ok: false, outcome: permfail(`unsafe maildir path ${x.value}`) };
  const junk = m.junk;
  return {
    ok: true,
    plan: {
      user,
      method: 'maildir',
      open: (info) => runFileJob(ctx, user, { kind: 'maildir', root, junk: junk && info.spam, extension: env.mdaSubaddress ?? null, hostname: ctx.hostname, envelope: { ctime: env.ctime, id: env.id } }),
    },
  };
}

/** The tail of the deliveries to each mbox path (privilege separation: one at a time, in order). */
const mboxTurns = new Map<string, Promise<void>>();

/** Wait for the mailbox's earlier deliveries; answers the release of this one's turn. */
async function mboxTurn(path: string): Promise<() => void> {
  const before = mboxTurns.get(path) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((r) => (release = r));
  const tail = before.then(() => mine);
  mboxTurns.set(path, tail);
  await before;
  return () => {
    release();
    if (mboxTurns.get(path) === tail) mboxTurns.delete(path);
  };
}

/**
 * Privilege separation: the privileged side creates the mailbox, the helper appends under
 * flock. Our deliveries to one mailbox take turns here: the helper's flock is synchronous, so
 * two of ours at once in one helper would wait for each other (the dotlock did this before;
 * /var/mail is not ours to write now).
 */
async function openMboxPrivsep(env: Envelope, user: UserInfo, path: string, ctx: PrepareContext, priv: NonNullable<PrepareContext['privsep']>): Promise<SinkOpen> {
  const r = await priv.mboxPrepare(user.username).catch((e: unknown) => ({ ok: false as const, message: (e as Error).message }));
  if (!r.ok) return { ok: false, outcome: tempfail(`mailbox ${path}: ${r.message}`) };
  const release = await mboxTurn(path);
  const o = await runFileJob(ctx, user, { kind: 'mbox', path, fromLine: mboxFromLine(env.sender, new Date()), uid: user.uid }).catch((e: unknown): SinkOpen => ({ ok: false, outcome: tempfail(`mbox: ${(e as Error).message}`) }));
  if (!o.ok) {
    release();
    return o;
  }
  const inner = o.sink;
  return {
    ok: true,
    sink: {
      write: (c) => inner.write(c),
      end: () => inner.end().finally(release),
      abort: (why) => inner.abort(why).finally(release),
    },
  };
}

async function openMboxDelivery(env: Envelope, user: UserInfo, path: string, ctx: PrepareContext): Promise<SinkOpen> {
  if (ctx.privsep) return openMboxPrivsep(env, user, path, ctx, ctx.privsep);
  const bad = await prepareMailbox(path, ctx.isRoot ? { uid: user.uid, gid: user.gid } : null);
  if (bad) return { ok: false, outcome: bad };
  const lock = await acquireDotlock(path, ctx.dotlock);
  if (!lock.ok) return { ok: false, outcome: lock.outcome };
  const job: FileJob = { kind: 'mbox', path, fromLine: mboxFromLine(env.sender, new Date()), uid: ctx.isRoot ? user.uid : null };
  const r = await runFileJob(ctx, user, job).catch((e: unknown): SinkOpen => ({ ok: false, outcome: tempfail(`mbox: ${(e as Error).message}`) }));
  if (!r.ok) {
    await lock.release();
    return r;
  }
  const inner = r.sink;
  return {
    ok: true,
    sink: {
      write: (c) => inner.write(c),
      end: () => inner.end().finally(() => lock.release()),
      abort: (why) => inner.abort(why).finally(() => lock.release()),
    },
  };
}

function mboxPlan(env: Envelope, user: UserInfo, ctx: PrepareContext): Prepared {
  if (!/^[^/\0]+$/.test(user.username) || user.username === '.' || user.username === '..') {
    return { ok: false, outcome: permfail(`user name ${user.username} cannot name a mailbox`) };
  }
  const path = join(ctx.mailSpool, user.username);
  return { ok: true, plan: { user, method: 'mbox', open: () => openMboxDelivery(env, user, path, ctx) } };
}

/** The command's environment (REFERENCE 8.1): envelope data reaches it only here and on stdin. */
export function commandEnv(env: Envelope, user: UserInfo): Record<string, string> {
  const dest = splitAddress(env.dest);
  return {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    DOMAIN: dest.domain,
    HOME: user.directory,
    ORIGINAL_RECIPIENT: env.rcpt,
    RECIPIENT: env.dest,
    SHELL: '/bin/sh',
    LOCAL: dest.user,
    LOGNAME: user.username,
    USER: user.username,
    SENDER: env.sender,
    ...(env.mdaSubaddress !== undefined && env.mdaSubaddress !== '' ? { EXTENSION: env.mdaSubaddress } : {}),
  };
}

async function homeOrRoot(dir: string): Promise<string> {
  try {
    return (await fsp.stat(dir)).isDirectory() ? dir : '/';
  } catch {
    return '/';
  }
}

function commandPlan(env: Envelope, user: UserInfo, action: Action, m: MethodOf<'mda'>, ctx: PrepareContext): Prepared {
  const vars = formatVars(env, user, ctx.config);
  const x = expandFormat(m.command, vars, 'command');
  if (!x.ok) return { ok: false, outcome: permfail(`mda command: ${x.error}`) };
  let command = x.value;
  if (action.wrapper !== undefined) {
    const wrapper = ctx.config.mda.wrappers[action.wrapper];
    if (wrapper === undefined) return { ok: false, outcome: tempfail(`unknown mda wrapper ${action.wrapper}`) };
    const w = expandFormat(wrapper, { ...vars, mda: command }, 'command');
    if (!w.ok) return { ok: false, outcome: permfail(`mda wrapper: ${w.error}`) };
    command = w.value;
  }
  return { ok: true, plan: { user, method: 'mda', open: () => runCommand(env, user, command, ctx) } };
}

/** A command as the user: through the user's helper under privilege separation, else spawned as the user. */
async function runCommand(env: Envelope, user: UserInfo, command: string, ctx: PrepareContext): Promise<SinkOpen> {
  const job = { command, env: commandEnv(env, user), cwd: await homeOrRoot(user.directory), timeoutMs: ctx.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS };
  // Without root the command runs as the recipient through the helper (it cannot setuid here).
  if (ctx.privsep && user.uid === 0) return { ok: false, outcome: ROOT_REFUSED };
  if (ctx.privsep && ctx.pool) return ctx.pool.open(user.uid, user.gid, { kind: 'command', ...job });
  return openCommand({ ...job, ...(ctx.isRoot && !ctx.privsep ? { uid: user.uid, gid: user.gid } : {}) });
}

/**
 * A `/file` target: appended as an mbox by the user (the helper creates it 0600 as the user
 * when missing), one delivery at a time per file. Not root: appended by ourselves.
 */
async function openFileTarget(env: Envelope, user: UserInfo, path: string, ctx: PrepareContext): Promise<SinkOpen> {
  if (ctx.isRoot && user.uid === 0) return { ok: false, outcome: ROOT_REFUSED };
  const release = await mboxTurn(path);
  const job: FileJob = { kind: 'mbox', path, fromLine: mboxFromLine(env.sender, new Date()), uid: ctx.isRoot || ctx.privsep ? user.uid : null, create: true };
  const o = await runFileJob(ctx, user, job).catch((e: unknown): SinkOpen => ({ ok: false, outcome: tempfail(`file: ${(e as Error).message}`) }));
  if (!o.ok) {
    release();
    return o;
  }
  const inner = o.sink;
  return { ok: true, sink: { write: (c) => inner.write(c), end: () => inner.end().finally(release), abort: (why) => inner.abort(why).finally(release) } };
}

function lmtpPlan(env: Envelope, user: UserInfo, m: MethodOf<'lmtp'>, ctx: PrepareContext): Prepared {
  const open = (): Promise<SinkOpen> =>
    openLmtp({
      destination: m.destination,
      lhlo: ctx.config.serverName,
      mailFrom: env.sender,
      rcptTo: m.rcptTo ? env.dest : user.username,
      ...(ctx.lmtpTimeouts ? { timeouts: ctx.lmtpTimeouts } : {}),
    });
  return { ok: true, plan: { user, method: 'lmtp', open } };
}

/**
 * An alias or ~/.forward target (REFERENCE 8.2): `/file` appended as an mbox, `|command` run with
 * /bin/sh -c, as the user whose .forward named it or the unprivileged account for aliases. The
 * text came from a table or the user's own file; the session's data reaches the command only in
 * its environment and on stdin, as for the mda method.
 */
async function targetPlan(env: Envelope, target: NonNullable<Envelope['mdaTarget']>, action: Action, ctx: PrepareContext): Promise<Prepared> {
  const method = target.kind === 'file' ? 'file' : 'command';
  const name = env.mdaUser;
  if (name === undefined || name === '') return { ok: false, method, outcome: permfail('no user to deliver this alias target as') };
  const u = await lookupUser(name, target.system ? null : action.userbase ?? null, ctx);
  if (!u.ok) return { ok: false, user: name, method, outcome: u.outcome };
  const user = u.user;
  if (target.kind === 'file') {
    const path = normalize(target.value);
    if (!isAbsolute(path) || target.value.split('/').includes('..')) return { ok: false, user: name, method, outcome: permfail(`unsafe file target ${target.value}`) };
    return { ok: true, plan: { user, method, open: () => openFileTarget(env, user, path, ctx) } };
  }
  return { ok: true, plan: { user, method, open: () => runCommand(env, user, target.value, ctx) } };
}

/** Look up the user of an envelope; failures are delivery outcomes (unknown user: 5.1.1). */
async function lookupUser(name: string, userbase: string | null, ctx: PrepareContext): Promise<{ ok: true; user: UserInfo } | { ok: false; outcome: MethodOutcome }> {
  const known = ctx.users?.get(name, userbase);
  if (known) return { ok: true, user: known };
  try {
    const r = await ctx.lka().userLookup(name, userbase);
    if (r.ok) {
      ctx.users?.set(name, userbase, r.user);
      return r;
    }
    return { ok: false, outcome: r.kind === 'perm' ? permfail(`550 5.1.1 unknown user ${name}: ${r.message}`) : tempfail(`user lookup ${name}: ${r.message}`) };
  } catch (e) {
    return { ok: false, outcome: tempfail(`user lookup ${name}: ${(e as Error).message}`) };
  }
}

/** The error of an envelope whose action no longer exists (the mta says the same). */
export function actionGone(name: string): string {
  return `550 5.3.0 action "${name}" no longer exists in the configuration (removed by a reload)`;
}

export async function prepare(env: Envelope, ctx: PrepareContext): Promise<Prepared> {
  const action = ctx.config.actions[env.dispatcher];
  // A queued envelope whose action a reload removed: a bounce that names it (never silence).
  if (!action) return { ok: false, outcome: permfail(actionGone(env.dispatcher)) };
  const m = action.method;
  const kind = m.kind;
  if (m.kind === 'forward-only' || m.kind === 'expand-only' || m.kind === 'relay') {
    return { ok: false, method: kind, outcome: permfail(`action ${action.name} (${kind}) cannot deliver locally`) };
  }
  if (env.mdaTarget) return targetPlan(env, env.mdaTarget, action, ctx);
  const name = action.user ?? env.mdaUser;
  if (name === undefined || name === '') return { ok: false, method: kind, outcome: permfail('550 5.1.1 no local user for this recipient') };
  // The action's `user` is a system account: the userbase does not apply to it (REFERENCE 1.5).
  const u = await lookupUser(name, action.user !== undefined ? null : action.userbase ?? null, ctx);
  if (!u.ok) return { ok: false, user: name, method: kind, outcome: u.outcome };
  switch (m.kind) {
    case 'maildir':
      return maildirPlan(env, u.user, m, ctx);
    case 'mbox':
      return mboxPlan(env, u.user, ctx);
    case 'mda':
      return commandPlan(env, u.user, action, m, ctx);
    case 'lmtp':
      return lmtpPlan(env, u.user, m, ctx);
  }
}
