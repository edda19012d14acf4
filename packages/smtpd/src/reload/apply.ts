// Reload, the applying half (the actor process of a root daemon, else the daemon itself): push a
// checked configuration to the actors that hold configuration, in the order that keeps mail
// flowing (deliveries learn new actions before the lka routes to them; smtp, which opens and
// closes listeners, last), and write the one log line saying what changed.
import type { Logger, Supervisor } from '@tsmtpd/actor';
import type { SmtpdConfig } from '@tsmtpd/config';
import type { ListenFd, ReloadOrder, ReloadOutcome, ReloadReport, TlsMaterial } from '@tsmtpd/proto';
import { describeChange } from './check.js';

/** The roles that take a new configuration, in the order they get it. */
const RELOAD_ORDER = ['queue', 'mda', 'mta', 'lka', 'smtp'] as const;

export interface Applied {
  outcome: ReloadOutcome;
  config: SmtpdConfig;
}

/** One generation number per configuration, and one reload at a time. */
export class ConfigHolder {
  gen = 1;
  /** Every actor runs: before, a reload is refused (an actor not started cannot take one). */
  ready = false;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(public config: SmtpdConfig) {}

  /** Run `job` after any reload still running (SIGHUP twice, or with smtpctl reload). */
  serial<T>(job: () => Promise<T>): Promise<T> {
    const run = this.chain.then(job, job);
    this.chain = run.catch(() => undefined);
    return run;
  }
}

/**
 * Give `config` to every actor; log one line with what changed (and the warnings). An actor that
 * refuses it is named in the outcome: the others already run the new configuration.
 */
export async function applyReload(sup: Supervisor, holder: ConfigHolder, config: SmtpdConfig, tls: TlsMaterial, listenFds: ListenFd[], warnings: string[], log: Logger): Promise<ReloadOutcome> {
  const gen = holder.gen + 1;
  const order: ReloadOrder = { gen, config, tls, ...(listenFds.length > 0 ? { listenFds } : {}) };
  const change = describeChange(holder.config, config);
  const failures: string[] = [];
  const notes: string[] = [];
  for (const role of RELOAD_ORDER) {
    let r: ReloadReport;
    try {
      r = await (sup.handle(role).mailbox as unknown as { reload(o: unknown): Promise<ReloadReport> }).reload(order);
    } catch (e) {
      r = { ok: false, error: e instanceof Error ? e.message : String(e) };
    }
    if (r.ok) notes.push(...r.notes);
    else failures.push(`${role}: ${r.error}`);
  }
  holder.gen = gen;
  holder.config = config;
  for (const w of warnings) log.warn('reload: kept the running value', { reason: w });
  const fields = { generation: gen, ...change, ...(notes.length > 0 ? { notes: notes.join('; ') } : {}) };
  if (failures.length > 0) {
    log.warn('reload incomplete', { ...fields, errors: failures.join('; ') });
    return { ok: false, errors: failures };
  }
  log.info('reloaded', fields);
  const summary = Object.entries(fields).map(([k, v]) => `${k}=${v}`).join(' ');
  return { ok: true, summary: warnings.length > 0 ? `${summary} (${warnings.join('; ')})` : summary };
}

/** The answer to a reload asked before every actor runs. */
export const NOT_READY: ReloadOutcome = { ok: false, errors: ['the daemon is still starting: reload refused'] };

/** Log a refused reload: each error as the loader wrote it (`file:line: ...`). */
export function logRefused(errors: string[], log: Logger): void {
  for (const e of errors) log.warn('reload refused', { error: e });
  log.warn('reload refused: the running configuration stays', { errors: errors.length });
}
