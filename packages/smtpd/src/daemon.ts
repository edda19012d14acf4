// The parent's life: load and check the configuration, refuse what is not built, spawn
// and wire the actors, then wait for a signal (stop in order, exit 0) or an actor's death
// (log why, exit non-zero: fail fast, as OpenSMTPD does).
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { legacyWarning, loadConfig, SmtpdConfigSchema, type LegacyRead, type SmtpdConfig } from '@tsmtpd/config';
import { LogWriter, Supervisor, createLogger, type ActorSpec, type LogFormat, type Logger } from '@tsmtpd/actor';
import { ROLES, DEFAULT_SETTINGS, type ActorInit, type ReloadOutcome, type Settings, type TlsMaterial } from '@tsmtpd/proto';
import { TOPOLOGY, START_ORDER, STOP_ORDER } from './topology.js';
import { WORKER_URLS, workerLimits } from './actors.js';
import { unimplementedFeatures } from './features.js';
import { fillQueueKey } from './queue-key.js';
import { prepareOfflineDir, startOfflineReplay } from './offline.js';
import { addRelayTlsMaterial, readListenerTlsMaterial } from './tls-material.js';
import { lookupAccount } from './privsep/accounts.js';
import { PrivChannel, type PrivReload } from './privsep/actor-process.js';
import { chownSpool, runPrivileged, unreachableParent, type PrivilegedOptions } from './privsep/privileged.js';
import { adoptForListeners, inheritedListeners } from './socket-activation.js';
import { sdNotify, type SdNotify } from './sd-notify.js';
import { setCloexec } from '@tsmtpd/peercred';
import { checkReload, type ReloadSource } from './reload/check.js';
import { applyReload, ConfigHolder, logRefused, NOT_READY } from './reload/apply.js';

export interface DaemonOptions {
  configFile: string;
  macros: Record<string, string>;
  spool: string;
  verbose: boolean;
  settings: Partial<Settings>;
  /**
   * `--old-grammar`: translate the pre-6.4 grammar wherever it is (without it, only a file set in
   * that grammar alone is translated; either way the log then shows the modern form).
   */
  legacy?: boolean;
  /** `text` (OpenSMTPD's lines) or `json` (one object a line, for log shippers). */
  logFormat?: LogFormat;
  /** Called once every actor has started (tests, benchmarks). */
  onReady?: (sup: Supervisor) => void;
  /** Started as root: the unprivileged user the actor process runs as (default _smtpd). */
  user?: string;
  /** argv after the script (passed on to the actor process), when started from the CLI. */
  argv?: string[];
  /** This process is the actor process started by the privileged one. */
  privsepChild?: boolean;
}

/** The unprivileged user of a daemon started as root (README: the install step creates it). */
export const DEFAULT_USER = '_smtpd';

/**
 * Load and check a configuration; on failure the errors are already printed. `readsStdinKey`:
 * a daemon start, which will read a `queue encryption stdin` key (`-n` checks the word instead).
 * `onLegacy`: told when the pre-6.4 grammar was read (default: its warning on `log`).
 */
export async function checkConfig(file: string, macros: Record<string, string>, log: (line: string) => void, legacy = false, readsStdinKey = false,
  onLegacy: (read: LegacyRead) => void = (read) => legacyWarning(read).forEach(log)): Promise<SmtpdConfig | null> {
  const r = await loadConfig(file, { macros, legacy, readsStdinKey });
  if (!r.ok) {
    for (const e of r.errors) log(e);
    return null;
  }
  if (r.legacyRead) onLegacy(r.legacyRead);
  return r.config;
}

export async function runDaemon(opts: DaemonOptions): Promise<number> {
  // One writer for every thread's lines: in the order they happened, stamped unless journald does it.
  const writer = new LogWriter({ format: opts.logFormat ?? 'text' });
  const log = createLogger('smtpd', { verbose: opts.verbose, format: opts.logFormat ?? 'text', records: (b) => writer.add(b), flushMs: 0 });
  try {
    return await startDaemon(opts, log, writer);
  } finally {
    writer.flush();
  }
}

async function startDaemon(opts: DaemonOptions, log: Logger, writer: LogWriter): Promise<number> {
  if (opts.privsepChild) return runActorProcess(opts, log, writer);
  // systemd's sockets, if any: LISTEN_* read and removed before anything can start a child.
  const inherited = inheritedListeners();
  const notify = sdNotify();
  const errLine = (line: string) => process.stderr.write(line + '\n');
  // Our one departure from OpenSMTPD 6.8 (DESIGN 6): a pre-6.4 file is read; the log says so at start.
  const loaded = await checkConfig(opts.configFile, opts.macros, errLine, opts.legacy === true, true,
    (read) => { for (const l of legacyWarning(read)) if (l !== '') log.warn(l); });
  if (!loaded) return 1;
  const missing = unimplementedFeatures(loaded);
  if (missing.length > 0) {
    for (const m of missing) errLine(m);
    errLine('smtpd: refusing to start: the configuration uses features that are not implemented yet');
    return 1;
  }
  // The queue key from stdin or the terminal, before any actor runs (as OpenSMTPD's parent).
  const keyed = await fillQueueKey(loaded);
  if (!keyed.ok) {
    errLine(`smtpd: ${keyed.error}`);
    return 1;
  }
  const config = keyed.config;
  const spool = resolve(opts.spool);
  try {
    mkdirSync(spool, { recursive: true, mode: 0o711 });
  } catch (e) {
    errLine(`smtpd: cannot create spool ${spool}: ${(e as Error).message}`);
    return 1;
  }
  const tls = readListenerTlsMaterial(config);
  const relayErrors = tls.ok ? addRelayTlsMaterial(config, tls.material) : [];
  if (!tls.ok || relayErrors.length > 0) {
    for (const e of tls.ok ? relayErrors : tls.errors) errLine(e);
    return 1;
  }
  const offlineProblem = await prepareOfflineDir(spool).catch((e: unknown) => (e as Error).message);
  if (offlineProblem !== null) log.warn('offline queue unavailable', { reason: offlineProblem });
  // Messages left by sendmail while we were down go in once we accept mail (REFERENCE 3).
  // SMTPD_OFFLINE_INTERVAL=seconds: how often offline/ is looked at again (default 60; tests).
  const every = Number(process.env['SMTPD_OFFLINE_INTERVAL']);
  const intervalMs = Number.isInteger(every) && every >= 1 && every <= 3600 ? every * 1000 : 60_000;
  const replayOpts = { spool, log, ...(config.smtp.maxMessageSize > 0 ? { maxBytes: config.smtp.maxMessageSize + 65_537 } : {}) };
  const replay = offlineProblem === null ? () => void startOfflineReplay(replayOpts, intervalMs) : () => undefined;
  const settings = { ...DEFAULT_SETTINGS, ...opts.settings, metrics: config.metrics !== undefined };
  const user = opts.user ?? DEFAULT_USER;
  const started = (): void => {
    replay();
    notify.ready('accepting mail', log);
  };
  if (notify.enabled) tellStopping(notify, log);
  // Started as root: the offline replay (sendmail as each file's owner) is the privileged side's.
  // The TLS keys above were read here, as root: with privilege separation they travel to the
  // actor process in its start-up data (it opens no key file).
  const source: ReloadSource = { configFile: opts.configFile, macros: opts.macros, legacy: opts.legacy === true, onLegacy: (l) => log.warn(l) };
  if (process.getuid?.() === 0 && user !== 'root') return startPrivileged({ config, spool, settings, user, argv: opts.argv ?? [], log, onActorsReady: started, tls: tls.material, reload: (current: SmtpdConfig) => checkReload(current, source) }, errLine);
  const listenFds = adoptForListeners(config, inherited);
  inherited.finish(log);
  const init: ActorInit<SmtpdConfig> = { config, spool, settings: listenFds.length > 0 ? { ...settings, listenFds } : settings };
  // One process: SIGHUP and `smtpctl reload` re-read the file here and apply it.
  const holder = new ConfigHolder(config);
  const reload = (): Promise<ReloadOutcome> => holder.serial(async () => {
    if (!holder.ready) return NOT_READY;
    const c = await checkReload(holder.config, source);
    if (!c.ok) {
      logRefused(c.errors, log);
      return { ok: false as const, errors: c.errors };
    }
    return applyReload(sup, holder, c.config, c.tls, [], c.warnings, log);
  });
  const sup: Supervisor = new Supervisor({ log, verbose: opts.verbose, onLog: (b) => writer.add(b), logFormat: opts.logFormat ?? 'text', onReload: reload });
  // Only the smtp actor gets the listeners' keys.
  const specs: ActorSpec[] = ROLES.map((role) => ({ role, entry: WORKER_URLS[role], resourceLimits: workerLimits(role), init: withTls(role) ? { ...init, tls: tls.material } : init }));
  return supervise(sup, specs, log, { ...opts, onReady: (s) => { holder.ready = true; started(); opts.onReady?.(s); } }, undefined, reload);
}

/** systemd hears STOPPING=1 at the first SIGTERM/SIGINT (the daemon's own handlers stop it). */
function tellStopping(notify: SdNotify, log: Logger): void {
  const once = (sig: NodeJS.Signals): void => {
    process.off('SIGTERM', once);
    process.off('SIGINT', once);
    notify.stopping(log);
    // Before the daemon's handlers are in place, the signal ends it as it would have.
    if (process.listenerCount(sig) === 0) process.exit(128 + (sig === 'SIGTERM' ? 15 : 2));
  };
  process.on('SIGTERM', once);
  process.on('SIGINT', once);
}

/** Root: give the spool to the user, bind the listeners, start the actor process as the user. */
async function startPrivileged(o: { config: SmtpdConfig; spool: string; settings: Settings; user: string; argv: string[]; log: Logger; onActorsReady: () => void; tls: TlsMaterial; reload: PrivilegedOptions['reload'] }, errLine: (s: string) => void): Promise<number> {
  const account = await lookupAccount(o.user);
  if (account === null || account.uid === 0) {
    errLine(`smtpd: the unprivileged user ${o.user} does not exist (or is root); create it: useradd --system --home-dir /var/empty --shell /usr/sbin/nologin ${o.user}`);
    return 1;
  }
  const blocked = unreachableParent(o.spool, account.uid, account.gid);
  if (blocked !== null) {
    errLine(`smtpd: the spool ${o.spool} is out of reach of ${o.user}: ${blocked} does not let it through (chmod o+x ${blocked})`);
    return 1;
  }
  try {
    chownSpool(o.spool, account.uid, account.gid);
  } catch (e) {
    errLine(`smtpd: cannot give the spool ${o.spool} to ${o.user}: ${(e as Error).message}`);
    return 1;
  }
  try {
    return await runPrivileged({ ...o, account });
  } catch (e) {
    errLine(`smtpd: ${(e as Error).message}`);
    return 1;
  } finally {
    o.log.flush();
  }
}

/** The unprivileged actor process of a root daemon: everything but the privileged operations. */
async function runActorProcess(opts: DaemonOptions, log: Logger, writer: LogWriter): Promise<number> {
  process.title = 'tsmtpd: actors';
  const channel = new PrivChannel();
  let start: Awaited<ReturnType<PrivChannel['init']>>;
  try {
    start = await channel.init();
  } catch (e) {
    process.stderr.write(`smtpd: ${(e as Error).message}\n`);
    return 1;
  }
  const config = SmtpdConfigSchema.safeParse(start.config);
  if (!config.success) {
    process.stderr.write(`smtpd: invalid configuration from the privileged process: ${config.error.message.slice(0, 300)}\n`);
    return 1;
  }
  // The listeners came as plain fds 4..: no child of ours (filter, table program) may inherit them.
  for (const l of start.listenFds) setCloexec(l.fd, true);
  const settings = { ...DEFAULT_SETTINGS, ...(start.settings as Partial<Settings>), listenFds: start.listenFds, privsep: true };
  const init: ActorInit<SmtpdConfig> = { config: config.data, spool: start.spool, settings };
  // The file is the privileged side's to read: a reload asks it (or it pushes one on SIGHUP).
  const holder = new ConfigHolder(config.data);
  const apply = (r: PrivReload): Promise<ReloadOutcome> => holder.serial(() => applyPrivReload(sup, holder, r, log));
  channel.onReload = (r) => void apply(r);
  const reload = async (): Promise<ReloadOutcome> => {
    if (!holder.ready) return NOT_READY;
    const r = await channel.reload();
    return r === null ? { ok: false, errors: ['no answer from the privileged process'] } : apply(r);
  };
  const sup = new Supervisor({ log, verbose: opts.verbose, onLog: (b) => writer.add(b), logFormat: opts.logFormat ?? 'text', privileged: channel.services(), onReload: reload });
  const specs: ActorSpec[] = ROLES.map((role) => ({ role, entry: WORKER_URLS[role], resourceLimits: workerLimits(role), init: withTls(role) ? { ...init, tls: start.tls } : init }));
  return supervise(sup, specs, log, { ...opts, onReady: (s) => { holder.ready = true; channel.ready(); opts.onReady?.(s); } }, channel.lost, reload);
}

/** The actors that get the TLS material read at start: listeners (smtp) and relays (mta). */
function withTls(role: string): boolean {
  return role === 'smtp' || role === 'mta';
}

/** A reload answered by the privileged process: refused (its errors), or the config to apply. */
async function applyPrivReload(sup: Supervisor, holder: ConfigHolder, r: PrivReload, log: Logger): Promise<ReloadOutcome> {
  if (r.errors.length > 0) return { ok: false, errors: r.errors };
  const config = SmtpdConfigSchema.safeParse(r.config);
  if (!config.success || !r.tls) return { ok: false, errors: ['invalid configuration from the privileged process'] };
  return applyReload(sup, holder, config.data, r.tls, r.listenFds, r.warnings, log);
}

async function supervise(sup: Supervisor, specs: ActorSpec[], log: Logger, opts: DaemonOptions, lost?: Promise<string>, reload?: () => Promise<ReloadOutcome>): Promise<number> {
  let signalled: (name: string) => void = () => {};
  const signal = new Promise<string>((r) => (signalled = r));
  void lost?.then((why) => signalled(why));
  const onSignal = (name: NodeJS.Signals) => signalled(name);
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // SIGHUP: reload (never the default, which would end the process); only once every actor runs.
  let running = false;
  const onHup = (): void => {
    if (running && reload) void reload();
    else log.warn('reload ignored: the daemon is still starting');
  };
  process.on('SIGHUP', onHup);
  try {
    const started = sup.startAll(specs, TOPOLOGY, START_ORDER).then(() => 'started' as const);
    const first = await Promise.race([started, sup.failed.then((r) => ({ failed: r })), signal.then((s) => ({ signal: s }))]);
    if (first !== 'started') {
      if ('failed' in first) log.warn('fatal', { reason: first.failed });
      await sup.stopAll(STOP_ORDER);
      return 'signal' in first ? 0 : 1;
    }
    const addresses = await sup.handle('smtp').mailbox.listening();
    log.info('ready', { version: '0.1.0', listening: addresses.join(',') });
    running = true;
    opts.onReady?.(sup);
    const outcome = await Promise.race([sup.failed.then((r) => ({ failed: r })), signal.then((s) => ({ signal: s }))]);
    if ('failed' in outcome) {
      log.warn('fatal', { reason: outcome.failed });
      await sup.stopAll(STOP_ORDER);
      return 1;
    }
    log.info('stopping', { signal: outcome.signal });
    await sup.stopAll(STOP_ORDER);
    log.info('exiting');
    return 0;
  } catch (e) {
    log.warn('fatal', { reason: e instanceof Error ? e.message : String(e) });
    await sup.stopAll(STOP_ORDER);
    return 1;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    process.off('SIGHUP', onHup);
    log.flush();
  }
}
