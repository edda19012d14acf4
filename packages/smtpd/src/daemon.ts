// The parent's life: load and check the configuration, refuse what is not built, spawn
// and wire the actors, then wait for a signal (stop in order, exit 0) or an actor's death
// (log why, exit non-zero: fail fast, as OpenSMTPD does).
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadConfig, type SmtpdConfig } from '@tsmtpd/config';
import { LogWriter, Supervisor, createLogger, type ActorSpec, type LogFormat, type Logger } from '@tsmtpd/actor';
import { ROLES, DEFAULT_SETTINGS, type ActorInit, type Settings } from '@tsmtpd/proto';
import { TOPOLOGY, START_ORDER, STOP_ORDER } from './topology.js';
import { WORKER_URLS } from './actors.js';
import { unimplementedFeatures } from './features.js';
import { fillQueueKey } from './queue-key.js';
import { prepareOfflineDir, startOfflineReplay } from './offline.js';
import { readListenerTlsMaterial } from './tls-material.js';

export interface DaemonOptions {
  configFile: string;
  macros: Record<string, string>;
  spool: string;
  verbose: boolean;
  settings: Partial<Settings>;
  /** Also read the pre-6.4 grammar (translated to the modern one). */
  legacy?: boolean;
  /** `text` (OpenSMTPD's lines) or `json` (one object a line, for log shippers). */
  logFormat?: LogFormat;
  /** Called once every actor has started (tests, benchmarks). */
  onReady?: (sup: Supervisor) => void;
}

/**
 * Load and check a configuration; on failure the errors are already printed. `readsStdinKey`:
 * a daemon start, which will read a `queue encryption stdin` key (`-n` checks the word instead).
 */
export async function checkConfig(file: string, macros: Record<string, string>, log: (line: string) => void, legacy = false, readsStdinKey = false): Promise<SmtpdConfig | null> {
  const r = await loadConfig(file, { macros, legacy, readsStdinKey });
  if (!r.ok) {
    for (const e of r.errors) log(e);
    return null;
  }
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
  const errLine = (line: string) => process.stderr.write(line + '\n');
  const loaded = await checkConfig(opts.configFile, opts.macros, errLine, opts.legacy === true, true);
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
  if (!tls.ok) {
    for (const e of tls.errors) errLine(e);
    return 1;
  }
  const offlineProblem = await prepareOfflineDir(spool).catch((e: unknown) => (e as Error).message);
  if (offlineProblem !== null) log.warn('offline queue unavailable', { reason: offlineProblem });
  const init: ActorInit<SmtpdConfig> = { config, spool, settings: { ...DEFAULT_SETTINGS, ...opts.settings, metrics: config.metrics !== undefined } };
  const sup = new Supervisor({ log, verbose: opts.verbose, onLog: (b) => writer.add(b), logFormat: opts.logFormat ?? 'text' });
  // Only the smtp actor gets the listeners' keys.
  const specs: ActorSpec[] = ROLES.map((role) => ({ role, entry: WORKER_URLS[role], init: role === 'smtp' ? { ...init, tls: tls.material } : init }));
  // Messages left by sendmail while we were down go in once we accept mail (REFERENCE 3).
  // SMTPD_OFFLINE_INTERVAL=seconds: how often offline/ is looked at again (default 60; tests).
  const every = Number(process.env['SMTPD_OFFLINE_INTERVAL']);
  const intervalMs = Number.isInteger(every) && every >= 1 && every <= 3600 ? every * 1000 : 60_000;
  const replayOpts = { spool, log, ...(config.smtp.maxMessageSize > 0 ? { maxBytes: config.smtp.maxMessageSize + 65_537 } : {}) };
  const replay = offlineProblem === null ? () => void startOfflineReplay(replayOpts, intervalMs) : () => undefined;
  return supervise(sup, specs, log, { ...opts, onReady: (s) => { replay(); opts.onReady?.(s); } });
}

async function supervise(sup: Supervisor, specs: ActorSpec[], log: Logger, opts: DaemonOptions): Promise<number> {
  let signalled: (name: string) => void = () => {};
  const signal = new Promise<string>((r) => (signalled = r));
  const onSignal = (name: NodeJS.Signals) => signalled(name);
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
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
    log.flush();
  }
}
